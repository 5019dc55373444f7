"""Writes ``stylizer_0_1_0.pkl``: a Stylizer pickled by the released stylizing-vit-aug 0.1.0.

The test (``tests/test_stylizer_api.py``) unpickles it with the current code, as a transform saved
with 0.1.0 would be. Run with 0.1.0's source on the path, nothing installed from the network::

    mkdir -p /tmp/sva010 && git archive 3adaecb src | tar -x -C /tmp/sva010
    PYTHONPATH=/tmp/sva010/src python tests/data/make_stylizer_0_1_0.py tests/data/stylizer_0_1_0.pkl

A tiny random model (16 px, one block: about 90 KB), a non-default mode and chunk size so that the
test sees them carried over, and 0.1.0's own output for three model-size images.
"""

from __future__ import annotations

import pickle
import sys

import torch
from tiny_0_1_0 import tiny_stylizer  # (this folder: the script's own)

if __name__ == "__main__":
    stylizer = tiny_stylizer(mode="detail", chunk_size=2)
    generator = torch.Generator().manual_seed(0)
    images, style = torch.rand(3, 3, 16, 16, generator=generator), torch.rand(1, 3, 16, 16, generator=generator)
    with open(sys.argv[1], "wb") as file:
        pickle.dump({"stylizer": stylizer, "images": images, "style": style, "stylized": stylizer(images, style)}, file)
