"""A bank file written and read back: ``load`` opens the file once, and ``save`` writes streams (and
an images digest) of the pixels it writes, even after writes into ``bank.images`` that bump no
version counter (through ``.numpy()`` or ``.data``), which the bank's caches do not see."""

from __future__ import annotations

import pytest
import safetensors
import torch

from helpers import Openings
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.bank.sources import images_digest
from stylizing_vit_aug.bank.storage import read_bank_info


@pytest.fixture
def crops_bank(small_stylizer, histology_crops) -> StyleBank:
    """Five styles in chunks of two (three chunks): a write into one style touches one chunk."""
    return StyleBank.from_images(histology_crops, small_stylizer, domains=list("aabbc"), chunk_size=2)


def _count_safe_opens(monkeypatch, openings: Openings) -> None:
    """``openings`` also counts the openings by safetensors' ``safe_open`` (its own, not Python's, ``open``)."""
    real = safetensors.safe_open

    def counted(file, *args, **kwargs):
        handle = real(file, *args, **kwargs)
        openings.opened(file)
        return handle

    monkeypatch.setattr(safetensors, "safe_open", counted)


def test_load_opens_the_bank_file_once_and_gives_the_bank_saved(
    small_stylizer, crops_bank, tmp_path, monkeypatch, openings
):
    """The header was read by one opening and the tensors by another: two system calls, and a
    file replaced in between would pair one file's metadata with another's tensors."""
    path = crops_bank.save(tmp_path / "bank.safetensors")
    openings.clear()
    _count_safe_opens(monkeypatch, openings)
    loaded = StyleBank.load(path, small_stylizer)
    assert openings[str(path.resolve())] == 1, openings
    assert torch.equal(loaded.images, crops_bank.images) and loaded.domains == crops_bank.domains
    assert loaded.num_encoded == len(crops_bank) and torch.equal(loaded.streams.layers, crops_bank.streams.layers)
    assert loaded.chunk_size == crops_bank.chunk_size and loaded.images_digest == crops_bank.images_digest


def test_a_file_safetensors_cannot_open_is_still_named_and_diagnosed(small_stylizer, crops_bank, tmp_path):
    """The one opening is safetensors'; what is wrong with a file it refuses is said as before."""
    path = crops_bank.save(tmp_path / "bank.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="cannot read bank file .*truncated") as refused:
        StyleBank.load(path, small_stylizer)
    with pytest.raises(ValueError) as told:
        read_bank_info(path)
    assert str(refused.value).replace("StyleBank.load", "read_bank_info") == str(told.value)


def _write_unseen(bank: StyleBank, style: int, how: str) -> None:
    """Invert one style's pixels without torch's version counter moving."""
    if how == "numpy":
        pixels = bank.images.numpy()
        pixels[style] = 255 - pixels[style]
    else:
        bank.images.data[style] = 255 - bank.images.data[style]


@pytest.mark.parametrize("how", ["numpy", "data"])
def test_save_writes_streams_of_the_pixels_saved_after_writes_torch_does_not_see(
    small_stylizer, crops_bank, tmp_path, monkeypatch, how
):
    crops_bank.images_digest  # noqa: B018 - a digest cached before the write is not written either
    _write_unseen(crops_bank, 3, how)
    encoded: list[int] = []
    encode = crops_bank._encode
    monkeypatch.setattr(crops_bank, "_encode", lambda start, stop: encoded.append(stop - start) or encode(start, stop))
    loaded = StyleBank.load(crops_bank.save(tmp_path / "bank.safetensors"), small_stylizer)

    fresh = StyleBank(loaded.images.clone(), small_stylizer, chunk_size=2)
    assert torch.equal(loaded.images, crops_bank.images)
    torch.testing.assert_close(loaded.streams.layers, fresh.streams.layers)
    assert read_bank_info(tmp_path / "bank.safetensors")["images_sha256"] == images_digest(loaded.images)
    assert encoded == [2]  # only the chunk of the style written into was encoded again


def test_a_loaded_bank_written_into_unseen_saves_fresh_streams(small_stylizer, crops_bank, tmp_path):
    """Streams read from a file are of the file's pixels: a write after loading is found too."""
    loaded = StyleBank.load(crops_bank.save(tmp_path / "first.safetensors"), small_stylizer)
    _write_unseen(loaded, 0, "numpy")
    again = StyleBank.load(loaded.save(tmp_path / "second.safetensors"), small_stylizer)
    fresh = StyleBank(again.images.clone(), small_stylizer, chunk_size=2)
    assert not torch.equal(again.images, crops_bank.images)
    torch.testing.assert_close(again.streams.layers, fresh.streams.layers)
    assert (
        again.images_digest == fresh.images_digest == read_bank_info(tmp_path / "second.safetensors")["images_sha256"]
    )


def test_loading_a_bank_with_streams_hashes_none_of_its_pixels(small_stylizer, crops_bank, tmp_path, monkeypatch):
    """The file records the digest of the pixels its streams were saved with, so a load (which may be of
    10,000 styles) does not hash them to notice later writes torch does not see."""
    from stylizing_vit_aug.bank import style_bank

    crops_bank.save(tmp_path / "bank.safetensors")
    hashed: list[int] = []
    monkeypatch.setattr(style_bank, "images_digest", lambda images: hashed.append(len(images)) or images_digest(images))
    loaded = StyleBank.load(tmp_path / "bank.safetensors", small_stylizer)
    assert hashed == [] and loaded.num_encoded == len(loaded)


def test_a_bank_pickles_with_its_streams_and_draws_the_same(crops_bank):
    """A bank reaches a spawned DataLoader worker by pickling (inside a front-end or BatchStylize)."""
    import pickle

    copy = pickle.loads(pickle.dumps(crops_bank))
    index = torch.tensor([4, 0, 2])
    assert torch.equal(copy.images, crops_bank.images)
    assert all(torch.equal(a, b) for a, b in zip(copy.stream(index).layers, crops_bank.stream(index).layers))


def test_a_bank_saved_to_a_link_replaces_the_file_it_points_at(crops_bank, small_stylizer, tmp_path):
    """``current.safetensors`` -> ``shared/bank.safetensors``: the link stays, and every path to the shared bank
    reads the new one (as a checkpoint folder behind a link is written through)."""
    shared = tmp_path / "shared" / "bank.safetensors"
    StyleBank(crops_bank.images[:2], small_stylizer).save(shared)
    link = tmp_path / "current.safetensors"
    link.symlink_to(shared)
    crops_bank.save(link)
    assert link.is_symlink() and link.resolve() == shared.resolve()
    assert torch.equal(StyleBank.load(shared, small_stylizer).images, crops_bank.images)
    assert not [path.name for path in shared.parent.iterdir() if path != shared]  # no temporary left beside it
