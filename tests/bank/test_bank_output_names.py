"""Saving a bank never replaces a file that is no bank: ``-o ckpt/model.safetensors`` wrote the bank over the
checkpoint's weights, exit 0, and the checkpoint was gone for good. A bank named like an image was written, then read
as a broken image from a style folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import write_images
from stylizing_vit_aug import cli


def test_saving_a_bank_over_a_checkpoints_weights_is_refused_and_the_checkpoint_kept(saved, bank):
    checkpoint, _ = saved
    weights = Path(checkpoint) / "model.safetensors"
    before = weights.read_bytes()
    with pytest.raises(FileExistsError, match="checkpoint's weights file .* would replace it for good"):
        bank.save(weights)
    assert weights.read_bytes() == before
    sva.load_stylizer(checkpoint, device="cpu")


def test_saving_over_other_tensors_is_refused_and_over_an_earlier_bank_or_a_damaged_file_works(tmp_path, bank):
    other = tmp_path / "embeddings.safetensors"
    save_file({"table": torch.zeros(3, 4)}, str(other))
    with pytest.raises(FileExistsError, match="is no style bank"):
        bank.save(other)
    earlier = bank.save(tmp_path / "bank.safetensors")
    sva.StyleBank.load(bank.save(earlier), bank.stylizer)  # an earlier bank is replaced
    damaged = tmp_path / "cut.safetensors"
    damaged.write_bytes(earlier.read_bytes()[: earlier.stat().st_size // 2])  # a bank cut short: its header says so
    assert len(sva.StyleBank.load(bank.save(damaged), bank.stylizer)) == len(bank)
    empty = tmp_path / "empty.safetensors"
    empty.touch()
    assert len(sva.StyleBank.load(bank.save(empty), bank.stylizer)) == len(bank)


@pytest.mark.parametrize("content", ["a pickle", "other bytes", "unknown dtypes"])
def test_a_file_that_cannot_be_read_as_a_bank_is_not_replaced(tmp_path, bank, content):
    """Any file the header reader could not parse was taken for a damaged bank and replaced: a torch.save checkpoint
    named .safetensors, safetensors of dtypes or ranks this library does not read."""
    path = tmp_path / "model.safetensors"
    if content == "a pickle":
        torch.save({"weight": torch.zeros(2)}, path)
    elif content == "other bytes":
        path.write_bytes(b"not a bank" * 100)
    else:
        save_file({"nine": torch.zeros([1] * 9)}, str(path))
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="would replace it for good"):
        bank.save(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["bank.jpg", "bank.PNG", "bank.tiff", "bank.pt"])
def test_a_bank_named_like_an_image_or_a_pickle_is_refused(tmp_path, bank, name):
    with pytest.raises(ValueError, match="name it .*bank.safetensors"):
        bank.save(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_bank_build_refuses_a_checkpoints_weights_as_output_before_the_build(saved, tmp_path, capsys):
    checkpoint, _ = saved
    weights = Path(checkpoint) / "model.safetensors"
    before = weights.read_bytes()
    write_images(tmp_path / "styles", 2)
    code = cli.main(["bank", "build", str(tmp_path / "styles"), "-o", str(weights), "--checkpoint", checkpoint,
                     "--device", "cpu"])
    assert code == 2
    assert "checkpoint's weights file" in capsys.readouterr().err
    assert weights.read_bytes() == before


def test_a_checkpoint_folder_given_as_a_bank_is_named_a_checkpoint_not_its_weights_as_the_bank(saved, small_stylizer):
    """It said "pass its path, e.g. ckpt/model.safetensors": the next error said that file is no bank."""
    checkpoint, _ = saved
    with pytest.raises(IsADirectoryError, match="is a checkpoint folder: pass it as --checkpoint") as refused:
        sva.StyleBank.load(checkpoint, small_stylizer)
    assert "model.safetensors" not in str(refused.value).split("checkpoint folder")[0]


def test_a_folder_named_model_safetensors_in_a_checkpoint_is_said_to_be_one(saved):
    """It said "is a directory; pass it to load_stylizer()", which the user had done: the advice went round."""
    checkpoint = Path(saved[0])
    weights = checkpoint / "model.safetensors"
    weights.unlink()
    weights.mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder, not the weights file its name says"):
        sva.load_stylizer(str(checkpoint), device="cpu")


def test_a_pipe_is_refused_without_being_opened_and_an_unreadable_file_says_why(tmp_path, bank, monkeypatch):
    """Opening a named pipe to read it waited for a writer, for good; a file that could not be opened was called
    "a file that cannot be read as a style bank", its permission error unsaid."""
    import os
    import threading

    pipe = tmp_path / "pipe.safetensors"
    os.mkfifo(pipe)
    raised: list[BaseException] = []

    def save() -> None:
        try:
            bank.save(pipe)
        except BaseException as error:  # noqa: BLE001 - looked at below
            raised.append(error)

    saving = threading.Thread(target=save, daemon=True)  # a save that opens the pipe waits for good
    saving.start()
    saving.join(30)
    assert not saving.is_alive() and len(raised) == 1 and isinstance(raised[0], FileExistsError)
    assert "is a named pipe" in str(raised[0])
    other = tmp_path / "locked.safetensors"
    other.write_bytes(b"x" * 100)

    def denied(path, *args, **kwargs):  # root reads any file: the user's refusal, as the kernel gives it
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("stylizing_vit_aug.bank.storage.read_header", denied)
    with pytest.raises(FileExistsError, match=r"a file that cannot be read \(Permission denied\)"):
        bank.save(other)


def test_a_damaged_bank_of_many_styles_is_still_replaced(tmp_path, small_stylizer, histology_crops):
    """The format was looked for in the first 64 KiB: a bank's header holds its sources first, over 64 KiB for a
    few thousand styles, so a damaged large bank was refused as another file."""
    crops = [histology_crops[i % len(histology_crops)] for i in range(1200)]
    labels = [f"scanner-{i:04d}-of-a-lab-with-a-long-name-as-sites-have" for i in range(len(crops))]
    big = sva.StyleBank.from_images(crops, small_stylizer, domains=labels, encode=False)
    data = big.save(tmp_path / "big.safetensors", streams=False).read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    metadata = header.pop("__metadata__")
    metadata = {**{k: v for k, v in metadata.items() if k != "format"}, "format": metadata["format"]}  # format last
    text = json.dumps({"__metadata__": metadata, **header}).encode()
    assert text.find(b"stylizing-vit-aug.stylebank") > 1 << 16  # past the old window (safetensors' order varies)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length : 8 + length + 10])  # pixels cut
    big.save(damaged, streams=False)
    assert len(sva.StyleBank.load(damaged, small_stylizer)) == len(crops)
