"""A bank hands out the styles it was made of and says what it holds (a hostile probe): an in-memory bank gave a
``background="dark"`` stylizer streams encoded under ``"keep"`` (up to 98.7 levels apart from the file's path); a
weight write that bumps no version counter after encoding was saved as a file claiming the new weights with the
old streams; a number written into ``bank.domains`` broke ``repr`` and the warn-once rule; ``read_bank_info`` of a
str path crashed; a future format loaded without a word; ``bank info`` said a named pipe was exit 1 and showed a
non-square file square; a build with hundreds of bad files ended on a line repeating every reason."""

from __future__ import annotations

import logging
import os
import re
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.bank import BankFileError, BankMismatch
from stylizing_vit_aug.bank.storage import read_bank_info


def _vignetted(stylizer: sva.Stylizer) -> torch.Tensor:
    """Two styles with a black border (a dermoscope's vignette), which ``"dark"`` hides from the network."""
    torch.manual_seed(3)
    size = stylizer.img_size
    styles = (torch.rand(2, 3, size, size) * 120 + 100).to(torch.uint8)
    styles[:, :, : size // 4] = 0
    return styles


def test_a_dark_stylizer_is_refused_a_bank_encoded_under_keep_and_takes_one_encoded_for_it(checkpoint, tmp_path):
    keep = sva.load_stylizer(checkpoint, device="cpu")
    dark = sva.load_stylizer(checkpoint, device="cpu", background="dark")
    bank = sva.StyleBank(_vignetted(keep), keep)
    with pytest.raises(BankMismatch, match=r"background='keep'.*background='dark'.*sva\.StyleBank\(bank\.images"):
        sva.BatchStylize(dark, bank, p=1.0)
    with pytest.raises(BankMismatch, match="background='dark'"):
        bank.stream([0], stylizer=dark)
    own = sva.StyleBank(bank.images, dark)  # the advice
    from_file = sva.StyleBank.load(bank.save(tmp_path / "bank.safetensors"), dark)  # encoded again for "dark"
    assert torch.equal(own.stream([0, 1]).layers, from_file.stream([0, 1]).layers)
    assert not torch.equal(own.stream([0, 1]).layers, bank.stream([0, 1]).layers)  # the streams do differ


def test_weights_written_unseen_after_encoding_are_a_mismatch_at_load_not_a_file_claiming_them(checkpoint, tmp_path):
    stylizer = sva.load_stylizer(checkpoint, device="cpu")
    bank = sva.StyleBank(_vignetted(stylizer), stylizer).encode()
    for parameter in stylizer.model.parameters():
        parameter.data.mul_(1.05)  # as a fused optimizer step: no version counter bumped
    bank.save(tmp_path / "bank.safetensors")
    stylizer.save_pretrained(tmp_path / "tuned")
    tuned = sva.load_stylizer(tmp_path / "tuned", device="cpu")
    with pytest.raises(BankMismatch):
        sva.StyleBank.load(tmp_path / "bank.safetensors", tuned)


def test_a_label_written_into_domains_as_a_number_reads_as_its_string_and_warns_once(small_stylizer, caplog):
    bank = sva.StyleBank(_vignetted(small_stylizer), small_stylizer, domains=["a", "b"])
    bank.domains[1] = 7  # the docs write into the list
    assert bank.domain_names == ["7", "a"] and "domains=" in repr(bank)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            bank.sample(2, strategy="other_domain", content_domains=["x", "x"])
    assert caplog.text.count("'x'") == 1


def test_read_bank_info_takes_a_str_and_refuses_a_newer_format(checkpoint, tmp_path):
    stylizer = sva.load_stylizer(checkpoint, device="cpu")
    path = sva.StyleBank(_vignetted(stylizer), stylizer).save(tmp_path / "bank.safetensors")
    assert read_bank_info(str(path))["images"] == [2, 3, stylizer.img_size, stylizer.img_size]
    with safe_open(str(path), framework="pt") as handle:
        metadata, tensors = handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(tmp_path / "future.safetensors"), metadata={**metadata, "version": "99"})
    with pytest.raises(BankFileError, match=r"format version 99.*newer.*reads version 1"):
        sva.StyleBank.load(tmp_path / "future.safetensors", stylizer)


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes are a POSIX kind of file")
def test_bank_info_on_a_named_pipe_is_a_usage_error(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.safetensors")
    assert cli.main(["bank", "info", str(tmp_path / "pipe.safetensors")]) == 2
    assert "named pipe" in capsys.readouterr().err


def test_bank_info_shows_a_non_square_file_as_it_is(checkpoint, tmp_path, capsys):
    stylizer = sva.load_stylizer(checkpoint, device="cpu")
    path = sva.StyleBank(_vignetted(stylizer), stylizer).save(tmp_path / "bank.safetensors", streams=False)
    with safe_open(str(path), framework="pt") as handle:
        metadata, images = handle.metadata(), handle.get_tensor("images")
    save_file({"images": images[..., :16].contiguous()}, str(tmp_path / "wide.safetensors"), metadata=metadata)
    capsys.readouterr()
    assert cli.main(["bank", "info", str(tmp_path / "wide.safetensors")]) == 0
    assert f"2 images of 3x{stylizer.img_size}x16" in capsys.readouterr().out


def test_a_build_with_many_bad_files_ends_on_a_bounded_line(checkpoint, tmp_path, capsys):
    write_images(tmp_path / "styles", 1, size=(36, 36))
    for index in range(25):
        (tmp_path / "styles" / f"bad{index:02}.png").write_bytes(b"not a png")
    out = tmp_path / "bank.safetensors"
    assert cli.main(["bank", "build", str(tmp_path / "styles"), "-o", str(out), "--checkpoint", checkpoint]) == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "and 5 more (warned above)" in last and len(set(re.findall(r"bad\d\d\.png", last))) == 20
    assert last.endswith("exit code 3")


def test_one_bank_file_serves_transforms_of_keep_and_dark_stylizers_in_one_process(checkpoint, tmp_path):
    """The per-process cache handed the second transform the first one's bank, then refused it for "dark"."""
    keep = sva.load_stylizer(checkpoint, device="cpu")
    path = str(sva.StyleBank(_vignetted(keep), keep).save(tmp_path / "bank.safetensors"))
    dark = sva.load_stylizer(checkpoint, device="cpu", background="dark")
    image = torch.full((1, 3, 32, 32), 150, dtype=torch.uint8)
    outputs = {}
    for name, stylizer in (("keep", keep), ("dark", dark)):
        outputs[name] = sva.BatchStylize(stylizer, path, p=1.0, generator=torch.Generator().manual_seed(0))(image)
    direct = sva.BatchStylize(dark, sva.StyleBank.load(path, dark), p=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(outputs["dark"], direct(image))


def test_a_bank_whose_domains_list_no_longer_fits_still_prints(small_stylizer):
    bank = sva.StyleBank(_vignetted(small_stylizer), small_stylizer, domains=["a", "b"])
    bank.domains.append("c")  # one label too many, as written into the list
    assert "domains=['a', 'b', 'c']" in repr(bank)


def test_a_cached_bank_whose_own_stylizer_turned_dark_is_not_handed_to_a_keep_one(checkpoint, tmp_path):
    """Two transforms of the same file and weights: the first one's (the user's own) stylizer set to "dark" later
    left the cache holding a "dark" bank that the second, "keep", transform was then refused (a review)."""
    first = sva.load_stylizer(checkpoint, device="cpu")
    path = str(sva.StyleBank(_vignetted(first), first).save(tmp_path / "bank.safetensors"))
    image = torch.full((1, 3, 32, 32), 150, dtype=torch.uint8)
    sva.BatchStylize(first, path, p=1.0)(image)
    first.background = "dark"
    sva.BatchStylize(first, path, p=1.0)(image)
    second = sva.load_stylizer(checkpoint, device="cpu")
    assert sva.BatchStylize(second, path, p=1.0)(image).shape == image.shape
