"""Stain transfer: stains read back from synthetic two-stain images, moved to a target, glass and
structure kept, exact identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from helpers import DAB, EOSIN, HAEMATOXYLIN, two_stain_image
from stylizing_vit_aug import StyleBank, StyleTTA, stain_transfer
from stylizing_vit_aug.stain_transfer import stain_profile, transfer_stains
from stylizing_vit_aug.tissue import change_weight, tissue_weight


def tissue(values01: torch.Tensor) -> torch.Tensor:
    return tissue_weight(values01) >= 0.5


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=0))


@pytest.mark.parametrize("second", [EOSIN, DAB], ids=["H&E", "H-DAB"])
def test_the_two_stains_are_read_back_haematoxylin_first(second):
    image = two_stain_image(HAEMATOXYLIN, second, (1.2, 0.8))
    profile = stain_profile(image, tissue(image))[0]
    assert cosine(profile[:, 0], HAEMATOXYLIN) > 0.99
    assert cosine(profile[:, 1], second) > 0.99
    # the column lengths are the stains' strengths: haematoxylin's is the larger here
    assert profile[:, 0].norm() > profile[:, 1].norm() > 0.3


def test_a_transfer_gives_the_tissue_the_targets_stains_and_keeps_the_glass():
    content = two_stain_image(HAEMATOXYLIN, EOSIN, (0.6, 0.5), glass_columns=16, seed=1)
    style = two_stain_image(HAEMATOXYLIN, DAB, (1.4, 1.0), seed=2)
    target = stain_profile(style, tissue(style))
    out = transfer_stains(content, target)
    moved = stain_profile(out, tissue(out))[0]
    assert cosine(moved[:, 1], DAB) > 0.98 and cosine(moved[:, 0], HAEMATOXYLIN) > 0.98
    torch.testing.assert_close(moved.norm(dim=0), target[0].norm(dim=0), rtol=0.15, atol=0)
    # glass two pixels and more from the tissue keeps its pixels exactly
    assert torch.equal(out[..., -13:], content[..., -13:])
    assert (out[..., :40] - content[..., :40]).abs().amax() > 0.1


def test_its_own_stains_and_strength_zero_give_the_input_back_exactly():
    image = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 0.7), glass_columns=10, seed=3)
    own = stain_profile(image, tissue(image))
    assert torch.equal(transfer_stains(image, own), image)
    other = stain_profile(*(lambda s: (s, tissue(s)))(two_stain_image(HAEMATOXYLIN, DAB, (1.0, 1.0), seed=4)))
    assert torch.equal(transfer_stains(image, other, strength=0.0), image)
    half, full = transfer_stains(image, other, strength=0.5), transfer_stains(image, other)
    assert 0 < (half - image).abs().mean() < (full - image).abs().mean()


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), strengths=st.tuples(st.floats(0.4, 1.5), st.floats(0.3, 1.2)))
def test_each_pixel_depends_only_on_its_own_colour(seed, strengths):
    """No edge, blur or texture is added or removed: shuffling the pixels of a section (every pixel
    tissue) shuffles the transferred pixels the same way."""
    image = two_stain_image(HAEMATOXYLIN, EOSIN, strengths, size=48, floor=0.3, seed=seed)  # all tissue
    assert bool(tissue_weight(image).eq(1).all())
    target = stain_profile(*(lambda s: (s, tissue(s)))(two_stain_image(HAEMATOXYLIN, DAB, (1.3, 0.9), seed=7)))
    order = torch.randperm(48 * 48, generator=torch.Generator().manual_seed(seed))
    shuffled = image.flatten(2)[..., order].view_as(image)
    out, out_of_shuffled = transfer_stains(image, target), transfer_stains(shuffled, target)
    torch.testing.assert_close(out_of_shuffled, out.flatten(2)[..., order].view_as(image), atol=2e-4, rtol=0)


def test_images_without_readable_stains_come_back_unchanged():
    glass = torch.full((1, 3, 32, 32), 0.95)
    flat = torch.full((1, 3, 32, 32), 0.5)  # one colour: no second stain to read
    assert stain_profile(glass, tissue(glass)).isnan().all()
    assert stain_profile(flat, tissue(flat)).isnan().all()
    target = stain_profile(*(lambda s: (s, tissue(s)))(two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 1.0))))
    assert torch.equal(transfer_stains(torch.cat([glass, flat]), target.expand(2, -1, -1)), torch.cat([glass, flat]))
    image = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 1.0), seed=5)
    assert torch.equal(transfer_stains(image, torch.full((1, 3, 2), float("nan"))), image)


def test_the_debug_line_counts_only_calls_with_unreadable_stains(caplog):
    """At DEBUG level a call whose images' stains are all read says nothing ("0 of 2" at every call would
    bury the calls that matter); one with some unreadable says how many."""
    section = torch.cat([two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 0.8), seed=s) for s in (6, 7)])
    target = stain_profile(section[:1], tissue(section[:1]))
    with caplog.at_level("DEBUG", logger="stylizing_vit_aug.stain_transfer"):
        transfer_stains(section, target.expand(2, -1, -1))
        transfer_stains(torch.cat([section[:1], torch.full((1, 3, 64, 64), 0.95)]), target.expand(2, -1, -1))
    assert [r.getMessage() for r in caplog.records] == ["1 of 2 images: stains cannot be read, returned unchanged"]


def test_stains_need_rgb():
    with pytest.raises(ValueError, match="RGB"):
        stain_profile(torch.rand(1, 1, 16, 16))


def test_what_cannot_be_read_as_rgb_light_is_refused_with_the_fix():
    image = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 1.0))
    target = stain_profile(image, tissue(image))
    with pytest.raises(ValueError, match="divide uint8 images by 255"):
        transfer_stains((image * 255).round().to(torch.uint8), target)
    with pytest.raises(ValueError, match="0–255 values.*divide by 255"):
        transfer_stains(image * 255, target)  # would come back white
    nan = image.clone()
    nan[0, 0, 3, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        stain_profile(nan)
    with pytest.raises(ValueError, match=r"batch tensor \[B, 3, H, W\].*image\[None\]"):
        stain_profile(image[0])
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
        transfer_stains(image, target, strength=3.0)
    with pytest.raises(ValueError, match=r"one per image \(2\)"):
        transfer_stains(image.expand(2, -1, -1, -1), target, strength=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"target must be stain profiles \[2 or 1, 3, 2\]"):
        transfer_stains(image.expand(2, -1, -1, -1), target.expand(3, -1, -1))
    # one target for the batch, in any float dtype, is every image's
    pair = torch.cat([image, two_stain_image(HAEMATOXYLIN, DAB, (1.0, 0.6), seed=3)])
    other = stain_profile(pair[1:], tissue(pair[1:]))
    torch.testing.assert_close(transfer_stains(pair, other.double()), transfer_stains(pair, other.expand(2, -1, -1)))


def test_tiny_images_and_float_tissue_masks_get_clear_errors():
    with pytest.raises(ValueError, match="at least 8x8"):
        stain_profile(torch.rand(1, 3, 0, 0))
    image = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 1.0))
    with pytest.raises(ValueError, match="bool mask"):
        stain_profile(image, tissue_weight(image))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_the_result_keeps_the_images_dtype_and_glass_keeps_its_exact_pixels(dtype):
    """As the Stylizer does: float64 images used to come back float32."""
    image = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 1.0), seed=2)
    image[..., :16] = 0.96  # a band of glass
    target = stain_profile(*(lambda s: (s, tissue(s)))(two_stain_image(HAEMATOXYLIN, DAB, (1.0, 0.6), seed=3)))
    given = image.to(dtype)
    moved = transfer_stains(given, target)
    assert moved.dtype == dtype
    assert torch.equal(moved[..., :12], given[..., :12])  # glass beyond the softened weight's reach
    reference = transfer_stains(given.float(), target)
    torch.testing.assert_close(moved.float(), reference, atol=float(torch.finfo(dtype).eps) * 2, rtol=0)


# -- views: each input's own stains read once ---------------------------------------------------------
def _crops01(histology_crops, count: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``count`` real H&E crops in 0–1, and a crop of glass (stains that cannot be read) last."""
    crops = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c in histology_crops[:count]]).to(dtype) / 255
    return torch.cat([crops, torch.full_like(crops[:1], 0.95)])


def _profiled_rows(monkeypatch) -> list[int]:
    """The rows of every stain profile the module computes (the inputs' own and the styles')."""
    rows, original = [], stain_transfer._profile

    def spy(od, *args):
        rows.append(od.shape[0])
        return original(od, *args)

    monkeypatch.setattr(stain_transfer, "_profile", spy)
    return rows


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_views_read_each_inputs_stains_once_and_are_the_repeated_batchs_pixels(histology_crops, dtype, monkeypatch):
    inputs, views = _crops01(histology_crops, 2, dtype), 3
    styles = _crops01(histology_crops[2:], 3).flip(0)
    profiles = stain_profile(styles, tissue(styles))  # the glass style's is NaN: its views keep the input's stains
    row = torch.arange(views * len(inputs))  # view-major: row r is input r % B's
    targets = profiles[(row + row // len(inputs)) % len(profiles)]  # each view another style per input
    strengths = torch.linspace(0.2, 1.0, views * len(inputs))
    rows = _profiled_rows(monkeypatch)
    for target, strength in [(targets, strengths), (targets, 0.6), (profiles[-1:], 1.0)]:
        rows.clear()
        fast = transfer_stains(inputs, target, strength, views=views)
        assert rows == [len(inputs)]  # not views * len(inputs)
        slow = transfer_stains(inputs.repeat(views, 1, 1, 1), target, strength)  # each view's row on its own
        assert fast.dtype == dtype and torch.equal(fast, slow)
        assert (fast - inputs.repeat(views, 1, 1, 1)).abs().amax() > 0.1
    with pytest.raises(ValueError, match=r"views must be a whole number .* got 0"):
        transfer_stains(inputs, targets, views=0)
    with pytest.raises(ValueError, match=r"target must be stain profiles \[9 or 1, 3, 2\]"):
        transfer_stains(inputs, targets[:4], views=views)


class _NewTensors(TorchDispatchMode):
    """The bytes of every tensor an op makes anew (not one it writes in place, nor a view)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = {t.untyped_storage().data_ptr() for t in pytree.tree_leaves((args, kwargs)) if torch.is_tensor(t)}
        made = [t.untyped_storage() for t in pytree.tree_leaves(out) if torch.is_tensor(t)]
        self.sizes += [s.nbytes() for s in made if s.data_ptr() not in given]
        return out


def test_views_take_the_memory_of_their_result_once_not_a_copy_of_the_input_per_view(histology_crops):
    # a user's k test-time views of a large batch: k copies of its optical density, or one
    # temporary per step of the change, each as large as the result, would take k or more
    # times the memory the k views themselves need
    inputs, views = _crops01(histology_crops, 2), 4
    targets = stain_profile(inputs, tissue(inputs)).roll(1, 0).repeat(views, 1, 1)
    with _NewTensors() as made:
        moved = transfer_stains(inputs, targets, 0.8, views=views)
    assert len([size for size in made.sizes if size >= moved.nbytes]) == 1  # the result's own memory


def test_views_carry_a_gradient_to_inputs_that_need_one(histology_crops):
    inputs, views = _crops01(histology_crops, 2), 3
    targets = stain_profile(inputs, tissue(inputs)).roll(1, 0).repeat(views, 1, 1)
    given = inputs.clone().requires_grad_()
    moved = transfer_stains(given, targets, 0.8, views=views)
    assert torch.equal(moved.detach(), transfer_stains(inputs, targets, 0.8, views=views))
    moved.sum().backward()  # autograd's saved steps were not overwritten in place
    assert given.grad is not None and torch.isfinite(given.grad).all() and given.grad.abs().amax() > 0


IMAGE_KINDS = ("real crop", "real crop, white and black bands", "glass", "black", "saturated colours")


def _image_of(kind: str, crops01: torch.Tensor, pick: int, top: int, left: int, level: float) -> torch.Tensor:
    """A ``[1, 3, 64, 64]`` image of a kind a user may backpropagate a transfer through."""
    if kind.startswith("real crop"):
        image = crops01[pick % len(crops01), :, top : top + 64, left : left + 64][None].clone()
        if kind.endswith("bands"):
            image[..., : 4 + top] = 1.0  # white glass, where the optical density is exactly 0
            image[..., -1 - left % 8 :, :] = 0.0
        return image
    if kind == "glass":
        return torch.full((1, 3, 64, 64), 0.9 + 0.1 * level)  # up to 1.0: white
    if kind == "black":
        return torch.full((1, 3, 64, 64), 0.05 * level)
    colours = torch.tensor([[(bits >> c) & 1 for c in range(3)] for bits in (pick, top)], dtype=torch.float32)
    image = colours[0].view(1, 3, 1, 1).repeat(1, 1, 64, 64)  # one flat colour, or two side by side
    image[..., int(64 * level) :] = colours[1].view(1, 3, 1, 1)
    return image


@settings(max_examples=10, deadline=None)
@given(
    kinds=st.lists(
        st.tuples(
            st.sampled_from(IMAGE_KINDS), st.integers(0, 7), st.integers(0, 32), st.integers(0, 64), st.floats(0, 1)
        ),
        min_size=1,
        max_size=3,
    ),
    views=st.integers(1, 2),
)
def test_gradients_through_a_transfer_are_finite_for_every_kind_of_image(histology_crops, kinds, views):
    """A training-time augmentation or an adversarial check backpropagates through the transfer:
    glass, flat and saturated colours (whose stains cannot be read) used to give NaN gradients
    (eigh's gradient at equal eigenvalues, inf * 0 in the profile), which poison a whole step."""
    crops01 = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c in histology_crops]).float() / 255
    images = torch.cat([_image_of(kind, crops01, *drawn) for kind, *drawn in kinds])
    targets = stain_profile(crops01).roll(len(kinds), 0)[torch.arange(views * len(images)) % len(crops01)]
    given = images.clone().requires_grad_()
    moved = transfer_stains(given, targets, 0.8, views=views)
    moved.sum().backward()
    assert torch.isfinite(given.grad).all()
    assert torch.equal(moved.detach(), transfer_stains(images, targets, 0.8, views=views))  # the same pixels
    # an image whose stains cannot be read comes back as it was: each view's gradient is the identity's
    # (inside 0-1: the clamp of the result passes none at its ends)
    unread = stain_profile(images).isnan().flatten(1).any(dim=1).view(-1, 1, 1, 1)
    inside = unread & (images > 0) & (images < 1)
    assert torch.equal(given.grad[inside], torch.full_like(given.grad[inside], views))


@pytest.mark.parametrize("transfer", ["stain", "stain+network"])
def test_tta_stain_views_read_each_inputs_stains_once_and_keep_their_pixels(
    small_stylizer, histology_crops, transfer, monkeypatch
):
    bank = StyleBank.from_images(histology_crops, small_stylizer)
    tta = StyleTTA(nn.Flatten(), small_stylizer, bank, n_styles=4, styles=[0, 1, 2, 3], transfer=transfer, strength=0.7)
    inputs = _crops01(histology_crops, 2)
    rows = torch.arange(4).repeat_interleave(len(inputs))  # view-major
    tta._views01(inputs, rows)  # the bank styles' stains, read once and kept
    profiled = _profiled_rows(monkeypatch)
    views = tta._views01(inputs, rows)
    assert profiled == [len(inputs)]  # was one profile per view: 4 * 3 rows
    repeated, targets = inputs.repeat(4, 1, 1, 1), tta._stain_targets(rows)
    if transfer == "stain":
        assert torch.equal(views, transfer_stains(repeated, targets, 0.7))
    else:
        moved = transfer_stains(repeated, targets)
        restyled = small_stylizer.stylize_batch(moved, bank.stream(rows, stylizer=small_stylizer))
        assert torch.equal(views, (repeated + 0.7 * (restyled - repeated)).clamp_(0, 1))


def test_stain_change_and_stain_profile_check_what_they_are_given():
    """``stain_change`` took uint8 (a change of 3e10) and 0–255 floats; a tissue mask of another size failed in
    torch."""
    image = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 0.6))
    profile = stain_profile(image)
    with pytest.raises(ValueError, match="got torch.uint8"):
        stain_transfer.stain_change((image * 255).to(torch.uint8), profile, profile)
    with pytest.raises(ValueError, match="outside 0–1"):
        stain_transfer.stain_change(image * 255, profile, profile)
    with pytest.raises(ValueError, match=r"target must be stain profiles \[1, 3, 2\]"):
        stain_transfer.stain_change(image, profile, profile[:, :, :1])
    with pytest.raises(ValueError, match=r"tissue must be a bool mask \[1, 1, 64, 64\].*\(1, 1, 32, 32\)"):
        stain_profile(image, tissue=torch.ones(1, 1, 32, 32, dtype=torch.bool))
    assert torch.equal(stain_transfer.stain_change(image, profile, profile), torch.zeros_like(image))


@pytest.mark.parametrize("scale", [1e3, 1e6, 1e30])
def test_a_huge_finite_target_gives_pixels_not_nan_and_keeps_the_glass(histology_paths, scale):
    """A target far past any stain's density overflowed the change to inf, and inf times the glass's zero weight
    was NaN (a real H&E crop: 1e6 times its own profile)."""
    image = np.asarray(Image.open(next(p for p in histology_paths if p.stem == "he_hgsc_nest")).convert("RGB"))
    values01 = torch.from_numpy(image[50:274, 200:424].copy()).permute(2, 0, 1)[None].float() / 255
    moved = transfer_stains(values01, stain_profile(values01) * scale)
    assert torch.isfinite(moved).all()
    glass = change_weight(tissue_weight(values01)) == 0  # the pixels a transfer keeps
    assert glass.any() and torch.equal(moved[glass.expand_as(moved)], values01[glass.expand_as(values01)])
