"""A front-end given a bank file another stylizer encoded says what its user can do from there: every
front-end refuses it with advice that names no argument it lacks (``on_mismatch`` is
``StyleBank.load``'s), and each way out the message gives works as written."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from helpers import make_small_stylizer
from stylizing_vit_aug.bank import BankMismatch, StyleBank

pytest.importorskip("albumentations")
pytest.importorskip("monai")
pytest.importorskip("kornia")

FRONT_ENDS = {  # each front-end's first call on one image, with the stylizer and bank given as files
    "StylizeTransform": lambda s, b: sva.StylizeTransform(stylizer=s, bank=b, p=1.0)(
        torch.zeros(3, 32, 32, dtype=torch.uint8) + 90
    ),
    "AlbumentationsStylize": lambda s, b: sva.AlbumentationsStylize(stylizer=s, bank=b, p=1.0)(
        image=np.full((32, 32, 3), 90, np.uint8)
    ),
    "RandStylize": lambda s, b: sva.RandStylize(stylizer=s, bank=b, prob=1.0)(torch.zeros(3, 32, 32) + 0.4),
    "kornia.RandomStylize": lambda s, b: sva.kornia.RandomStylize(stylizer=s, bank=b, p=1.0)(
        torch.zeros(1, 3, 32, 32) + 0.4
    ),
    "BatchStylize": lambda s, b: sva.BatchStylize(stylizer=s, bank=b, p=1.0)(torch.zeros(2, 3, 32, 32) + 0.4),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A fine-tuned stylizer's folder, and a bank file that the stylizer it started from encoded (saved too, so
    the file records a source that loads)."""
    root = tmp_path_factory.mktemp("mismatch")
    start = make_small_stylizer()
    start.save_pretrained(root / "start")
    start = sva.load_stylizer(str(root / "start"), device="cpu", dtype=torch.float32)
    styles = (torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)
    StyleBank.from_images(styles, start).save(root / "bank.safetensors")
    tuned = make_small_stylizer()
    with torch.no_grad():
        next(tuned.model.parameters()).add_(0.01)  # fine-tuned: other weights, same architecture
    tuned.save_pretrained(root / "final")
    return {"stylizer": str(root / "final"), "bank": str(root / "bank.safetensors"), "start": str(root / "start")}


def _refusal(front_end: str, files: dict) -> str:
    with pytest.raises(BankMismatch) as info:
        FRONT_ENDS[front_end](files["stylizer"], files["bank"])
    return str(info.value)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_every_front_end_gives_advice_its_user_can_follow(front_end, files):
    message = _refusal(front_end, files)
    assert "Load it with" not in message  # StyleBank.load's advice: a transform has no on_mismatch=
    assert f"sva.StyleBank.load({files['bank']!r}, sva.load_stylizer({files['stylizer']!r}), " in message
    assert f"the one the file records ({files['start']!r})" in message


def test_the_reencoded_file_the_advice_writes_is_taken(files, tmp_path):
    message = _refusal("StylizeTransform", files)
    code = re.search(r"(sva\.StyleBank\.load\(.*?\)\.save\((.*?)\))", message)
    exec(code.group(1), {"sva": sva})  # as a reader pastes it
    new_bank = eval(code.group(2))  # the path it saved to, as the message names it
    assert f"pass bank={new_bank!r}" in message
    for call in FRONT_ENDS.values():
        assert call(files["stylizer"], new_bank) is not None


def test_leaving_out_the_stylizer_takes_the_files_own(files):
    for call in FRONT_ENDS.values():
        assert call(None, files["bank"]) is not None


def test_style_bank_load_keeps_its_own_advice(files):
    with pytest.raises(BankMismatch, match=r"StyleBank\.load\(path, stylizer, on_mismatch='reencode'\)"):
        StyleBank.load(files["bank"], sva.load_stylizer(files["stylizer"]), on_mismatch="error")
