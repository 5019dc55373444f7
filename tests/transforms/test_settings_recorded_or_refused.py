"""A saved pipeline records a stylizer object as its checkpoint source, which loads with the settings
the source records. A stylizer whose mode, background or colour_match differ (given to
``load_stylizer``, or set later) is refused with the way to save it, not recorded as a source that
would load otherwise (``background="dark"`` lost paints a dermoscope's black vignette)."""

from __future__ import annotations

import albumentations as A
import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model

OTHER_SETTINGS = [{"background": "dark"}, {"mode": "detail"}, {"colour_match": False}]


@pytest.mark.parametrize("settings", OTHER_SETTINGS, ids=lambda s: next(iter(s)))
def test_a_stylizer_loaded_with_other_settings_is_refused_and_its_saved_folder_keeps_them(
    checkpoint, tmp_path, settings
):
    stylizer = sva.load_stylizer(checkpoint, **settings)
    assert sva.load_stylizer(checkpoint).settings != stylizer.settings  # not what the folder records
    pipeline = A.Compose([sva.AlbumentationsStylize(stylizer=stylizer, p=1.0)])
    ((name, value),) = settings.items()
    with pytest.raises(ValueError, match=rf"{name}={value!r}.*save_pretrained\(dir\)"):
        A.to_dict(pipeline)
    with pytest.raises(ValueError, match="save_pretrained"):
        A.save(pipeline, str(tmp_path / "pipeline.json"))
    assert not (tmp_path / "pipeline.json").exists()

    stylizer.save_pretrained(tmp_path / "saved")  # the advice: the folder records the settings
    saved = A.Compose([sva.AlbumentationsStylize(stylizer=str(tmp_path / "saved"), p=1.0)])
    assert A.from_dict(A.to_dict(saved)).transforms[0].stylizer.settings == stylizer.settings


def test_a_setting_changed_after_loading_is_refused_and_an_unchanged_stylizer_is_recorded(checkpoint):
    stylizer = sva.load_stylizer(checkpoint)
    transform = sva.AlbumentationsStylize(stylizer=stylizer, p=1.0)
    recorded = A.to_dict(transform)["transform"]
    back = A.from_dict({"transform": recorded})
    assert recorded["stylizer"] == stylizer.source and back.stylizer.settings == stylizer.settings
    stylizer.background = "dark"
    with pytest.raises(ValueError, match="background='dark' \\(the source loads with 'keep'\\)"):
        A.to_dict(transform)


@pytest.mark.parametrize("background", ["dark", "keep"])
def test_a_stylizer_not_made_by_load_stylizer_is_refused_whatever_its_settings(background):
    """Made directly, or a trainer's (fine-tuned weights under its base checkpoint's source, the library's
    settings): recorded as that source, a reloaded pipeline ran other weights, silently."""
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, source="default", background=background)
    with pytest.raises(ValueError, match="not loaded by load_stylizer .*a fine-tuned stylizer keeps its base"):
        A.to_dict(sva.AlbumentationsStylize(stylizer=stylizer, p=1.0))


def test_the_bank_objects_stylizer_is_checked_too(checkpoint, tmp_path, histology_crops):
    """Its file records its settings as saved (then the file alone is recorded: test_bank_object_recorded.py);
    changed since, neither the source nor the file loads it so."""
    stylizer = sva.load_stylizer(checkpoint, background="dark")
    bank = sva.StyleBank.from_images(histology_crops[:1], stylizer)
    bank.save(tmp_path / "bank.safetensors")
    stylizer.colour_match = False
    with pytest.raises(ValueError, match="background='dark' .*colour_match=False"):
        A.to_dict(sva.AlbumentationsStylize(bank=bank, p=1.0))


def test_a_stylizer_loaded_with_other_statistics_is_refused_naming_them_and_its_saved_folder_keeps_them(
    checkpoint, tmp_path
):
    """``load_stylizer(src, mean=..., std=...)`` was recorded as plain ``src``, which loads the checkpoint's own
    statistics: the reloaded pipeline stylised every colour differently."""
    own = sva.load_stylizer(checkpoint)
    mean, std = (own.mean * 0.9).tolist(), (own.std * 1.1).tolist()
    stylizer = sva.load_stylizer(checkpoint, mean=mean, std=std)
    pipeline = A.Compose([sva.AlbumentationsStylize(stylizer=stylizer, p=1.0)])
    with pytest.raises(ValueError, match=r"mean=\[.*std=\[.*save_pretrained\(dir\)"):
        A.to_dict(pipeline)
    assert A.to_dict(A.Compose([sva.AlbumentationsStylize(stylizer=own, p=1.0)]))  # its own statistics: recorded

    stylizer.save_pretrained(tmp_path / "saved")  # the advice: the folder records the statistics
    saved = A.Compose([sva.AlbumentationsStylize(stylizer=str(tmp_path / "saved"), p=1.0)])
    back = A.from_dict(A.to_dict(saved)).transforms[0].stylizer
    assert torch.equal(back.mean, stylizer.mean) and torch.equal(back.std, stylizer.std)


def test_weights_changed_in_place_after_loading_are_refused_with_the_way_to_save_them(checkpoint, tmp_path):
    """A stylizer fine-tuned in place after ``load_stylizer`` kept its source, and a saved pipeline recorded that
    source, which reloads the old weights (a round-trip probe: outputs then differed by 11 levels)."""
    stylizer = sva.load_stylizer(checkpoint)
    pipeline = A.Compose([sva.AlbumentationsStylize(stylizer=stylizer, p=1.0)])
    assert A.to_dict(pipeline)["transform"]["transforms"][0]["stylizer"] == stylizer.source  # unchanged: recorded
    with torch.no_grad():
        next(stylizer.model.parameters()).mul_(1.05)
    with pytest.raises(ValueError, match=r"weights are not those its source .*save_pretrained\(dir\)"):
        A.to_dict(pipeline)
    stylizer.save_pretrained(tmp_path / "tuned")  # the advice: the folder records the weights
    saved = A.Compose([sva.AlbumentationsStylize(stylizer=str(tmp_path / "tuned"), p=1.0)])
    assert A.from_dict(A.to_dict(saved)).transforms[0].stylizer.fingerprint == stylizer.fingerprint


def test_a_stylizer_loaded_in_another_dtype_is_refused_also_beside_a_bank_file_that_records_it(
    checkpoint, tmp_path, histology_crops
):
    """Neither the source nor a bank file records ``dtype=``: a bfloat16 stylizer came back float32 (a round-trip
    probe, 1-3 levels apart), so one computing in another dtype than its device's default is refused."""
    default = sva.load_stylizer(checkpoint)
    other = torch.float32 if default.dtype == torch.bfloat16 else torch.bfloat16
    stylizer = sva.load_stylizer(checkpoint, dtype=other)
    with pytest.raises(ValueError, match=rf"computes in {other}.*on the CPU, in {default.dtype}.*without dtype="):
        A.to_dict(sva.AlbumentationsStylize(stylizer=stylizer, p=1.0))
    bank = sva.StyleBank.from_images(histology_crops[:1], stylizer)
    bank.save(tmp_path / "bank.safetensors")
    with pytest.raises(ValueError, match=rf"computes in {other}"):
        A.to_dict(sva.AlbumentationsStylize(bank=bank, p=1.0))
    same = sva.load_stylizer(checkpoint, dtype=default.dtype)  # the advice: the device's own dtype is recorded
    assert A.to_dict(sva.AlbumentationsStylize(stylizer=same, p=1.0))["transform"]["stylizer"] == checkpoint
