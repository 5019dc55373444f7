"""RandomStylize as a kornia augmentation: the p gate, replay from _params, same_on_batch,
AugmentationSequential targets, dtypes, lazy loading and pickling (the public names and the
import without kornia: tests/transforms/test_front_end_base.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kornia.augmentation import AugmentationSequential
from kornia.geometry.boxes import Boxes

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, HostReads, count_stylized_rows, examples, make_small_model
from stylizing_vit_aug.transforms import _common
from stylizing_vit_aug.transforms.kornia import RandomStylize


@pytest.fixture
def batch(histology_crops) -> torch.Tensor:
    """6 float images in 0–1 (the five crops plus one flipped), 96x128."""
    images = torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2).float() / 255
    return torch.cat([images, images[:1].flip(-1)]).contiguous()


def _changed(out: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return (out != images).flatten(1).any(dim=1)


def test_p0_leaves_every_row_and_p1_changes_every_row_keeping_shape_dtype_range(small_stylizer, bank, batch):
    for images in (batch, batch.double(), batch.half(), batch.bfloat16()):
        out = RandomStylize(small_stylizer, bank, p=0.0)(images)
        assert torch.equal(out, images)
        out = RandomStylize(small_stylizer, bank, p=1.0)(images)
        assert out.dtype == images.dtype and out.shape == images.shape and out.device == images.device
        assert bool(_changed(out, images).all())
        assert float(out.min()) >= 0 and float(out.max()) <= 1
    single = RandomStylize(small_stylizer, bank, p=1.0, keepdim=True)(batch[0])
    assert single.shape == batch[0].shape and not torch.equal(single, batch[0])


def test_only_gated_rows_run_and_a_replay_of_params_is_exact(small_stylizer, bank, batch, monkeypatch):
    seen = count_stylized_rows(small_stylizer, monkeypatch)
    aug = RandomStylize(small_stylizer, bank, p=0.5, strength=(0.3, 1.0))
    torch.manual_seed(4)
    out = aug(batch)
    params = aug._params
    applied = params["batch_prob"] > 0.5
    assert 0 < int(applied.sum()) < len(batch) and seen == [int(applied.sum())]
    assert torch.equal(_changed(out, batch), applied)
    assert torch.equal(out[~applied], batch[~applied])
    assert params["style_index"].shape == params["strength"].shape == (len(batch),)
    assert bool((params["strength"] >= 0.3).all() and (params["strength"] <= 1.0).all())
    torch.manual_seed(99)  # the replay draws nothing
    assert torch.equal(aug(batch, params=params), out)
    other = RandomStylize(small_stylizer, bank, p=0.5)
    assert torch.equal(other(batch, params={k: v.clone() for k, v in params.items()}), out)


@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("fault", ["float", "below -1", "past the end"])
def test_a_replay_with_style_indices_no_call_draws_is_refused_in_words(small_stylizer, bank, batch, in_batch, fault):
    """Floats (params saved as JSON, reloaded), -5 or a row past the batch were torch's IndexError, or no style."""
    aug = RandomStylize(small_stylizer, None if in_batch else bank, p=1.0)
    aug(batch)
    params = dict(aug._params)
    index = params["style_index"]
    params["style_index"] = {"float": index.float(), "below -1": torch.full_like(index, -5),
                             "past the end": torch.full_like(index, 50)}[fault]
    words = {"float": "must be integers", "below -1": "-1 \\(no style\\) or a style's index",
             "past the end": "name row 50 of a batch of 6" if in_batch else "out of range"}[fault]
    with pytest.raises(IndexError if fault == "past the end" else ValueError, match=words):  # as a bank's index
        aug(batch, params=params)


@settings(max_examples=examples(12), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), size=st.integers(1, 6), in_batch=st.booleans(), same=st.booleans())
def test_any_draw_replays_and_touches_only_gated_rows_with_a_style(
    small_stylizer, bank, batch, seed, size, in_batch, same
):
    images = batch[:size]
    aug = RandomStylize(small_stylizer, None if in_batch else bank, p=0.5, strength=(0.5, 1.0), same_on_batch=same)
    torch.manual_seed(seed)
    out = aug(images)
    params = aug._params
    styled = (params["batch_prob"] > 0.5) & (params["style_index"] >= 0)
    assert torch.equal(_changed(out, images), styled)
    assert torch.equal(aug(images, params=params), out)
    if same:
        for key in ("batch_prob", "strength"):
            assert bool((params[key] == params[key][0]).all())
        if not in_batch:
            assert bool((params["style_index"] == params["style_index"][0]).all())


def test_in_batch_styles_are_the_next_rows_and_a_batch_of_one_is_left_alone(small_stylizer, batch):
    aug = RandomStylize(small_stylizer, p=1.0)
    out = aug(batch)
    assert torch.equal(aug._params["style_index"], (torch.arange(len(batch)) + 1) % len(batch))
    expected = small_stylizer.stylize_batch(batch[:1], batch[1:2])
    assert float((out[0] - expected[0]).abs().max()) < 1e-5  # row 0 takes the ORIGINAL row 1's style
    one = aug(batch[:1])
    assert torch.equal(one, batch[:1]) and int(aug._params["style_index"][0]) == -1


def test_augmentation_sequential_leaves_masks_and_boxes_and_replays(small_stylizer, bank, batch):
    masks = (batch.mean(1, keepdim=True) < 0.8).float()
    boxes = torch.tensor([[[4.0, 6.0, 40.0, 50.0]]]).repeat(len(batch), 1, 1)
    seq = AugmentationSequential(RandomStylize(small_stylizer, bank, p=0.5), data_keys=["input", "mask", "bbox_xyxy"])
    torch.manual_seed(1)
    out, out_masks, out_boxes = seq(batch, masks, boxes)
    assert torch.equal(out_masks, masks)
    out_boxes = out_boxes.data if isinstance(out_boxes, Boxes) else out_boxes
    assert torch.equal(out_boxes, boxes)
    assert bool(_changed(out, batch).any())
    again, again_masks, _ = seq(batch, masks, boxes, params=seq._params)
    assert torch.equal(again, out) and torch.equal(again_masks, masks)


def test_arguments_and_inputs_give_clear_errors(small_stylizer, bank, batch):
    for bad, match in (({"p": 1.5}, "probability"), ({"p": True}, "probability"),
                       ({"strength": (0.9, 0.1)}, "strength"), ({"strategy": "other_domain"}, "BatchStylize"),
                       ({"mode": "fast"}, "mode")):
        with pytest.raises(ValueError, match=match):
            RandomStylize(small_stylizer, bank, **bad)
    with pytest.raises(TypeError, match="bank must be"):
        RandomStylize(small_stylizer, bank=np.zeros(3))
    aug = RandomStylize(small_stylizer, bank, p=1.0)
    with pytest.raises(ValueError, match="outside 0–1"):
        aug(batch * 255)
    with pytest.raises(TypeError, match=r"float images in 0–1.*images\.float\(\) / 255.*BatchStylize"):
        aug((batch * 255).to(torch.uint8))  # kornia takes float images only: said in our words, with the fix
    aug(batch)
    with pytest.raises(ValueError, match="length 2"):
        aug(batch[:2], params=aug._params)  # params of a batch of 6
    half = RandomStylize(small_stylizer, bank, p=0.5)
    half(batch)
    with pytest.raises(ValueError, match="'batch_prob' of that length or 1"):  # was: every row stylised
        half(batch, params={**half._params, "batch_prob": half._params["batch_prob"][:3]})


def test_balanced_strategy_draws_from_every_domain(small_stylizer, bank, batch):
    aug = RandomStylize(small_stylizer, bank, p=1.0, strategy="balanced")
    torch.manual_seed(0)
    drawn = torch.cat([aug.generate_parameters((60, 3, 8, 8))["style_index"] for _ in range(5)])
    assert {bank.domains[int(i)] for i in drawn} == set(bank.domain_names)


def test_no_arguments_uses_the_bundled_default_lazily(tmp_path, monkeypatch, batch):
    from stylizing_vit_aug import hub

    hub.save_pretrained(make_small_model(), tmp_path / "weights", mean=(0.5, 0.4, 0.6), std=(0.2, 0.2, 0.2))
    monkeypatch.setattr(hub, "BUNDLED_WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    aug = RandomStylize(p=1.0, mode="detail")
    assert not _common._STYLIZERS  # construction loads nothing
    out = aug(batch[:2])
    assert out.shape == (2, 3, 96, 128) and not torch.equal(out, batch[:2])
    assert aug.stylizer.source == "default" and aug.stylizer.device.type == "cpu"


def test_source_strings_load_once_and_pickle_small_and_replay(saved, batch, monkeypatch):
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    checkpoint, bank_path = saved
    first = RandomStylize(checkpoint, bank_path, p=1.0, mode="detail")
    second = RandomStylize(checkpoint, bank_path, p=1.0, mode="detail")
    out = first(batch)
    second(batch)
    assert first.stylizer is second.stylizer and first.bank is second.bank and len(_common._STYLIZERS) == 1
    payload = pickle.dumps(first)
    assert len(payload) < 20_000  # sources, not weights or streams
    assert torch.equal(pickle.loads(payload)(batch, params=first._params), out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_stay_on_cuda_in_their_dtype(small_stylizer, bank, batch):
    on_cuda = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cuda", mode="detail")
    for aug in (RandomStylize(on_cuda, p=0.5), RandomStylize(small_stylizer, bank, p=0.5)):
        for images in (batch.cuda(), batch.cuda().half()):
            torch.manual_seed(2)
            out = aug(images)
            assert out.device == images.device and out.dtype == images.dtype
            assert bool(_changed(out, images).any())
            assert torch.equal(aug(images, params=aug._params), out)


def test_normalised_input_is_refused_with_a_fix_it_can_take(small_stylizer, bank):
    with pytest.raises(ValueError, match="after Normalize. Put it before Normalize in the pipeline") as error:
        RandomStylize(small_stylizer, bank, p=1.0)(torch.rand(2, 3, 32, 32) - 0.5)
    assert "mean=" not in str(error.value)  # RandomStylize takes no statistics


@pytest.mark.parametrize("styles", ["bank", "in batch"])
def test_a_call_reads_the_batch_back_once_for_its_range_check(small_stylizer, bank, batch, styles):
    """On a GPU each read back to the host waits for all queued work; the range check is the one."""
    aug = RandomStylize(small_stylizer, bank if styles == "bank" else None, p=1.0)
    aug(batch)
    with HostReads(batch, bank.streams.layers, *small_stylizer.model.parameters()) as reads:
        out = aug(batch)
    assert bool(_changed(out, batch).all())
    assert reads.found == ["tolist"]  # the extremes, once: not again by to_batch and stylize_batch
