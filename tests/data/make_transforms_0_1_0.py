"""Writes ``transforms_0_1_0.pkl``: front-ends and a bank pickled by the released stylizing-vit-aug 0.1.0.

The test (``tests/transforms/test_pickled_by_0_1_0.py``) unpickles them with the current code, as a
saved pipeline or a DataLoader worker's copy made with 0.1.0 would be. Run with 0.1.0's source on the
path, nothing installed from the network::

    mkdir -p /tmp/sva010 && git archive 3adaecb src | tar -x -C /tmp/sva010
    PYTHONPATH=/tmp/sva010/src python tests/data/make_transforms_0_1_0.py tests/data/transforms_0_1_0.pkl

A dict of the pickles (bytes) of a ``StylizeTransform`` and a ``RandStylize`` of the bundled default (a
source string: no weights in the pickle) and a ``BatchStylize`` of a tiny random model (16 px, one
block), each with non-default settings that the refusal names, and a ``StyleBank`` of three random styles of
that model (unpickled anew from its images, stylizer and domains).
"""

from __future__ import annotations

import pickle
import sys

import torch
from tiny_0_1_0 import tiny_stylizer  # (this folder: the script's own)

import stylizing_vit_aug as sva

if __name__ == "__main__":
    stylizer = tiny_stylizer()
    transforms = {
        "StylizeTransform": sva.StylizeTransform("default", p=0.7, strength=(0.5, 1.0)),
        "RandStylize": sva.RandStylize("default", prob=0.7, strength=(0.5, 1.0)),
        "BatchStylize": sva.BatchStylize(stylizer, p=0.7, strength=(0.5, 1.0)),
        "StyleBank": sva.StyleBank.from_images(
            torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)), stylizer, domains=["a", "a", "b"]
        ),
    }
    with open(sys.argv[1], "wb") as handle:
        pickle.dump({name: pickle.dumps(transform) for name, transform in transforms.items()}, handle)
