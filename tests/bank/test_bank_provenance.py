"""Where a bank's styles came from (``bank.sources``), what it holds (``bank.images_digest``), and
what building it notices about its style files (copies, empty domain folders, small images,
crop options that would be ignored)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import write_images
from stylizing_vit_aug.bank import BankFileError, StyleBank, StyleFile
from stylizing_vit_aug.bank.storage import read_bank_info


@pytest.fixture
def styles(tmp_path):
    """styles/he/img00..01.png and styles/ihc/img00.png, 40x48."""
    root = tmp_path / "styles"
    write_images(root / "he", 2, seed=1)
    write_images(root / "ihc", 1, seed=2)
    return root


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_from_folder_records_each_styles_file_and_digest_and_the_file_keeps_them(tmp_path, small_stylizer, styles):
    bank = StyleBank.from_folder(styles, small_stylizer, crops_per_image=2)
    files = sorted(p for p in styles.rglob("*.png"))
    expected = [StyleFile(p.relative_to(styles).as_posix(), _sha256(p)[:16]) for p in files for _ in range(2)]
    assert bank.sources == expected  # relative to the folder, one per style (crops share their file)
    loaded = StyleBank.load(bank.save(tmp_path / "bank.safetensors"), small_stylizer)
    assert loaded.sources == expected
    info = read_bank_info(tmp_path / "bank.safetensors")
    assert info["sources"] == expected and info["images_sha256"] == bank.images_digest


def test_from_images_records_paths_as_given_and_none_for_images_in_memory(small_stylizer, styles):
    path = sorted(styles.rglob("*.png"))[0]
    bank = StyleBank.from_images([path, np.asarray(Image.open(path))], small_stylizer, encode=False)
    assert bank.sources == [StyleFile(str(path), _sha256(path)[:16]), None]
    assert StyleBank.from_images([np.asarray(Image.open(path))], small_stylizer, encode=False).sources is None


def test_the_images_digest_names_the_content_whatever_the_file_or_checkpoint(tmp_path, small_stylizer, styles):
    bank = StyleBank.from_folder(styles, small_stylizer, encode=False)
    digest = bank.images_digest
    assert (
        digest
        == hashlib.sha256(repr(tuple(bank.images.shape)).encode() + bank.images.numpy().tobytes()).hexdigest()[:16]
    )
    bank.save(tmp_path / "a.safetensors", streams=False)
    bank.save(tmp_path / "b.safetensors")
    assert StyleBank.load(tmp_path / "a.safetensors", small_stylizer).images_digest == digest
    assert StyleBank.load(tmp_path / "b.safetensors", small_stylizer).images_digest == digest
    bank.images[0, 0, 0, 0] ^= 1  # one bit of one style: another bank
    assert bank.images_digest != digest


def test_a_bank_saved_before_sources_were_recorded_loads_with_none(tmp_path, small_stylizer, styles):
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = StyleBank.from_folder(styles, small_stylizer).save(tmp_path / "new.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata = {k: v for k, v in handle.metadata().items() if k not in ("sources", "images_sha256")}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=metadata)
    old = StyleBank.load(tmp_path / "old.safetensors", small_stylizer)
    assert old.sources is None and len(old) == 3 and old.num_encoded == 3
    info = read_bank_info(tmp_path / "old.safetensors")
    assert info["sources"] is None and info["images_sha256"] is None
    metadata["sources"] = json.dumps([{"path": "a.png"}] * 3)  # damaged: named, not a KeyError
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=metadata)
    with pytest.raises(BankFileError, match=r"bad\.safetensors is corrupt: its 'sources' metadata"):
        StyleBank.load(tmp_path / "bad.safetensors", small_stylizer)


@pytest.mark.parametrize("field, value", [("mean", [2, 2, 2]), ("std", [0.0, 0.2, 0.2]), ("mean", [0.5, 0.5])])
def test_statistics_no_stylizer_takes_make_the_bank_file_corrupt(tmp_path, small_stylizer, styles, field, value):
    """A recorded mean of 2 loaded silently (and ``bank info`` showed it), then a front-end given the file failed
    later in a stylizer's words that named neither the file nor its damage."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = StyleBank.from_folder(styles, small_stylizer).save(tmp_path / "bank.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata, tensors = dict(handle.metadata()), {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={**metadata, field: json.dumps(value)})
    with pytest.raises(BankFileError, match=r"bad\.safetensors is corrupt: its 'mean'/'std' metadata = .*build it"):
        read_bank_info(tmp_path / "bad.safetensors")
    with pytest.raises(BankFileError, match="is corrupt"):
        StyleBank.load(tmp_path / "bad.safetensors", small_stylizer)


def test_byte_identical_style_files_both_enter_and_are_named(small_stylizer, styles, caplog):
    shutil.copy(styles / "he" / "img00.png", styles / "ihc" / "copy.png")
    with caplog.at_level(logging.WARNING):
        bank = StyleBank.from_folder(styles, small_stylizer, encode=False)
    assert len(bank) == 4
    said = [r.getMessage() for r in caplog.records if "byte-identical" in r.getMessage()]
    assert (
        len(said) == 1 and str(styles / "he" / "img00.png") in said[0] and str(styles / "ihc" / "copy.png") in said[0]
    )


def test_an_empty_domain_folder_is_named(small_stylizer, styles, caplog):
    (styles / "empty_scanner").mkdir()
    (styles / "notes").mkdir()
    (styles / "notes" / "readme.txt").write_text("no images here")
    with caplog.at_level(logging.WARNING):
        bank = StyleBank.from_folder(styles, small_stylizer, encode=False)
    assert bank.domain_names == ["he", "ihc"]
    said = [r.getMessage() for r in caplog.records if "give no domain" in r.getMessage()]
    assert len(said) == 1 and "empty_scanner, notes" in said[0]


def test_style_images_smaller_than_the_model_are_counted_once_with_the_smallest(tmp_path, small_stylizer, caplog):
    size = small_stylizer.img_size
    write_images(tmp_path / "s", 1, size=(size // 2, size // 2 + 4), seed=3)
    write_images(tmp_path / "s" / "b", 2, size=(size - 4, size + 8), seed=4)
    write_images(tmp_path / "s" / "c", 1, size=(size + 8, size + 8), seed=5)
    with caplog.at_level(logging.WARNING):
        StyleBank.from_folder(tmp_path / "s", small_stylizer, encode=False)
    said = [r.getMessage() for r in caplog.records if "smaller than the model" in r.getMessage()]
    assert len(said) == 1
    assert said[0].startswith("3 style image(s)") and f"{size // 2 + 4}x{size // 2}" in said[0]
    assert str(tmp_path / "s" / "img00.png") in said[0]


def test_a_crop_warning_names_the_file_not_an_index(tmp_path, small_stylizer, caplog):
    (path,) = write_images(tmp_path, 1, size=(40, 40))
    with caplog.at_level(logging.WARNING):
        StyleBank.from_images([path], small_stylizer, crops_per_image=3, crop_size=300, encode=False)
    said = [r.getMessage() for r in caplog.records if "no larger than the 300 px crop" in r.getMessage()]
    assert len(said) == 1 and f"{path} (40x40)" in said[0]


def test_a_crop_size_without_crops_per_image_is_refused_not_ignored(small_stylizer, styles):
    with pytest.raises(ValueError, match="crop_size=20 .* pass crops_per_image too"):
        StyleBank.from_folder(styles, small_stylizer, crop_size=20)
    with pytest.raises(ValueError, match="crop_size=20"):
        StyleBank.from_images([torch.zeros(3, 40, 40)], small_stylizer, crop_size=20)


def test_building_reads_each_style_file_once(monkeypatch, small_stylizer, styles, openings):
    openings.clear()  # the style files were written: only the build's openings count
    bank = StyleBank.from_folder(styles, small_stylizer, crops_per_image=2, encode=False)
    monkeypatch.undo()
    files = sorted(str(p) for p in styles.rglob("*.png"))
    assert openings.under(styles) == dict.fromkeys(files, 1)  # decoded and hashed from one read
    assert [s.sha256 for s in bank.sources] == [_sha256(Path(f))[:16] for f in files for _ in range(2)]


def test_a_style_file_replaced_while_the_bank_is_built_is_named_by_the_bytes_it_was_built_from(
    monkeypatch, small_stylizer, styles, openings
):
    """The digest and the pixels come from the same bytes: a file swapped for another after it
    was opened (a sync, a rerun writing it) cannot give one style the other's digest."""
    path = sorted(styles.rglob("*.png"))[0]
    original, replacement = _sha256(path), styles / "replacement.tmp"
    Image.fromarray(np.full((40, 48, 3), 200, np.uint8)).save(replacement, format="PNG")
    openings.clear()
    openings.then = lambda name: os.replace(replacement, name)  # a new file, same name, once it is open
    bank = StyleBank.from_images([path], small_stylizer, encode=False)
    monkeypatch.undo()
    assert openings.under(path) == {str(path): 1} and _sha256(path) != original
    assert bank.sources == [StyleFile(str(path), original[:16])]
    assert bank.images.float().std() > 1  # the original texture, not the flat replacement


def test_a_16_bit_colour_style_file_is_read_once_too(monkeypatch, tmp_path, small_stylizer, openings):
    """16-bit colour goes to a second decoder (OpenCV or torchvision), which read the file again."""
    from stylizing_vit_aug.images import read_image, save_image

    pixels = (np.random.default_rng(0).random((40, 48, 3)) * 65535).astype(np.uint16)
    save_image(pixels, tmp_path / "deep.png", "PNG")
    path = tmp_path / "deep.png"
    openings.clear()
    bank = StyleBank.from_images([path], small_stylizer, encode=False)
    monkeypatch.undo()
    assert openings.under(path) == {str(path): 1} and bank.sources == [StyleFile(str(path), _sha256(path)[:16])]
    assert np.array_equal(read_image(path), pixels)
    assert torch.equal(bank.images, StyleBank.from_images([pixels], small_stylizer, encode=False).images)
