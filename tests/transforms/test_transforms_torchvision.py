"""StylizeTransform in torchvision v2 pipelines: kinds, targets, seeds, Normalize, workers."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from helpers import HISTOLOGY, make_small_model
from stylizing_vit_aug.hub import DefaultCheckpointMissing
from stylizing_vit_aug.transforms import _common
from stylizing_vit_aug.transforms.torchvision import StylizeTransform

MEAN = [0.5, 0.4, 0.6]
STD = [0.2, 0.25, 0.3]


@pytest.fixture
def image(histology_crops) -> torch.Tensor:
    return torch.from_numpy(histology_crops[0]).permute(2, 0, 1).contiguous()


def _kinds(image: torch.Tensor) -> list:
    return [
        Image.fromarray(image.permute(1, 2, 0).numpy()),
        image,
        image.float() / 255,
        tv_tensors.Image(image),
        torch.stack([image, image.flip(-1)]),
    ]


def test_p0_is_exact_identity_and_p1_changes_every_kind_keeping_kind_shape_dtype(small_stylizer, bank, image):
    identity = StylizeTransform(small_stylizer, bank, p=0.0)
    always = StylizeTransform(small_stylizer, bank, p=1.0)
    for inpt in _kinds(image):
        assert identity(inpt) is inpt
        out = always(inpt)
        assert type(out) is type(inpt)
        if isinstance(inpt, Image.Image):
            assert out.size == inpt.size and out.mode == inpt.mode
            assert not np.array_equal(np.asarray(out), np.asarray(inpt))
            continue
        assert out.shape == inpt.shape and out.dtype == inpt.dtype
        assert not torch.equal(out, inpt)
        if out.is_floating_point():
            assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_masks_boxes_keypoints_and_labels_pass_untouched(small_stylizer, bank, image):
    mask = tv_tensors.Mask(torch.randint(0, 3, image.shape[-2:]))
    boxes = tv_tensors.BoundingBoxes([[2, 3, 20, 30]], format="XYXY", canvas_size=image.shape[-2:])
    points = tv_tensors.KeyPoints([[5.0, 6.0]], canvas_size=image.shape[-2:])
    sample = {"image": tv_tensors.Image(image), "mask": mask, "boxes": boxes, "points": points, "label": 3}
    out = StylizeTransform(small_stylizer, bank, p=1.0)(sample)
    assert out["mask"] is mask and out["boxes"] is boxes and out["points"] is points and out["label"] == 3
    assert isinstance(out["image"], tv_tensors.Image) and not torch.equal(out["image"], sample["image"])


def test_same_seed_same_output_other_seed_different(small_stylizer, bank, image):
    transform = StylizeTransform(small_stylizer, bank, p=0.5, strength=(0.3, 1.0))

    def run(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return [transform(image) for _ in range(6)]

    first, again, other = run(0), run(0), run(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert any(torch.equal(out, image) for out in first + other)  # p=0.5 leaves some alone


def test_in_compose_before_and_after_to_image_and_to_dtype(small_stylizer, bank, image):
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    stylize = StylizeTransform(small_stylizer, bank, p=1.0)
    before = v2.Compose([stylize, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    middle = v2.Compose([v2.ToImage(), stylize, v2.ToDtype(torch.float32, scale=True)])
    after = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), stylize])
    for pipeline in (before, middle, after):
        torch.manual_seed(0)
        out = pipeline(pil)
        assert isinstance(out, tv_tensors.Image) and out.dtype == torch.float32 and out.shape == image.shape
    torch.manual_seed(0)
    uint8_path = middle(pil)
    torch.manual_seed(0)
    float_path = after(pil)
    assert float(torch.abs(uint8_path - float_path).max()) <= 1 / 255 + 1e-6  # same style, same result


def test_after_normalize_needs_the_statistics(small_stylizer, bank, image):
    to_float = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    plain = StylizeTransform(small_stylizer, bank, p=1.0)
    with pytest.raises(ValueError, match="after Normalize.*mean= and std="):
        v2.Compose([*to_float, v2.Normalize(MEAN, STD), plain])(image)
    told = StylizeTransform(small_stylizer, bank, p=1.0, mean=MEAN, std=STD)
    torch.manual_seed(0)
    normalised_path = v2.Compose([*to_float, v2.Normalize(MEAN, STD), told])(image)
    torch.manual_seed(0)
    reference = v2.Compose([*to_float, plain, v2.Normalize(MEAN, STD)])(image)
    torch.testing.assert_close(normalised_path, reference, atol=1e-4, rtol=0)


def test_bad_input_and_arguments_give_clear_errors(small_stylizer, bank, image):
    transform = StylizeTransform(small_stylizer, bank, p=1.0)
    with pytest.raises(ValueError, match="5 channels"):
        transform(torch.zeros(5, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN or Inf"):
        transform(torch.full((3, 32, 32), float("nan")))
    with pytest.raises(ValueError, match="at least 8x8"):
        transform(torch.zeros(3, 6, 6, dtype=torch.uint8))
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"p is a probability.*\[0, 1\]"):
            StylizeTransform(small_stylizer, bank, p=p)
    with pytest.raises(ValueError, match="strength"):
        StylizeTransform(small_stylizer, bank, strength=(0.9, 0.1))
    with pytest.raises(ValueError, match="give both mean and std"):
        StylizeTransform(small_stylizer, bank, mean=MEAN)
    with pytest.raises(TypeError, match="bank must be"):
        StylizeTransform(small_stylizer, bank=np.zeros(3))


def test_no_arguments_constructs_lazily_and_fails_at_first_use_without_default(tmp_path, monkeypatch):
    from stylizing_vit_aug import hub

    monkeypatch.setattr(hub, "BUNDLED_WEIGHTS_DIR", tmp_path)  # as shipped today: no default weights
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    transform = StylizeTransform(p=1.0)  # construction touches no model and no file
    with pytest.raises(DefaultCheckpointMissing, match="not shipped"):
        transform(torch.zeros(3, 32, 32, dtype=torch.uint8))
    assert StylizeTransform().p == 0.5


def test_no_arguments_uses_the_bundled_default_and_sample_styles_once_they_ship(tmp_path, monkeypatch):
    from stylizing_vit_aug import hub

    hub.save_pretrained(make_small_model(), tmp_path / "weights", mean=MEAN, std=(0.2, 0.2, 0.2))
    monkeypatch.setattr(hub, "BUNDLED_WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    transform = StylizeTransform(p=1.0)
    image = torch.randint(0, 256, (3, 40, 56), dtype=torch.uint8)
    torch.manual_seed(0)
    out = transform(image)
    assert out.shape == image.shape and out.dtype == torch.uint8 and not torch.equal(out, image)
    assert transform.stylizer.source == "default"
    assert set(transform.bank.domain_names) == {p.stem for p in HISTOLOGY.glob("*.jpg")}


def test_source_strings_load_once_per_process_and_pickle_small(saved, image, monkeypatch):
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    checkpoint, bank_path = saved
    first = StylizeTransform(checkpoint, bank_path, p=1.0)
    second = StylizeTransform(checkpoint, bank_path, p=1.0)
    torch.manual_seed(0)
    out = first(image)
    second(image)
    assert first.stylizer is second.stylizer and first.bank is second.bank
    payload = pickle.dumps(first)
    assert len(payload) < 20_000  # sources, not weights or streams
    clone = pickle.loads(payload)
    torch.manual_seed(0)
    assert torch.equal(clone(image), out)


class _Images(Dataset):
    def __init__(self, images: torch.Tensor, transform: StylizeTransform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), index


@pytest.mark.slow
def test_dataloader_with_a_spawn_worker(saved, histology_crops):
    """The suite's one spawned worker (~5 s of imports): the transform travels as its sources and
    settings and loads its stylizer there (forked workers: tests/transforms/test_transforms_monai.py)."""
    checkpoint, bank_path = saved
    images = torch.from_numpy(np.stack(histology_crops[:4])).permute(0, 3, 1, 2).contiguous()
    dataset = _Images(images, StylizeTransform(checkpoint, bank_path, p=1.0, mode="detail"))  # mode travels too
    loader = DataLoader(dataset, batch_size=2, num_workers=1, multiprocessing_context="spawn")
    batches = list(loader)
    stylised = torch.cat([b[0] for b in batches])
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.arange(4))
    assert stylised.shape == images.shape and stylised.dtype == torch.uint8
    assert all(not torch.equal(a, b) for a, b in zip(stylised, images))


def test_a_video_passes_untouched_with_a_warning_saying_how_to_stylise_it(small_stylizer, bank):
    transform = StylizeTransform(small_stylizer, bank, p=1.0)
    frames = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    video = tv_tensors.Video(frames)
    with pytest.warns(UserWarning, match=r"tv_tensors\.Video untouched.*as_subclass\(torch\.Tensor\)"):
        assert torch.equal(transform(video), video)
    styled = transform(video.as_subclass(torch.Tensor))  # what the warning says: every frame styled
    assert all(not torch.equal(a, b) for a, b in zip(styled, frames))


def test_numpy_images_pass_untouched_with_a_warning_saying_how_to_convert(small_stylizer, bank):
    transform = StylizeTransform(small_stylizer, bank, p=1.0)
    array = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"numpy arrays untouched.*v2.ToImage\(\)"):
        assert transform(array) is array
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an image beside a numpy mask: no warning, the image is styled
        out, mask = transform(tensor, np.zeros((32, 32)))
    assert not torch.equal(out, tensor)
    sample = {"image": array, "mask": tv_tensors.Mask(torch.zeros(32, 32)),
              "boxes": tv_tensors.BoundingBoxes([[1, 2, 9, 9]], format="XYXY", canvas_size=(32, 32))}
    with pytest.warns(UserWarning, match="numpy arrays untouched"):  # a mask or boxes are no image to stylise
        assert transform(sample)["image"] is array


@pytest.mark.parametrize("mode", ["P", "PA", "CMYK", "RGBX", "YCbCr", "HSV", "LAB", "1", "La", "RGBa"])
def test_a_pil_image_comes_back_in_one_mode_whether_the_call_fires_or_not(small_stylizer, bank, image, mode):
    """A fired call gave such an image back converted (P as RGB, YCbCr as RGB), an unfired one as it was: a batch
    of them failed to collate, or (YCbCr, HSV, LAB: same shape) silently mixed colour spaces by the draw."""
    rgb = Image.fromarray(image.permute(1, 2, 0).numpy())
    given = rgb.convert("RGBA").convert(mode) if mode in ("PA", "La", "RGBa") else rgb.convert(mode)
    fired = StylizeTransform(small_stylizer, bank, p=1.0, strength=0.0)(given)
    unfired = StylizeTransform(small_stylizer, bank, p=0.0)(given)
    assert fired.mode != mode and unfired.mode == fired.mode and unfired.size == given.size
    assert np.array_equal(np.asarray(unfired), np.asarray(fired))  # strength 0: the same pixels, read one way


@pytest.mark.parametrize("composed", [False, True])
@pytest.mark.parametrize("kind", ["numpy", "video"])
def test_the_untouched_input_warnings_point_at_the_users_line(small_stylizer, bank, composed, kind):
    """Called directly (through torch's Module.__call__) or inside v2.Compose, the warning names the line
    that called the transform, where the fix goes, not torch's or torchvision's code."""
    transform = StylizeTransform(small_stylizer, bank, p=1.0)
    call = v2.Compose([transform]) if composed else transform
    image = np.zeros((32, 32, 3), np.uint8) if kind == "numpy" else tv_tensors.Video(torch.zeros(2, 3, 32, 32))
    with pytest.warns(UserWarning, match="untouched") as caught:
        call(image)
    assert [w.filename for w in caught] == [__file__]


def test_integers_with_the_statistics_of_a_normalize_are_refused_on_every_call(small_stylizer, bank):
    """Placed before ToDtype/Normalize with mean=/std=: refused only when a draw fired, so mid-epoch (BatchStylize
    refused it on every call)."""
    images = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    for p in (0.0, 1.0):
        with pytest.raises(ValueError, match="mean/std were given but the images are not float"):
            StylizeTransform(small_stylizer, bank, p=p, mean=MEAN, std=STD)(images)


def test_a_pil_image_with_the_statistics_of_a_normalize_is_refused(small_stylizer, bank):
    """No Normalize makes a PIL image: the statistics were ignored without a word, at any p (a review)."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    for p in (0.0, 1.0):
        with pytest.raises(ValueError, match="mean/std were given but the images are Image, not a normalised tensor"):
            StylizeTransform(small_stylizer, bank, p=p, mean=MEAN, std=STD)(image)
