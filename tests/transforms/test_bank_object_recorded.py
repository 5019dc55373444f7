"""A transform given a StyleBank OBJECT whose file records its stylizer as it is (source, weights, statistics and
settings) is saved by ``A.to_dict`` as that bank file with ``stylizer=None``, which reloads the very stylizer and
bank: the reloaded pipeline's outputs are bit-identical to the original's for a seed. It was refused where the
stylizer's own source would load it otherwise (settings or statistics given to ``load_stylizer``). A stylizer the
file no longer records as it is (changed after the save) is still refused."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model


def _loaded_with_settings(tmp_path, checkpoint) -> sva.Stylizer:
    """Loaded with settings its folder does not record (``detail``: a random network's change shows)."""
    return sva.load_stylizer(checkpoint, mode="detail", background="dark", colour_match=False)


def _loaded_with_statistics(tmp_path, checkpoint) -> sva.Stylizer:
    """Loaded from a third party's weights file, which records no statistics, with them given."""
    path = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in make_small_model().state_dict().items()}, str(path))
    return sva.load_stylizer(str(path), mean=CAMELYON_MEAN, std=CAMELYON_STD, num_heads=3, mode="detail")


def _outputs(pipeline: A.Compose, images: list[np.ndarray]) -> list[np.ndarray]:
    pipeline.set_random_seed(7)
    return [pipeline(image=image)["image"] for image in images]


@pytest.mark.parametrize("loaded", [_loaded_with_settings, _loaded_with_statistics], ids=["settings", "statistics"])
@pytest.mark.parametrize("how", ["saved", "loaded from its file"])
def test_a_bank_object_whose_file_records_its_stylizer_is_saved_as_that_file(
    tmp_path, checkpoint, histology_crops, loaded, how
):
    stylizer = loaded(tmp_path, checkpoint)
    bank = sva.StyleBank.from_images(histology_crops[:3], stylizer)
    path = bank.save(tmp_path / "bank.safetensors")
    if how == "loaded from its file":
        bank = sva.StyleBank.load(path, stylizer)
    with pytest.raises(ValueError, match="save_pretrained"):  # its source alone would load another stylizer
        A.to_dict(sva.AlbumentationsStylize(stylizer=stylizer, p=1.0))
    original = A.Compose([sva.AlbumentationsStylize(bank=bank, p=1.0, strength=(0.5, 1.0))])
    recorded = A.to_dict(original)
    assert recorded["transform"]["transforms"][0]["stylizer"] is None
    assert recorded["transform"]["transforms"][0]["bank"] == str(path.resolve())
    reloaded = A.from_dict(recorded)
    images = [crop[:48, :48].copy() for crop in histology_crops[:4]]
    ours, theirs = _outputs(original, images), _outputs(reloaded, images)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    assert not all(np.array_equal(a, b) for a, b in zip(ours, images))  # stylised, not passed through


def test_a_stylizer_changed_after_its_bank_was_saved_is_still_refused(tmp_path, checkpoint, histology_crops):
    stylizer = _loaded_with_settings(tmp_path, checkpoint)
    bank = sva.StyleBank.from_images(histology_crops[:1], stylizer)
    bank.save(tmp_path / "bank.safetensors")
    stylizer.background = "style"  # neither its source nor the bank file loads it so
    with pytest.raises(ValueError, match="background='style'.*save_pretrained"):
        A.to_dict(sva.AlbumentationsStylize(bank=bank, p=1.0))


@pytest.mark.parametrize("change", ["relabelled", "other images", "written in place"])
def test_a_bank_changed_after_loading_is_refused_not_recorded_as_its_file(tmp_path, checkpoint, change):
    """A bank object relabelled or given other images after ``load`` was saved as its file's path, which reloads
    the file's styles (outputs differed by 29-70 levels in a round-trip probe): refused now, with the way to save it;
    saved again, it is recorded."""
    stylizer = sva.load_stylizer(checkpoint)
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    sva.StyleBank.from_images(list(images), stylizer, domains=["a", "b", "a"]).save(tmp_path / "bank.safetensors")
    bank = sva.StyleBank.load(tmp_path / "bank.safetensors", stylizer)
    pipeline = A.Compose([sva.AlbumentationsStylize(stylizer, bank, p=1.0)])
    assert A.to_dict(pipeline)["transform"]["transforms"][0]["bank"] == str(tmp_path / "bank.safetensors")
    if change == "relabelled":
        bank.domains = ["x", "y", "x"]
    elif change == "other images":
        bank.images = bank.images.flip(0).contiguous()
    else:
        bank.images[:] = 0
    with pytest.raises(ValueError, match=r"bank is not saved as it is .*bank\.save\(path\)"):
        A.to_dict(pipeline)
    bank.save(tmp_path / "bank.safetensors")  # the advice
    assert A.to_dict(pipeline)["transform"]["transforms"][0]["bank"] == str(tmp_path / "bank.safetensors")


def test_a_bank_loaded_in_another_stream_dtype_is_refused_until_saved_so(tmp_path, checkpoint, histology_crops):
    """A bank loaded with ``stream_dtype=`` other than its file's was recorded as the file, which loads in the file's
    (a round-trip probe); saved again, the file records the dtype and reloads in it."""
    stylizer = sva.load_stylizer(checkpoint)
    sva.StyleBank.from_images(histology_crops[:2], stylizer).save(tmp_path / "bank.safetensors")
    bank = sva.StyleBank.load(tmp_path / "bank.safetensors", stylizer, stream_dtype="bfloat16")
    pipeline = A.Compose([sva.AlbumentationsStylize(stylizer, bank, p=1.0)])
    with pytest.raises(ValueError, match=r"bank is not saved as it is .*stream dtype.*bank\.save\(path\)"):
        A.to_dict(pipeline)
    bank.save(tmp_path / "bank.safetensors")  # the advice
    back = A.from_dict(A.to_dict(pipeline)).transforms[0]
    assert str(back.bank.stream_dtype) == "torch.bfloat16"
