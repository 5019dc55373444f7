"""RandStylize / RandStylized with real MONAI objects: seeds, kinds, MetaTensor, keys, loaders.

The public names and the import without MONAI: tests/transforms/test_front_end_base.py."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("monai")

from monai.data import CacheDataset, DataLoader, Dataset, MetaTensor, ThreadDataLoader  # noqa: E402
from monai.data.utils import list_data_collate as monai_collate  # noqa: E402
from monai.transforms import Compose, EnsureChannelFirstd, Flipd, RandFlipd, RandRotate90d, Resize  # noqa: E402

import stylizing_vit_aug as sva  # noqa: E402
from helpers import examples, float64_slides  # noqa: E402
from stylizing_vit_aug.images import ImageError  # noqa: E402
from stylizing_vit_aug.transforms import _common  # noqa: E402
from stylizing_vit_aug.transforms.monai import RandStylize, RandStylized  # noqa: E402

# the shared fixtures' profile (no deadline; 20x the cases under HYPOTHESIS_PROFILE=long); the small
# function-scoped fixtures are safe to reuse across generated cases
FIXTURES_ACROSS_EXAMPLES = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def chw(histology_crops) -> np.ndarray:
    """A real uint8 histology crop, channel-first ``(3, 96, 128)`` as MONAI holds images."""
    return np.ascontiguousarray(np.moveaxis(histology_crops[0], -1, 0))


def _meta_image(chw: np.ndarray) -> MetaTensor:
    affine = torch.diag(torch.tensor([0.5, 0.5, 1.0, 1.0], dtype=torch.float64))
    affine[:2, 3] = torch.tensor([10.0, -4.0], dtype=torch.float64)
    meta = {"filename_or_obj": "slide_7.png", "spacing": 0.5}
    return MetaTensor(torch.from_numpy(chw).float() / 255, affine=affine, meta=meta)


def _kind(chw: np.ndarray, kind: str, channels: int) -> np.ndarray | torch.Tensor:
    image = chw[:channels]
    return {
        "numpy_uint8": lambda: image.copy(),
        "numpy_uint16": lambda: image.astype(np.uint16) * 257,
        "numpy_float32": lambda: image.astype(np.float32) / 255,
        "numpy_float64": lambda: image.astype(np.float64) / 255,
        "numpy_float32_flipped": lambda: (image.astype(np.float32) / 255)[:, ::-1],  # negative strides, as np.flip
        "numpy_uint8_readonly": lambda: np.lib.stride_tricks.as_strided(image.copy(), writeable=False),
        "torch_uint8": lambda: torch.from_numpy(image.copy()),
        "torch_float32": lambda: torch.from_numpy(image.copy()).float() / 255,
        "torch_float16": lambda: (torch.from_numpy(image.copy()).float() / 255).half(),
        "meta_float32": lambda: MetaTensor(torch.from_numpy(image.copy()).float() / 255, meta={"id": 1}),
        "meta_uint8": lambda: MetaTensor(torch.from_numpy(image.copy()), meta={"id": 1}),
    }[kind]()


def _equal(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b)) if isinstance(a, np.ndarray) else torch.equal(a, b)


KINDS = ["numpy_uint8", "numpy_uint16", "numpy_float32", "numpy_float64", "numpy_float32_flipped",
         "numpy_uint8_readonly", "torch_uint8", "torch_float32", "torch_float16", "meta_float32", "meta_uint8"]


@pytest.mark.parametrize("kind", KINDS)
@settings(FIXTURES_ACROSS_EXAMPLES, max_examples=examples(3))
@given(channels=st.sampled_from([1, 3]), crop=st.tuples(st.integers(16, 96), st.integers(16, 128)))
def test_prob0_identity_prob1_changes_keeping_type_dtype_shape(small_stylizer, bank, chw, kind, channels, crop):
    image = _kind(chw[:, : crop[0], : crop[1]], kind, channels)
    assert RandStylize(small_stylizer, bank, prob=0.0)(image) is image
    out = RandStylize(small_stylizer, bank, prob=1.0)(image)
    assert type(out) is type(image) and out.dtype == image.dtype and tuple(out.shape) == tuple(image.shape)
    assert not _equal(out, image)
    if kind.startswith("numpy"):
        assert out.flags.c_contiguous
    if "float32" in kind or "float64" in kind:
        assert float(out.min()) >= 0 and float(out.max()) <= 1
    if isinstance(image, MetaTensor):
        assert out.meta["id"] == 1


def test_prob_is_the_fraction_stylised_and_randomize_loads_nothing(saved, monkeypatch):
    from stylizing_vit_aug.transforms import _common

    def no_loading(*args, **kwargs):
        raise AssertionError("randomize loaded the stylizer")

    monkeypatch.setattr(_common, "get_stylizer", no_loading)
    checkpoint, bank_path = saved
    transform = RandStylize(checkpoint, bank_path, prob=0.3).set_random_state(1)
    applied = []
    for _ in range(2000):
        transform.randomize()  # draws numbers only: the style is picked from the drawn seed at call time
        applied.append(transform._do_transform)
    assert 0.26 < np.mean(applied) < 0.34


@settings(FIXTURES_ACROSS_EXAMPLES, max_examples=examples(3))
@given(seed=st.integers(0, 2**32 - 1))
def test_compose_set_random_state_repeats_exactly(small_stylizer, bank, chw, seed):
    samples = [{"image": _meta_image(chw[:, i * 16 : i * 16 + 48]), "label": i} for i in range(3)]

    def run(seed: int) -> list[torch.Tensor]:
        pipeline = Compose([
            RandFlipd("image", prob=0.5, spatial_axis=1),
            RandStylized("image", small_stylizer, bank, prob=0.7, strength=(0.3, 1.0), style_crop=0.7),
        ]).set_random_state(seed)
        return [pipeline(dict(s))["image"].as_tensor() for s in samples]

    first = run(seed)
    assert all(torch.equal(a, b) for a, b in zip(first, run(seed)))
    assert not all(torch.equal(a, b) for a, b in zip(first, run(seed + 1)))


def test_strength_range_style_and_apply_come_from_self_R(small_stylizer, bank, chw):
    transform = RandStylize(small_stylizer, bank, prob=1.0, strength=(0.2, 0.9), strategy="balanced")
    transform.set_random_state(3)
    draws = []
    for _ in range(50):
        transform.randomize()
        draws.append((transform._strength, transform._style_seed))
    strengths = [s for s, _ in draws]
    assert 0.2 <= min(strengths) and max(strengths) <= 0.9 and len(set(draws)) == 50
    torch.manual_seed(123)  # torch's global generator plays no part
    transform.set_random_state(3)
    out = transform(chw)
    torch.manual_seed(999)
    assert _equal(transform.set_random_state(3)(chw), out)


def test_the_dictionary_transform_seeds_its_array_transform_apart_yet_repeatably(small_stylizer, bank, chw):
    def seeded(seed: int) -> RandStylized:
        return RandStylized("image", small_stylizer, bank, prob=0.5, strength=(0.2, 0.9)).set_random_state(seed)

    transform = seeded(0)
    outer, inner = transform.R.random_sample(8), transform.array_transform.R.random_sample(8)
    assert not np.array_equal(outer, inner)  # apart: the apply draw is not the style's and strength's
    image = np.ascontiguousarray(chw[:, :48, :48])
    first, second = seeded(0), seeded(0)
    runs = [[t({"image": image})["image"] for _ in range(6)] for t in (first, second)]
    assert all(np.array_equal(a, b) for a, b in zip(*runs))  # yet one seed repeats the draws exactly
    assert any(not np.array_equal(out, image) for out in runs[0])


def test_metatensor_keeps_metadata_affine_and_applied_operations_and_stays_invertible(small_stylizer, bank, chw):
    pipeline = Compose([
        Flipd("image", spatial_axis=0),
        RandRotate90d(["image", "seg"], prob=1.0, max_k=3),
        RandStylized("image", small_stylizer, bank, prob=1.0),
    ])
    image = _meta_image(chw)
    seg = MetaTensor(torch.from_numpy((chw[:1] < 180).astype(np.uint8)), affine=image.affine.clone())
    before = Compose(pipeline.transforms[:2]).set_random_state(0)({"image": image.clone(), "seg": seg.clone()})
    out = pipeline.set_random_state(0)({"image": image, "seg": seg, "label": 2, "case": "slide_7"})
    stylised = out["image"]
    assert isinstance(stylised, MetaTensor) and stylised.dtype == torch.float32
    assert torch.equal(stylised.affine, before["image"].affine)
    assert stylised.meta["filename_or_obj"] == "slide_7.png" and stylised.meta["spacing"] == 0.5
    classes = [op["class"] for op in stylised.applied_operations]
    assert classes == [op["class"] for op in before["image"].applied_operations] and len(classes) == 2
    assert not torch.equal(stylised.as_tensor(), before["image"].as_tensor())
    assert torch.equal(out["seg"], before["seg"]) and out["label"] == 2 and out["case"] == "slide_7"
    inverted = pipeline.inverse(out)  # nothing of ours on the stack: flips and rotations undo cleanly
    assert inverted["image"].shape == image.shape and torch.equal(inverted["seg"].as_tensor(), seg.as_tensor())
    assert inverted["image"].applied_operations == []


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_the_torchvision_transform_keeps_a_metatensor_on_every_draw(small_stylizer, bank, chw, p):
    """``StylizeTransform`` in a MONAI pipeline: a stylised MetaTensor kept its pixels only (a plain tensor), a
    skipped one all, so a batch mixed both and MONAI's collate failed or reset the spacing, by the draw."""
    image = _meta_image(chw)
    out = sva.StylizeTransform(small_stylizer, bank, p=p)(image)
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, image.affine)
    assert out.meta["filename_or_obj"] == "slide_7.png" and out.applied_operations == []
    assert torch.equal(out.as_tensor(), image.as_tensor()) == (p == 0.0)
    batch = monai_collate([out, _meta_image(chw)])
    assert batch.affine.shape == (2, 4, 4) and torch.equal(batch.affine[0], image.affine)


def test_other_keys_are_the_same_objects_and_every_key_gets_one_style(small_stylizer, bank, chw):
    label = np.array([1])
    seg = torch.zeros(1, 96, 128, dtype=torch.uint8)
    image = torch.from_numpy(chw)
    sample = {"image": image, "view": image.clone(), "seg": seg, "label": label}
    out = RandStylized(["image", "view"], small_stylizer, bank, prob=1.0).set_random_state(5)(sample)
    assert out["seg"] is seg and out["label"] is label and sample["image"] is image
    assert torch.equal(out["image"], out["view"]) and not torch.equal(out["image"], image)


def test_allow_missing_keys(small_stylizer, bank, chw):
    sample = {"image": chw}
    out = RandStylized(["image", "other"], small_stylizer, bank, prob=1.0, allow_missing_keys=True)(sample)
    assert set(out) == {"image"} and not _equal(out["image"], chw)
    with pytest.raises(KeyError):
        RandStylized(["image", "other"], small_stylizer, bank, prob=1.0)(sample)


def test_value_range_handles_float_0_255_after_loadimage(small_stylizer, bank, chw):
    unit = chw.astype(np.float32) / 255
    expected = RandStylize(small_stylizer, bank, prob=1.0).set_random_state(0)(unit)
    for image in (chw.astype(np.float32), MetaTensor(torch.from_numpy(chw).float(), meta={"id": 3})):
        out = RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 255)).set_random_state(0)(image)
        assert type(out) is type(image) and out.dtype == image.dtype
        np.testing.assert_allclose(np.asarray(out), expected * 255, atol=1e-3)
    uint8 = RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 255)).set_random_state(0)(chw)
    assert uint8.dtype == np.uint8  # an integer image comes back in its dtype


@pytest.mark.parametrize(("dtype", "high"), [(np.uint16, 4095), (np.uint16, 1023), (np.uint8, 255)])
def test_value_range_applies_to_integer_images_too(small_stylizer, bank, chw, dtype, high):
    # 12-bit (or 10-bit) data held in uint16: stylised on its own range, not the type's 0-65535
    image = np.round(chw.astype(np.float64) / 255 * high).astype(dtype)
    out = RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, high)).set_random_state(0)(image)
    as_floats = RandStylize(small_stylizer, bank, prob=1.0).set_random_state(0)(image.astype(np.float32) / high)
    assert out.dtype == dtype and out.shape == image.shape
    assert out.max() <= high and not np.array_equal(out, image)
    # the float image's result on the range's scale: integers take the engine's conversion of their dtype, which the
    # other front-ends share bit for bit (test_value_range_parity.py); a float image's path may round a unit apart
    assert np.abs(out.astype(np.int64) - np.clip(np.rint(as_floats * high), 0, high)).max() <= 1
    with pytest.raises(ValueError, match="outside value_range"):  # values beyond the range are an error
        RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, high // 2))(image)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_integer_values_a_little_past_value_range_are_refused_not_clipped(small_stylizer, bank, chw, kind):
    """A resize's overshoot is clamped in float images; integer pixels were not resampled, so 4900 in
    "12-bit" data means the range is wrong (13-bit data), and clipping it would saturate silently, as the
    other front-ends refuse it."""
    image = np.round(chw.astype(np.float64) / 255 * 4095).astype(np.uint16)
    image[0, 0, 0] = 4900  # within a resize's margin (20 % of the span), yet an integer
    if kind == "torch":
        image = torch.from_numpy(image.astype(np.int32)).to(torch.uint16)
    with pytest.raises(ValueError, match=r"values in \[\d+, 4900\], outside value_range=\(0(\.0)?, 4095(\.0)?\)"):
        RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 4095))(image)


def test_mode_is_passed_to_the_stylizer(small_stylizer, bank, chw):
    outputs = {
        mode: RandStylize(small_stylizer, bank, prob=1.0, mode=mode).set_random_state(0)(chw)
        for mode in ("detail", "resize")
    }
    assert not np.array_equal(outputs["detail"], outputs["resize"])
    assert np.array_equal(outputs["detail"], RandStylize(small_stylizer, bank, prob=1.0).set_random_state(0)(chw))


def test_errors_say_what_to_do(small_stylizer, bank, chw):
    always = RandStylize(small_stylizer, bank, prob=1.0)
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\)"):
        always(chw.astype(np.float32))
    with pytest.raises(ValueError, match="outside value_range"):
        RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 100))(chw.astype(np.float32))
    with pytest.raises(ValueError, match="put RandStylize first"):
        always(torch.from_numpy(chw).float() / 255 - 0.5)
    nan = torch.from_numpy(chw).float() / 255
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        always(nan)
    with pytest.raises(ValueError, match=r"2D channel-first images \(C, H, W\).*slice by slice"):
        always(torch.rand(1, 32, 32, 8))
    with pytest.raises(ValueError, match=r"got shape \(32, 32\)\. Add the channel axis: EnsureChannelFirst"):
        always(torch.rand(32, 32))  # a 2D image without its channel axis: told to slice a volume
    with pytest.raises(ImageError, match="channels"):
        always(torch.rand(5, 32, 32))
    with pytest.raises(TypeError, match="numpy array"):
        always([chw])
    for bad in (dict(prob=1.5), dict(prob=True), dict(strength=(0.9, 0.1)), dict(strategy="other_domain"),
                dict(mode="fast"), dict(style_crop=0), dict(value_range=(5, 5)), dict(value_range="0-255")):
        with pytest.raises(ValueError):
            RandStylized("image", small_stylizer, bank, **bad)
    with pytest.raises(TypeError, match="stylizer"):
        RandStylized("image", stylizer=3)


def test_top_level_name_with_sources_pickles_small_and_loads_once(saved, chw, monkeypatch):
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    checkpoint, bank_path = saved
    first = sva.RandStylized(keys="image", stylizer=checkpoint, bank=bank_path, prob=1.0, mode="detail")
    second = sva.RandStylized(keys="image", stylizer=checkpoint, bank=bank_path, prob=1.0, mode="detail")
    out = first.set_random_state(0)({"image": chw})["image"]
    second({"image": chw})
    assert first.stylizer is second.stylizer and first.bank is second.bank and len(_common._STYLIZERS) == 1
    payload = pickle.dumps(first)
    assert len(payload) < 20_000  # sources, not weights or streams
    assert _equal(pickle.loads(payload).set_random_state(0)({"image": chw})["image"], out)


def _record_process(sample: dict) -> dict:
    return {**sample, "pid": os.getpid(), "loaded": len(_common._STYLIZERS)}


# forked workers: a spawned worker would import torch and MONAI again (~10 s); that the transform
# pickles as its sources is checked above, and a spawned DataLoader worker in the torchvision tests
@pytest.mark.parametrize("dataset_type", [Dataset, CacheDataset])
def test_dataset_and_cache_dataset_in_a_dataloader_with_two_workers(saved, histology_crops, monkeypatch, dataset_type):
    monkeypatch.setattr(_common, "_STYLIZERS", {})  # forked workers start from this empty cache too
    checkpoint, bank_path = saved
    data = [{"image": crop, "label": i} for i, crop in enumerate(histology_crops[:4])]
    pipeline = Compose([
        EnsureChannelFirstd("image", channel_dim=-1),  # deterministic: CacheDataset caches up to here
        RandStylized("image", checkpoint, bank_path, prob=1.0, mode="detail"),  # mode travels to the workers
        _record_process,
    ])
    options = {"progress": False} if dataset_type is CacheDataset else {}
    dataset = dataset_type(data, pipeline, **options)
    batches = list(DataLoader(dataset, batch_size=2, num_workers=2, multiprocessing_context="fork"))
    images = torch.cat([b["image"] for b in batches])
    assert isinstance(images, MetaTensor) and images.shape == (4, 3, 96, 128) and images.dtype == torch.uint8
    assert torch.equal(torch.cat([b["label"] for b in batches]), torch.arange(4))
    originals = torch.from_numpy(np.stack(histology_crops[:4])).permute(0, 3, 1, 2)
    assert all(not torch.equal(a, b) for a, b in zip(images.as_tensor(), originals))
    pids = torch.cat([b["pid"] for b in batches]).tolist()
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert torch.cat([b["loaded"] for b in batches]).tolist() == [1, 1, 1, 1]  # once per worker process
    assert _common._STYLIZERS == {}  # and never in the main process


def test_thread_dataloader_repeats_with_its_generator(small_stylizer, bank, histology_crops):
    data = [
        {"image": np.ascontiguousarray(np.moveaxis(crop, -1, 0)), "label": i} for i, crop in enumerate(histology_crops)
    ]
    pipeline = Compose([RandStylized("image", small_stylizer, bank, prob=0.5, strength=(0.5, 1.0))])

    def epoch(seed: int) -> torch.Tensor:  # MONAI's loaders seed the transforms from their generator
        generator = torch.Generator().manual_seed(seed)
        loader = ThreadDataLoader(Dataset(data, pipeline), batch_size=2, num_workers=0, generator=generator)
        return torch.cat([batch["image"] for batch in loader])

    first = epoch(0)
    assert first.shape == (5, 3, 96, 128) and first.dtype == torch.uint8
    assert torch.equal(first, epoch(0)) and not torch.equal(first, epoch(1))


def test_thread_workers_share_one_lazily_loaded_stylizer(saved, histology_crops, monkeypatch):
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    checkpoint, bank_path = saved
    data = [{"image": np.ascontiguousarray(np.moveaxis(crop, -1, 0))} for crop in histology_crops]
    transform = RandStylized("image", checkpoint, bank_path, prob=1.0, mode="detail")
    loader = ThreadDataLoader(Dataset(data, transform), batch_size=1, num_workers=2, use_thread_workers=True)
    images = torch.cat([batch["image"] for batch in loader])
    assert images.shape == (5, 3, 96, 128) and len(_common._STYLIZERS) == 1


def test_channels_last_arrays_get_the_monai_fix(small_stylizer, bank):
    with pytest.raises(ValueError, match=r"looks channels-last \(H, W, C\).*EnsureChannelFirst"):
        RandStylize(small_stylizer, bank, prob=1.0)(np.zeros((40, 48, 3), dtype=np.uint8))


# -- every call is checked; 0–1 floats under a 0–255 value_range; channels; reprs -------------------
def _nearly_black_tile(ones: np.ndarray, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """An 8-bit tile of black (0) and a few pixels at 1, as floats in 0–255 units after MONAI's
    LoadImage, resized as ``Resize`` does it: fractions between 0 and 1, nothing above 1."""
    tile = torch.from_numpy(ones.astype(np.float32))[None]
    return torch.nn.functional.interpolate(tile, size=size, mode=interpolation)[0]


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_float_images_already_in_0_1_under_value_range_0_255_are_refused(small_stylizer, bank, chw, prob):
    """ScaleIntensity before RandStylize(value_range=(0, 255)): stylised as given they would be
    nearly black and come back as garbage. Refused, fired or not, saying why and what to do."""
    transform = RandStylize(small_stylizer, bank, prob=prob, value_range=(0, 255))
    for unit in (chw.astype(np.float32) / 255, torch.from_numpy(chw).float() / 255,
                 MetaTensor(torch.from_numpy(chw).float() / 255), chw.astype(np.float32) / 510):
        with pytest.raises(ValueError, match=r"look already scaled to 0–1, e\.g\. by ScaleIntensity.*leave "
                                             r"value_range out.*before the scaling"):
            transform(unit)
    ones = np.zeros((3, 64, 64), np.uint8)
    ones[:, 10, 21] = 1  # a black tile with one pixel at level 1, resized by 0.75: fractions, the largest 0.25
    nearly_black = _nearly_black_tile(ones, (48, 48), "bilinear")
    assert 0 < nearly_black.max() < 1
    for passes in (np.zeros_like(chw, dtype=np.float32), (chw > 128).astype(np.float32), chw.astype(np.float32),
                   nearly_black, nearly_black.numpy()):
        out = transform(passes)  # black tiles, 0/1 masks and real 0–255 floats read the same either way
        assert out.shape == passes.shape and out.dtype == passes.dtype


def _tissue_window(crop: np.ndarray, corner: tuple[float, float], side: int) -> np.ndarray:
    """A ``side`` x ``side`` window of a bundled crop, channel-first uint8, at relative ``corner``."""
    top, left = (int(f * (n - side)) for f, n in zip(corner, crop.shape[:2]))
    return np.ascontiguousarray(np.moveaxis(crop[top : top + side, left : left + side], -1, 0))


@settings(FIXTURES_ACROSS_EXAMPLES, max_examples=examples(20))
@given(which=st.integers(0, 4), corner=st.tuples(st.floats(0, 1), st.floats(0, 1)), side=st.integers(32, 96),
       scale=st.floats(0.5, 1.0), high=st.sampled_from([255.0, 4095.0, 65535.0]), as_torch=st.booleans())
def test_tiles_of_tissue_in_0_1_are_refused_and_the_same_pixels_in_range_pass(
    small_stylizer, bank, histology_crops, which, corner, side, scale, high, as_torch
):
    """Any window of real tissue scaled to 0–1 (dimmed by up to half, as a brightness jitter does)
    is refused under a value_range; the same pixels on the range's scale pass."""
    transform = RandStylize(small_stylizer, bank, prob=0.0, value_range=(0, high))
    unit = _tissue_window(histology_crops[which], corner, side).astype(np.float32) / 255 * scale
    unit = torch.from_numpy(unit) if as_torch else unit
    with pytest.raises(ValueError, match="already scaled to 0–1"):
        transform(unit)
    assert transform(unit * high) is not None


@settings(FIXTURES_ACROSS_EXAMPLES, max_examples=examples(20))
@given(seed=st.integers(0, 2**16), share=st.floats(0.001, 0.08), side=st.integers(16, 200),
       interpolation=st.sampled_from(["bilinear", "area", "nearest"]), as_numpy=st.booleans())
def test_nearly_black_tiles_in_0_255_units_pass_after_any_resize(
    small_stylizer, bank, seed, share, side, interpolation, as_numpy
):
    """A black 8-bit tile with a few pixels at 1 (up to 8 %), resized to any size by an
    interpolation that stays within its values: fractions up to 1, but a legitimate 0–255 image,
    never refused. (Bicubic undershoots below 0, which the range check judges on its own.)"""
    rng = np.random.default_rng(seed)
    ones = (rng.random((3, 64, 64)) < share).astype(np.uint8)
    tile = _nearly_black_tile(ones, (side, side), interpolation)
    out = RandStylize(small_stylizer, bank, prob=0.0, value_range=(0, 255))(tile.numpy() if as_numpy else tile)
    assert out.shape == (3, side, side)


def test_misplaced_or_broken_input_fails_at_prob_0_too(small_stylizer, bank, chw):
    """A rare draw must not be the first to find a normalised or NaN image hours into a run: the
    check (and message) of a fired call runs on every call."""
    nan = chw.astype(np.float32) / 255
    nan[0, 0, 0] = np.nan
    cases = [(chw.astype(np.float32) / 255 - 0.5, "put RandStylize first"), (nan, "NaN"),
             (chw.astype(np.float32), r"value_range=\(0, 255\)"), (chw.astype(np.int16), "value_range=")]
    for image, match in cases:
        messages = []
        for prob in (0.0, 1.0):
            with pytest.raises(ValueError, match=match) as error:
                RandStylize(small_stylizer, bank, prob=prob)(image)
            messages.append(str(error.value))
            with pytest.raises(ValueError, match=match) as error:
                RandStylized(["image", "view"], small_stylizer, bank, prob=prob)({"image": chw, "view": image})
            messages.append(str(error.value))
        assert len(set(messages)) == 1


def test_integer_images_get_messages_in_their_own_terms(small_stylizer, bank, chw):
    with pytest.raises(ValueError, match=r"got int16 images: without value_range= .*Pass value_range=\(low, high\)"):
        RandStylize(small_stylizer, bank, prob=1.0)(chw.astype(np.int16))
    with pytest.raises(ValueError, match=r"got torch\.int32 images"):
        RandStylize(small_stylizer, bank, prob=1.0)(torch.from_numpy(chw).int())
    outside = r"got uint8 images with values in \[\d+, 2\d\d\], outside value_range"
    with pytest.raises(ValueError, match=outside) as error:
        RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 100))(chw)
    assert "float" not in str(error.value)
    out = RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 255))(chw.astype(np.int16))
    assert out.dtype == np.int16 and out.shape == chw.shape


def test_two_channels_are_refused_and_four_carry_alpha(small_stylizer, bank, chw):
    with pytest.raises(ImageError, match=r"2-channel image .*two modalities, not gray\+alpha"):
        RandStylize(small_stylizer, bank, prob=0.0)(chw[:2])
    alpha = np.arange(96 * 128, dtype=np.uint8).reshape(1, 96, 128)
    rgba = np.concatenate([chw, alpha])
    out = RandStylize(small_stylizer, bank, prob=1.0).set_random_state(0)(rgba)
    assert np.array_equal(out[3], rgba[3]) and not np.array_equal(out[:3], chw)  # alpha carried, colour stylised
    assert "4 (RGBA: the 4th channel is alpha" in RandStylize.__doc__


def test_reprs_say_what_the_transforms_do(small_stylizer, bank):
    array = RandStylize(small_stylizer, bank, prob=0.3, strength=(0.2, 0.6), value_range=(0, 255))
    dictionary = RandStylized(["image", "view"], small_stylizer, bank, prob=0.4, style_crop=0.5)
    objects = "stylizer=in memory, bank=in memory (5 styles)"
    assert repr(array) == (f"RandStylize(prob=0.3, strength=(0.2, 0.6), mode=None, {objects}, styles=bank (uniform), "
                           "value_range=(0.0, 255.0))")
    assert repr(dictionary) == ("RandStylized(keys=['image', 'view'], prob=0.4, strength=(1.0, 1.0), mode=None, "
                                f"{objects}, styles=bank (uniform), style_crop=0.5, value_range=None)")


def test_prob_and_strength_are_keyword_only_as_in_every_front_end(small_stylizer, bank):
    """RandStylize(st, b, 0.5) would set prob where AlbumentationsStylize's third argument was strength."""
    with pytest.raises(TypeError, match="positional argument"):
        RandStylize(small_stylizer, bank, 0.5)
    with pytest.raises(TypeError, match="positional argument"):
        RandStylized("image", small_stylizer, bank, 0.5)


def test_a_tensor_that_requires_grad_is_told_the_stylised_image_carries_none(small_stylizer, bank, chw):
    image = torch.from_numpy(chw).float().div(255).requires_grad_(True)
    with pytest.warns(UserWarning, match="^RandStylize: the stylizer runs without autograd"):
        out = RandStylize(small_stylizer, bank, prob=1.0)(image)
    assert not out.requires_grad


# -- a resize's overshoot past the range is clamped; wrong data reaching as far is still refused --------
_IMAGENET_MEAN, _IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _bicubic(image: np.ndarray, scale: float) -> np.ndarray:
    """A channel-first float image resized as MONAI's ``Resize(mode="bicubic")`` does: it
    overshoots past the values it was given at sharp edges."""
    side = tuple(round(n * scale) for n in image.shape[1:])
    return np.asarray(Resize(side, mode="bicubic")(image.astype(np.float32)))


@pytest.mark.parametrize("scale", [0.6, 1.7])
@pytest.mark.parametrize("tone", ["as is", "dark", "inverted dark"])
def test_a_resize_overshoot_past_value_range_is_clamped_not_refused(small_stylizer, bank, histology_crops, tone, scale):
    """Bicubic resizing of real 0–255 tiles undershoots 0 (dark tiles) and overshoots 255 (white
    glass next to nuclei): a legitimate image, stylised as its values clamped to the range."""
    crop = np.moveaxis(histology_crops[0], -1, 0).astype(np.float32)  # white glass and dark nuclei
    toned = {"as is": crop, "dark": crop * 0.05, "inverted dark": (255 - crop) * 0.1}[tone]
    resized = _bicubic(toned, scale)
    assert resized.min() < -0.255 or resized.max() > 255.255  # beyond the check's rounding tolerance
    for image in (resized, torch.from_numpy(resized)):
        transform = RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 255)).set_random_state(0)
        out = transform(image)
        clamped = RandStylize(small_stylizer, bank, prob=1.0, value_range=(0, 255)).set_random_state(0)(
            image.clip(0, 255)
        )
        assert float(out.min()) >= 0 and float(out.max()) <= 255 and _equal(out, clamped)
    unit = RandStylize(small_stylizer, bank, prob=0.0)(resized / 255)  # the same for 0–1 images
    assert unit.shape == resized.shape


@pytest.mark.parametrize("which", range(5))
def test_normalised_data_under_value_range_is_refused(small_stylizer, bank, histology_crops, which):
    """ImageNet-normalised, -1..1 and z-scored tissue reach below 0 by far more of their own
    contrast than a resize's overshoot: still refused."""
    transform = RandStylize(small_stylizer, bank, prob=0.0, value_range=(0, 255))
    unit = np.moveaxis(histology_crops[which], -1, 0).astype(np.float32) / 255
    normalised = (unit - _IMAGENET_MEAN[:, None, None]) / _IMAGENET_STD[:, None, None]
    for wrong in (normalised.astype(np.float32), unit * 2 - 1, (unit - unit.mean()) / unit.std()):
        with pytest.raises(ValueError, match=r"outside value_range=\(0.0, 255.0\) by more than a resize's overshoot"):
            transform(wrong)


@pytest.mark.parametrize("scale", [0.6, 1.7])
def test_0_1_tissue_resized_bicubically_is_still_refused_under_value_range(
    small_stylizer, bank, histology_crops, scale
):
    """0–1 tissue resized bicubically (a little below 0 and above 1) is still 0–1 data under
    (0, 255): refused as already scaled, as it is without the resize."""
    resized = _bicubic(np.moveaxis(histology_crops[0], -1, 0).astype(np.float32) / 255, scale)
    assert resized.min() < 0 and resized.max() > 1
    for prob in (0.0, 1.0):
        with pytest.raises(ValueError, match="already scaled to 0–1"):
            RandStylize(small_stylizer, bank, prob=prob, value_range=(0, 255))(resized)


@settings(FIXTURES_ACROSS_EXAMPLES, max_examples=examples(8))
@given(
    low=st.floats(-2000, 100, allow_nan=False),
    span=st.floats(0.5, 5000, allow_nan=False),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    as_tensor=st.booleans(),
)
def test_a_float_value_range_keeps_every_kept_pixel_exactly(small_stylizer, bank, low, span, dtype, as_tensor):
    """Floats of any intensity range (CT's Hounsfield units): ``strength=0`` gives the input back bit for bit and,
    at full strength, the glass the engine keeps is the input's own, not mapped to 0–1 and back (which moved a fifth
    of the pixels by rounding); a float64 image keeps float64's precision in the change, not float32's."""
    glass, tissue = (..., slice(0, 16)), (..., slice(40, None))  # float64_slides: glass left, tissue right
    image = (float64_slides(1)[0] * span + low).to(dtype)
    image = image if as_tensor else image.numpy()
    equal = torch.equal if as_tensor else np.array_equal
    value_range = (low, low + span)
    kept = RandStylize(small_stylizer, bank, prob=1.0, strength=0.0, value_range=value_range)(image)
    assert kept.dtype == image.dtype and equal(kept, image)
    out = RandStylize(small_stylizer, bank, prob=1.0, value_range=value_range).set_random_state(0)(image)
    assert out.dtype == image.dtype and equal(out[glass], image[glass])
    assert not equal(out[tissue], image[tissue])
    if dtype == torch.float64:  # float64 detail finer than float32 holds survives in the tissue's change too
        as32 = RandStylize(small_stylizer, bank, prob=1.0, value_range=value_range).set_random_state(0)(
            image.float() if as_tensor else image.astype(np.float32))
        assert not equal(out[tissue], (as32.double() if as_tensor else as32.astype(np.float64))[tissue])


@pytest.mark.parametrize(("dtype", "value_range"), [(">f4", None), (">f8", (0, 255)), (">u2", (0, 4095))])
def test_a_big_endian_array_comes_back_in_its_own_byte_order(small_stylizer, bank, dtype, value_range):
    """A big-endian float came back native-endian (a uint16 kept its order): the docs promise the same dtype."""
    top = {None: 1.0, (0, 255): 255.0, (0, 4095): 4095}[value_range]
    image = (np.random.default_rng(2).uniform(0, 1, (3, 32, 32)) * top).astype(dtype)
    out = sva.RandStylize(small_stylizer, bank, prob=1.0, value_range=value_range).set_random_state(seed=0)(image)
    assert out.dtype == np.dtype(dtype) and out.shape == image.shape
    native = image.astype(np.dtype(dtype).newbyteorder("="))  # the same values: the same result, to the bit
    again = sva.RandStylize(small_stylizer, bank, prob=1.0, value_range=value_range).set_random_state(seed=0)(native)
    assert np.array_equal(out, again)
