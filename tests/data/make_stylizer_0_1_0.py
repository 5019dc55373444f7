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

import stylizing_vit_aug as sva

if __name__ == "__main__":
    if sva.__version__ != "0.1.0":
        raise SystemExit(f"run with stylizing-vit-aug 0.1.0 on the path, not {sva.__version__}")
    torch.manual_seed(0)
    model = sva.StylizingViT(img_size=16, patch_size=4, in_chans=3, embed_dim=24, depth=1, num_heads=2)
    mean, std = (0.7440, 0.5895, 0.7214), (0.1787, 0.2131, 0.1721)
    stylizer = sva.Stylizer(model, mean, std, device="cpu", dtype=torch.float32, mode="detail", chunk_size=2)
    generator = torch.Generator().manual_seed(0)
    images, style = torch.rand(3, 3, 16, 16, generator=generator), torch.rand(1, 3, 16, 16, generator=generator)
    with open(sys.argv[1], "wb") as file:
        pickle.dump({"stylizer": stylizer, "images": images, "style": style, "stylized": stylizer(images, style)}, file)
