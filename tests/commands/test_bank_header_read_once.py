"""A bank file's header is read once per process and state of the file: one ``stylizing-vit-aug stylize --bank F``
run read it four times (its style count, the stylizer it records, the settings warning, the load), and each
transform given ``bank=F`` (each DataLoader worker's copy) read it again. The load's own opening, which reads the
tensors, is the one other read. A file saved again is read again. ``stylize --bank F`` whose file records no
loadable stylizer says to pass ``--checkpoint``, in the command line's words, not a transform's ``stylizer=``."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import pytest
import safetensors
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model, read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.bank import storage

BANK = "bank.safetensors"


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """How often the bank file's header is read: by our header reader, and by safetensors' ``safe_open``."""
    counts: Counter = Counter()
    real_header, real_open = storage.read_header, safetensors.safe_open

    def read_header(path, *args, **kwargs):
        counts["header"] += Path(path).name == BANK
        return real_header(path, *args, **kwargs)

    def safe_open(path, *args, **kwargs):
        counts["safe_open"] += Path(path).name == BANK
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(storage, "read_header", read_header)
    monkeypatch.setattr(safetensors, "safe_open", safe_open)
    return counts


def _bank(tmp_path, histology_crops, source: str | None) -> Path:
    made = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", source=source)
    return sva.StyleBank.from_images(histology_crops[:2], made).save(tmp_path / BANK)


def test_one_stylize_run_reads_the_banks_header_once(tmp_path, checkpoint, histology_crops, reads):
    bank = sva.StyleBank.from_images(histology_crops[:2], sva.load_stylizer(checkpoint)).save(tmp_path / BANK)
    storage._INFOS.clear()  # as in a new process
    write_images(tmp_path / "in", 2, size=(40, 40))
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bank", str(bank), "--device", "cpu"]
    assert cli.main(argv) == 0
    assert reads == {"header": 1, "safe_open": 1}


def test_transforms_of_one_bank_file_read_its_header_once_per_state(tmp_path, checkpoint, histology_crops, reads):
    bank = sva.StyleBank.from_images(histology_crops[:2], sva.load_stylizer(checkpoint))
    path = str(bank.save(tmp_path / BANK))
    storage._INFOS.clear()  # as in a new process
    transform = sva.StylizeTransform(bank=path, p=1.0)
    transform(torch.rand(3, 32, 32))
    copy = pickle.loads(pickle.dumps(transform))  # what a spawned DataLoader worker gets (a forked one: the same)
    copy(torch.rand(3, 32, 32))
    assert reads["header"] == 1
    bank.save(path)  # saved again: a new file (the save reads the header of the file it replaces: a bank's)
    assert reads["header"] == 2
    sva.StylizeTransform(bank=path, p=1.0)
    assert reads["header"] == 3


def test_stylize_with_a_bank_recording_no_loadable_stylizer_says_to_pass_checkpoint(tmp_path, histology_crops, capsys):
    bank = _bank(tmp_path, histology_crops, str(tmp_path / "gone"))
    write_images(tmp_path / "in", 1, size=(40, 40))
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bank", str(bank), "--device", "cpu"]
    cli.main(argv)
    said = [line for line in capsys.readouterr().err.splitlines() if "records no stylizer that can be loaded" in line]
    assert said and all("pass --checkpoint (the checkpoint that built the bank)" in line for line in said)
    assert not any("stylizer=" in line for line in said)


def test_a_bank_whose_stylizer_is_gone_gets_the_default_with_its_own_statistics(tmp_path, histology_crops, capsys):
    """The bundled default took the missing checkpoint's mean/std, so it stylised otherwise than the default does,
    exit 0, and a warning read as if the user had asked for those statistics."""
    from stylizing_vit_aug.transforms._recorded import recorded_stylizer

    made = sva.Stylizer(make_small_model(), [0.5] * 3, [0.2] * 3, device="cpu", source=str(tmp_path / "gone"),
                        mode="detail")
    bank = sva.StyleBank.from_images(histology_crops[:1], made).save(tmp_path / BANK)
    source, revision, options = recorded_stylizer(str(bank))
    assert (source, revision) == (None, None) and options["mode"] == "detail"
    assert "mean" not in options and "std" not in options
    default = sva.load_stylizer()
    write_images(tmp_path / "in", 1, size=(40, 40))
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bank", str(bank), "--device", "cpu"]
    assert cli.main(argv) == 0
    assert "replace the statistics" not in capsys.readouterr().err
    (row,) = read_stylize_log(tmp_path / "out" / "stylize_log.csv")
    assert [float(v) for v in row["mean"].split()] == pytest.approx(default.mean.tolist())


def test_an_answer_edited_by_its_caller_changes_no_later_reader(tmp_path, histology_crops):
    """The header is read once per file state, but each caller gets its own copy: docs/style-banks.md shows
    ``read_bank_info(path)["settings"]``, and editing that answer changed what a later StylizeTransform(bank=path)
    loaded (background "dark" for a file that records "keep")."""
    from stylizing_vit_aug.bank.storage import read_bank_info

    stylizer = sva.load_stylizer("default")
    path = sva.StyleBank.from_images(histology_crops[:1], stylizer).save(tmp_path / "bank.safetensors")
    first = read_bank_info(path)
    first["settings"]["background"] = "dark"
    first["mean"][0] = 0.0
    again = read_bank_info(path)
    assert again["settings"]["background"] == "keep" and again["mean"][0] != 0.0
    assert sva.StylizeTransform(bank=str(path)).stylizer.background == "keep"
