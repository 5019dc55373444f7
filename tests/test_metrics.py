"""Metrics on cases whose answer is known, and against scikit-image on real images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from stylizing_vit_aug import metrics

LUMA = np.array([0.299, 0.587, 0.114])


def test_identical_images_are_perfect(histology_crops):
    x = torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2)
    anatomy = metrics.anatomy_metrics(x, x.clone())
    style = metrics.style_metrics(x, x.clone())
    assert set(anatomy) == {"ssim", "psnr", "edge_correlation"}
    assert set(style) == {"mean_std_distance", "histogram_distance"}
    for values in (*anatomy.values(), *style.values()):
        assert values.shape == (5,)
    torch.testing.assert_close(anatomy["ssim"], torch.ones(5))
    torch.testing.assert_close(anatomy["psnr"], torch.full((5,), metrics.PSNR_MAX))
    torch.testing.assert_close(anatomy["edge_correlation"], torch.ones(5))
    torch.testing.assert_close(style["mean_std_distance"], torch.zeros(5))
    torch.testing.assert_close(style["histogram_distance"], torch.zeros(5), atol=1e-6, rtol=0)


def test_constant_shift_has_known_psnr_and_keeps_edges():
    torch.manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(3, 3, 40, 48)
    for shift, expected in ((0.1, 20.0), (0.01, 40.0)):
        y = x + shift  # the luminance weights sum to 1: luminance shifts by the same amount
        torch.testing.assert_close(metrics.psnr(x, y), torch.full((3,), expected), atol=1e-3, rtol=0)
        # A uniform shift moves no edge.
        torch.testing.assert_close(metrics.edge_correlation(x, y), torch.ones(3), atol=1e-5, rtol=0)
        # ... and moves each channel mean by exactly the shift.
        torch.testing.assert_close(metrics.mean_std_distance(x, y), torch.full((3,), shift), atol=1e-5, rtol=0)


@pytest.mark.parametrize("distortion", ["noise", "blur", "stain"])
def test_anatomy_metrics_agree_with_scikit_image_on_real_images(histology_crops, distortion):
    """SSIM (Gaussian window, population covariance), PSNR and the Sobel edge correlation equal
    scikit-image's on the luminance of real histology crops, distorted three ways."""
    from skimage.filters import sobel
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(0)
    a = np.stack(histology_crops[:3]).transpose(0, 3, 1, 2).astype(np.float64) / 255
    if distortion == "noise":
        b = a + rng.normal(0, 0.08, a.shape)
    elif distortion == "blur":
        b = gaussian_filter(a, sigma=(0, 0, 1.2, 1.2))
    else:  # a stain-like change: per-channel gamma and gain
        b = 0.9 * a ** np.array([0.8, 1.1, 1.3]).reshape(1, 3, 1, 1)
    b = np.clip(b, 0, 1)

    def luma(images: np.ndarray) -> np.ndarray:
        return np.tensordot(LUMA, images, axes=(0, 0))

    expected = {"ssim": [], "psnr": [], "edge_correlation": []}
    for x, y in zip(a, b):
        lx, ly = luma(x), luma(y)
        expected["ssim"].append(structural_similarity(
            lx, ly, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0))
        expected["psnr"].append(peak_signal_noise_ratio(lx, ly, data_range=1.0))
        ex, ey = sobel(lx)[1:-1, 1:-1], sobel(ly)[1:-1, 1:-1]  # the border is reflected there, not ours
        expected["edge_correlation"].append(np.corrcoef(ex.ravel(), ey.ravel())[0, 1])
    ours = metrics.anatomy_metrics(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    for name, values in expected.items():
        torch.testing.assert_close(ours[name], torch.tensor(values, dtype=torch.float32), atol=5e-4, rtol=0, msg=name)
    assert (ours["ssim"] < 0.99).all()


def test_batched_equals_one_by_one_and_kinds_agree(histology_crops):
    crops = np.stack(histology_crops)
    content = torch.from_numpy(crops).permute(0, 3, 1, 2)
    stylized = content.flip(1)  # swap R and B: same anatomy, other colours
    batched = metrics.anatomy_metrics(content, stylized)
    batched.update(metrics.style_metrics(content, stylized))
    for i in range(len(crops)):
        one = metrics.anatomy_metrics(Image.fromarray(crops[i]), stylized[i])
        one.update(metrics.style_metrics(crops[i], stylized[i].float() / 255))
        for name, values in one.items():
            torch.testing.assert_close(values, batched[name][i : i + 1], atol=1e-5, rtol=0)


def test_edge_correlation_known_cases():
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32)
    # Inverting the image flips every gradient sign but keeps every magnitude.
    torch.testing.assert_close(metrics.edge_correlation(x, 1 - x), torch.ones(2), atol=1e-5, rtol=0)
    unrelated = metrics.edge_correlation(x, torch.rand(2, 3, 32, 32))
    assert unrelated.abs().max() < 0.2
    flat = torch.full((2, 3, 32, 32), 0.5)
    torch.testing.assert_close(metrics.edge_correlation(flat, flat * 0.5), torch.ones(2))
    torch.testing.assert_close(metrics.edge_correlation(flat, x), torch.zeros(2))


def test_style_distances_known_cases():
    dark = torch.full((1, 3, 16, 16), 0.2)
    light = torch.full((1, 3, 16, 16), 0.9)
    torch.testing.assert_close(metrics.mean_std_distance(dark, light), torch.tensor([0.7]))
    # Disjoint colour distributions are as far apart as histograms get.
    torch.testing.assert_close(metrics.histogram_distance(dark, light), torch.tensor([1.0]))
    # Half black, half white: mean 0.5 and std 0.5, against flat grey 0.5.
    halves = torch.zeros(1, 3, 16, 16)
    halves[..., 8:] = 1
    grey = torch.full((1, 3, 16, 16), 0.5)
    torch.testing.assert_close(metrics.mean_std_distance(halves, grey), torch.tensor([0.5]))
    # Histograms ignore where the pixels are: a pixel shuffle keeps them, SSIM does not.
    torch.manual_seed(2)
    x = torch.rand(1, 3, 24, 24)
    shuffled = x.flatten(2)[..., torch.randperm(24 * 24)].view_as(x)
    assert metrics.histogram_distance(x, shuffled).item() < 1e-6
    assert metrics.ssim(x, shuffled).item() < 0.2
    # A single style broadcasts over a batch and ranges hold.
    many = torch.rand(4, 3, 20, 28)
    out = metrics.style_metrics(x, many)
    assert out["mean_std_distance"].shape == (4,) and out["histogram_distance"].shape == (4,)
    assert ((out["histogram_distance"] >= 0) & (out["histogram_distance"] <= 1)).all()
    assert ((out["mean_std_distance"] >= 0) & (out["mean_std_distance"] <= 1.5)).all()


def test_ssim_ranges_and_monotonic_in_noise():
    torch.manual_seed(3)
    x = torch.rand(1, 3, 48, 48) * 0.5 + 0.25
    scores = [metrics.ssim(x, (x + s * torch.randn_like(x)).clamp(0, 1)).item() for s in (0.01, 0.05, 0.2)]
    assert scores[0] > scores[1] > scores[2]
    assert all(-1 <= s <= 1 for s in scores)
    # Smallest images the library accepts still work (window shrinks to fit).
    tiny = torch.rand(2, 1, 8, 8)
    assert math.isclose(metrics.ssim(tiny, tiny).min().item(), 1.0, abs_tol=1e-5)


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="same height and width"):
        metrics.anatomy_metrics(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 20))
    with pytest.raises(ValueError, match="same number"):
        metrics.style_metrics(torch.rand(2, 3, 16, 16), torch.rand(3, 3, 16, 16))
    with pytest.raises(ValueError, match="channel"):
        metrics.psnr(torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="0–255"):
        metrics.ssim(torch.rand(1, 3, 16, 16) * 255, torch.rand(1, 3, 16, 16))


def test_histogram_bins_take_a_numpy_integer_as_an_int():
    """bins=np.int64(16) (a size read from an array or config) was refused; True still is."""
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    by_numpy = metrics.histogram_distance(a, b, bins=np.int64(16))
    torch.testing.assert_close(by_numpy, metrics.histogram_distance(a, b, 16))
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        metrics.histogram_distance(a, b, bins=True)


@pytest.mark.parametrize(("content", "stylized"), [(0, 0), (1, 0), (0, 1)])
def test_an_empty_batch_gives_empty_metrics(content, stylized):
    """An evaluation loop's empty last shard: StyleTTA and BatchStylize give empty results for it,
    the metrics raised "content is an empty batch"."""
    torch.manual_seed(0)
    x, y = torch.rand(content, 3, 16, 16), torch.rand(stylized, 3, 16, 16)
    results = {**metrics.anatomy_metrics(x, y), **metrics.style_metrics(x, torch.rand(stylized, 3, 20, 12))}
    functions = (metrics.ssim, metrics.psnr, metrics.edge_correlation, metrics.mean_std_distance)
    for function in (*functions, metrics.histogram_distance):
        results[function.__name__ + "()"] = function(x, y)
    for name, values in results.items():
        assert values.shape == (0,) and values.dtype == torch.float32, name
    assert math.isnan(metrics.summarize(results)["ssim"])


def test_an_empty_batch_is_still_checked_for_its_kind():
    with pytest.raises(ValueError, match="5 channels"):
        metrics.anatomy_metrics(torch.zeros(0, 5, 16, 16), torch.zeros(0, 5, 16, 16))
    with pytest.raises(ValueError, match="0 images and stylized has 2"):
        metrics.anatomy_metrics(torch.zeros(0, 3, 16, 16), torch.zeros(2, 3, 16, 16))
