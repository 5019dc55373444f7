"""Writes ``bank_5e94fd1.pkl``: a StyleBank pickled by the development version at commit ``5e94fd1``,
whose caches made from the images were plain tuples (the images' state second in the colour
profiles', first in the others').

The test (``tests/bank/test_bank_pickling.py``) unpickles it with the current code, as a saved
transform holding a bank (or a worker's copy) would be. Run with that commit's source on the path,
nothing installed from the network::

    mkdir -p /tmp/sva5e94 && git archive 5e94fd1 src | tar -x -C /tmp/sva5e94
    PYTHONPATH=/tmp/sva5e94/src python tests/data/make_bank_5e94fd1.py tests/data/bank_5e94fd1.pkl

A tiny random model (16 px, one block), three styles in chunks of two, every cache filled, beside
what that version gave for them (streams with colour profiles, colour statistics, images digest).
"""

from __future__ import annotations

import pickle
import sys

import torch

import stylizing_vit_aug as sva

if __name__ == "__main__":
    torch.manual_seed(0)
    model = sva.StylizingViT(img_size=16, patch_size=4, in_chans=3, embed_dim=24, depth=1, num_heads=2)
    mean, std = (0.7440, 0.5895, 0.7214), (0.1787, 0.2131, 0.1721)
    stylizer = sva.Stylizer(model, mean, std, device="cpu", dtype=torch.float32, colour_match=True)
    images = torch.randint(0, 256, (3, 3, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    bank = sva.StyleBank(images, stylizer, domains=["a", "a", "b"], chunk_size=2)
    stream = bank.stream(torch.arange(3))
    made = {"layers": stream.layers, "colours": stream.colours, "stats": bank.color_stats()}
    with open(sys.argv[1], "wb") as file:
        pickle.dump({"bank": bank, **made, "digest": bank.images_digest}, file)
