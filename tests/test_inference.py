"""A half-precision Stylizer runs a copy of its network wholly in that dtype: close to fp32, made
again when the weights change, with fp32 style streams that any stylizer of the same weights reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.inference import InferenceNetwork

HALF = (torch.bfloat16, torch.float16)


def _psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    return 10 * np.log10(255**2 / np.maximum(mse, 1e-10))


def _small(dtype: torch.dtype, **settings) -> tuple[sva.StylizingViT, sva.Stylizer, torch.Tensor]:
    """The small model, a Stylizer of it in ``dtype`` and two 32-px images."""
    model = make_small_model().eval()
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=dtype, **settings)
    return model, stylizer, torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _fresh(model: sva.StylizingViT, dtype: torch.dtype, **settings) -> sva.Stylizer:
    """A new Stylizer of a copy of ``model``'s current weights: what a stale one should match."""
    copy = make_small_model().eval()
    copy.load_state_dict(model.state_dict())
    return sva.Stylizer(copy, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=dtype, **settings)


@pytest.mark.parametrize("mode", ["relative", "resize"])
def test_the_bundled_default_in_bf16_stays_within_50_db_of_fp32_on_real_crops(histology_paths, mode):
    images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in histology_paths[:2]])
    styles = images[::-1].copy()
    fp32 = sva.load_stylizer(device="cpu", dtype=torch.float32)(images, styles, mode=mode)
    bf16 = sva.load_stylizer(device="cpu", dtype=torch.bfloat16)(images, styles, mode=mode)
    assert (_psnr(fp32, bf16) >= 50).all()
    assert (_psnr(fp32, images) < 40).all()  # the comparison is between real stylisations


@pytest.mark.parametrize("dtype", HALF)
def test_the_copy_is_in_the_compute_dtype_and_the_model_itself_stays_fp32(dtype):
    model, stylizer, images = _small(dtype)
    out = stylizer(images, images.flip(0))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    copy = stylizer._network.network
    assert copy is not model
    assert all(p.dtype == dtype for p in copy.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_the_copy_follows_the_weights_when_they_change():
    settings = dict(background="style", colour_match=False)
    model, stylizer, images = _small(torch.bfloat16, **settings)
    assert stylizer._network.calls(model) is stylizer._network.calls(model)  # no new copy while nothing changed

    def fresh_stylizer_output():
        return _fresh(model, torch.bfloat16, **settings)(images, images.flip(0))

    before = stylizer(images, images.flip(0))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)  # an optimiser step, in place
    after = stylizer(images, images.flip(0))
    assert not torch.equal(before, after)
    assert torch.equal(after, fresh_stylizer_output())
    model.load_state_dict(make_small_model(seed=1).state_dict())
    assert torch.equal(stylizer(images, images.flip(0)), fresh_stylizer_output())


def test_streams_from_a_bf16_stylizer_are_fp32_and_read_by_an_fp32_one():
    model = make_small_model().eval()
    bf16 = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.bfloat16)
    fp32 = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    styles = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    stream = bf16.encode_style(styles)
    assert stream.dtype == torch.float32
    torch.testing.assert_close(stream.layers, fp32.encode_style(styles).layers, atol=0.1, rtol=0.05)
    out = fp32(torch.rand(3, 3, 32, 32), stream)
    assert torch.isfinite(out).all()


def test_fp32_calls_are_the_models_own():
    model = make_small_model()
    calls = InferenceNetwork(torch.float32).calls(model)
    assert calls.stylize.__self__ is model and calls.stylize_with_self.__self__ is model


@pytest.mark.parametrize("dtype", HALF)
def test_a_half_precision_model_is_refused_at_once_with_the_fix(dtype):
    with pytest.raises(ValueError, match=r"not float32: pass model\.float\(\)"):
        sva.Stylizer(make_small_model().to(dtype), CAMELYON_MEAN, CAMELYON_STD, device="cpu")


def test_the_copy_of_a_model_in_training_holds_no_gradients():
    model = make_small_model()
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.bfloat16)
    model.requires_grad_(True)
    for p in model.parameters():
        p.grad = torch.ones_like(p)  # what a training step leaves behind
    stylizer(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    copy = stylizer._network.network
    assert all(p.grad is None and not p.requires_grad for p in copy.parameters())
    assert all(p.grad is not None for p in model.parameters())  # the user's model keeps its own


@pytest.mark.parametrize("dtype", HALF)
def test_weights_written_through_data_are_followed_too(dtype):
    # a hand-written EMA writes p.data, which bumps no version counter
    model, stylizer, images = _small(dtype)
    before = stylizer(images, images.flip(0))
    other = make_small_model(seed=3)
    for p, q in zip(model.parameters(), other.parameters()):
        p.data.mul_(0.5).add_(q.data, alpha=0.5)
    after = stylizer(images, images.flip(0))
    assert not torch.equal(before, after)
    assert torch.equal(after, _fresh(model, dtype)(images, images.flip(0)))


def test_a_model_made_under_inference_mode_stylises_in_half_precision():
    with torch.inference_mode():
        stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.bfloat16)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = stylizer(images, images.flip(0))
    assert torch.equal(out, _fresh(stylizer.model, torch.bfloat16)(images, images.flip(0)))
    assert len(stylizer.fingerprint) == 16


class _Unpicklable:
    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.calls = 0

    def __call__(self, module, args, output) -> None:
        self.calls += 1


def test_a_model_that_cannot_be_copied_runs_under_autocast_with_a_warning(caplog):
    model = make_small_model().eval()
    hook = _Unpicklable()
    model.encoder.blocks[0].register_forward_hook(hook)
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.bfloat16)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.inference"):
        out = stylizer(images, images.flip(0))
    assert "cannot be copied" in caplog.text and "autocast" in caplog.text
    assert torch.isfinite(out).all() and hook.calls > 0  # the model itself ran, with its hook


def test_a_model_made_half_after_an_fp32_stylizer_is_a_clear_error():
    model, stylizer, images = _small(torch.float32)
    model.half()
    with pytest.raises(ValueError, match=r"float16 now.*stylizer\.model\.float\(\)"):
        stylizer(images, images.flip(0))


def test_on_cuda_the_context_leaves_out_cudnn_attention_and_only_it():
    # the flags are global, so the CUDA branch is checkable without a GPU
    with InferenceNetwork(torch.bfloat16).context(torch.device("cuda")):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
        assert torch.backends.cuda.math_sdp_enabled()
        assert not torch.is_autocast_enabled("cuda")
    assert torch.backends.cuda.cudnn_sdp_enabled()  # restored after the call
