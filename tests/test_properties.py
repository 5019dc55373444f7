"""Property-based tests (hypothesis): what any user input may do, with a small random model.

* Stylizer: any kind, dtype, size (8-600 px a side, extreme aspect ratios), strength and mode
  gives back the input's kind, dtype, shape, channels and range, never NaN; strength 0 is
  bit-identical; every refused input raises our own error with a message, never a raw
  torch/numpy/PIL exception.
* Transforms: targets (masks, boxes, keypoints, labels) untouched for every draw, p=0 is the
  identity, seeded runs repeat exactly.
* Files: truncated or byte-flipped checkpoints, banks and images give our clear error naming the
  file, or load correctly; never a crash inside safetensors/PIL or a hang.
* Statistics and 16-bit files: every mean/std is either valid or refused with the units hint;
  save_image/read_image round-trip 8/16-bit gray/RGB PNG/TIFF exactly.

The ``ci`` profile (tests/shared_fixtures.py) runs 2,700 cases in all; ``HYPOTHESIS_PROFILE=long``
runs 20x as many.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import traceback
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, examples, make_small_model
from stylizing_vit_aug.bank import BankFileError, BankMismatch, StyleBank
from stylizing_vit_aug.checkpoints import CheckpointError
from stylizing_vit_aug.images import (
    STATS_UNITS,
    ImageReadError,
    Normalization,
    read_image,
    save_image,
)
from stylizing_vit_aug.stylizer import MODES
from stylizing_vit_aug.transforms.batch import BatchStylize, StylizeCollate

PACKAGE = str(Path(sva.__file__).parent)
SEEDS = st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread is fastest, and on a busy 2-core machine two threads
    contending with other work made calls 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def stylizer() -> sva.Stylizer:
    return sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32,
                        mode="detail")


@pytest.fixture(scope="module")
def style_bank(stylizer) -> StyleBank:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    return StyleBank.from_images(images, stylizer, domains=list("aabb"))


@pytest.fixture(scope="module")
def workdir():
    folder = Path(tempfile.mkdtemp(prefix="sva-properties-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _raised_by_us(info: pytest.ExceptionInfo) -> None:
    """The exception is ours: raised by package code (not inside torch/numpy/PIL), with a message."""
    assert str(info.value).strip(), f"{type(info.value).__name__} without a message"
    frame = traceback.extract_tb(info.tb)[-1]
    assert frame.filename.startswith(PACKAGE), f"raw {type(info.value).__name__} from {frame.filename}: {info.value}"


# -- strategies: images of every kind we accept ------------------------------------------------
SIDES = st.one_of(st.integers(8, 96), st.integers(8, 600), st.sampled_from([8, 9, 600]))  # mostly small: fast
TORCH_DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)
NUMPY_DTYPES = (np.uint8, np.uint16, np.float16, np.float32, np.float64)


def _pixels(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    if np.dtype(dtype) == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if np.dtype(dtype) == np.uint16:
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    values = rng.random(shape)
    values[rng.random(shape) < 0.01] = 1.0  # the range's edges too
    return values.astype(dtype)


@st.composite
def images_of_any_kind(draw, max_batch: int = 3):
    """(images, batch size): torch CHW/BCHW, numpy HW/HWC/BHWC, PIL L/RGB/I;16 or a list."""
    kind = draw(st.sampled_from(["torch", "numpy", "pil", "list"]))
    height, width, channels = draw(SIDES), draw(SIDES), draw(st.sampled_from([1, 3]))
    if height * width > 128 * 128:
        max_batch = 1  # large images one at a time: the run stays short
    rng = np.random.default_rng(draw(SEEDS))
    if kind == "torch":
        batch = draw(st.sampled_from([None, *range(1, max_batch + 1)]))
        dtype = draw(st.sampled_from(TORCH_DTYPES))
        shape = (channels, width, height) if batch is None else (batch, channels, width, height)
        base = _pixels(rng, shape, np.uint8 if dtype == torch.uint8 else np.float32)
        tensor = torch.from_numpy(base).to(dtype).transpose(-1, -2)  # (.., H, W), not contiguous
        return (tensor.contiguous() if draw(st.booleans()) else tensor), batch or 1
    if kind == "numpy":
        layout = draw(st.sampled_from(["HW", "HWC", "BHWC"]))
        dtype = draw(st.sampled_from(NUMPY_DTYPES))
        batch = draw(st.integers(1, max_batch)) if layout == "BHWC" else 1
        shape = {
            "HW": (height, width), "HWC": (height, width, channels), "BHWC": (batch, height, width, channels),
        }[layout]
        return _pixels(rng, shape, dtype), batch
    if kind == "pil":
        mode = draw(st.sampled_from(["L", "RGB", "I;16"]))
        if mode == "I;16":
            pixels = _pixels(rng, (height, width), np.uint16)
            return Image.frombytes("I;16", (width, height), pixels.astype("<u2").tobytes()), 1
        return Image.fromarray(_pixels(rng, (height, width, 3) if mode == "RGB" else (height, width), np.uint8)), 1
    count = draw(st.integers(1, max_batch))
    item = draw(st.sampled_from(["numpy", "torch", "pil"]))
    make = {
        "numpy": lambda: _pixels(rng, (height, width, channels), np.uint8),
        "torch": lambda: torch.from_numpy(_pixels(rng, (channels, height, width), np.float32)),
        "pil": lambda: Image.fromarray(_pixels(rng, (height, width, 3), np.uint8)),
    }[item]
    return [make() for _ in range(count)], count


def _assert_same_kind(out, image, identical: bool) -> None:
    if isinstance(image, list):
        assert isinstance(out, list) and len(out) == len(image)
        for o, i in zip(out, image):
            _assert_same_kind(o, i, identical)
        return
    if isinstance(image, Image.Image):
        assert isinstance(out, Image.Image) and out.mode == image.mode and out.size == image.size
        assert not identical or out.tobytes() == image.tobytes()
        return
    if isinstance(image, torch.Tensor):
        assert isinstance(out, torch.Tensor) and out.dtype == image.dtype and out.shape == image.shape
        assert out.device == image.device
        values = out.float()
        assert not identical or torch.equal(out, image)
    else:
        assert isinstance(out, np.ndarray) and out.dtype == image.dtype and out.shape == image.shape
        assert not identical or np.array_equal(out, image)
        values = torch.from_numpy(out.astype(np.float32))
    if out.dtype not in (torch.uint8, np.uint8, np.uint16):
        assert bool(torch.isfinite(values).all()), "NaN or Inf in the output"
        assert float(values.min()) >= 0 and float(values.max()) <= 1


@settings(max_examples=examples(500))
@given(images=images_of_any_kind(), style_seed=SEEDS, strength=st.data(), mode=st.sampled_from(MODES))
def test_any_image_kind_comes_back_as_that_kind_and_strength_0_is_exact(stylizer, images, style_seed, strength, mode):
    images, batch = images
    style = torch.from_numpy(np.random.default_rng(style_seed).random((3, 24, 40), dtype=np.float32))
    value = strength.draw(st.one_of(
        st.sampled_from([0.0, 1.0]), st.floats(0, 1), st.lists(st.floats(0, 1), min_size=batch, max_size=batch),
    ))
    out = stylizer(images, style, strength=value, mode=mode)
    _assert_same_kind(out, images, identical=not np.any(value))


# -- refused inputs ------------------------------------------------------------------------------
GOOD = torch.rand(3, 16, 16)


@st.composite
def refused_calls(draw):
    """(images, styles, strength, mode) that the Stylizer must refuse."""
    rng = np.random.default_rng(draw(SEEDS))
    side = st.integers(8, 40)
    h, w = draw(side), draw(side)
    case = draw(st.sampled_from([
        "channels", "small", "ndim", "torch_dtype", "numpy_dtype", "range", "nonfinite", "channels_first",
        "empty", "not_an_image", "pil_mode", "list_channels", "list_of_batches", "strength", "mode", "styles",
    ]))
    images, styles, strength, mode = GOOD, GOOD, 1.0, None
    if case == "channels":
        images = torch.rand(draw(st.sampled_from([0, 5, 16])), h, w)
    elif case == "small":
        images = torch.rand(3, draw(st.integers(0, 7)), w)
    elif case == "ndim":
        images = torch.rand([8] * draw(st.sampled_from([0, 1, 2, 5, 6])))
    elif case == "torch_dtype":
        dtype = draw(st.sampled_from([torch.int8, torch.int16, torch.int32, torch.int64, torch.bool, torch.complex64]))
        images = torch.zeros(3, h, w, dtype=dtype)
    elif case == "numpy_dtype":
        dtype = draw(st.sampled_from(
            [np.int8, np.int16, np.int32, np.int64, np.uint32, np.bool_, np.complex64, object]
        ))
        images = np.zeros((h, w, 3), dtype=dtype)
    elif case == "range":
        low = draw(st.one_of(st.floats(-300, -0.01), st.floats(1.01, 300)))
        images = torch.full((3, h, w), low)
    elif case == "nonfinite":
        images = torch.rand(3, h, w)
        images[0, 0, 0] = draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
    elif case == "channels_first":
        images = rng.random((3, h, w), dtype=np.float32)
    elif case == "empty":  # an empty batch comes back empty (tests/test_stylizer_api.py), unless its kind is wrong
        images = draw(st.sampled_from([
            torch.zeros(0, 5, h, w), np.zeros((0, h, w, 5), np.uint8), torch.zeros(0, 3, 4, w),
            np.zeros((0, h, w, 3), np.int32), [],
        ]))
    elif case == "not_an_image":
        images = draw(st.sampled_from([None, "image.png", 3, 2.5, {"image": 1}, b"\x89PNG", [], [None], (GOOD, "x")]))
    elif case == "pil_mode":
        images = Image.new(draw(st.sampled_from(["I", "F"])), (w, h))  # RGBA, P, LA ...: see images/test_image_kinds.py
    elif case == "list_channels":  # a list may mix sizes (each made small on its own), never channel counts
        images = [torch.rand(3, h, w), torch.rand(1, h + 1, w)]
    elif case == "list_of_batches":
        images = [torch.rand(2, 3, h, w)]
    elif case == "strength":
        strength = draw(st.sampled_from(["0.5", None, True, -0.1, 1.5, float("nan"), float("inf"), [0.5, 0.5],
                                         object(), ["a"], {"s": 1}]))
    elif case == "mode":
        mode = draw(st.sampled_from(["crop", "", "RELATIVE", 3]))
    else:
        styles = draw(st.sampled_from([None, "style.png", torch.rand(2, 3, 16, 16), torch.rand(5, 16, 16)]))
    return images, styles, strength, mode


@settings(max_examples=examples(300))
@given(call=refused_calls())
def test_refused_inputs_raise_our_error_with_a_message(stylizer, call):
    images, styles, strength, mode = call
    with pytest.raises((ValueError, TypeError)) as info:
        stylizer(images, styles, strength=strength, mode=mode)
    _raised_by_us(info)


STRENGTHS = st.one_of(
    st.floats(-0.5, 1.5), st.sampled_from([0, 1, float("nan"), float("inf"), "0.5", None, True, b"1"]),
)


@settings(max_examples=examples(150))
@given(low=STRENGTHS, high=STRENGTHS)
def test_every_door_takes_exactly_the_strengths_the_engine_takes(stylizer, style_bank, low, high):
    """One strength check: a number the engine refuses is refused by every front-end, and a
    (low, high) range is taken when both ends are and low <= high."""
    from stylizing_vit_aug.transforms.albumentations import AlbumentationsStylize
    from stylizing_vit_aug.transforms.monai import RandStylize

    def taken(make) -> bool:
        try:
            make()
        except ValueError as error:
            assert "strength" in str(error)
            return False
        return True

    image = torch.rand(3, 8, 8)
    engine = taken(lambda: stylizer(image, image, strength=low))
    doors = {
        "StylizeTransform": lambda s: sva.StylizeTransform(stylizer, style_bank, strength=s),
        "BatchStylize": lambda s: BatchStylize(stylizer, style_bank, strength=s),
        "AlbumentationsStylize": lambda s: AlbumentationsStylize(stylizer, style_bank, strength=s),
        "RandStylize": lambda s: RandStylize(stylizer, style_bank, strength=s),
    }
    for name, door in doors.items():
        assert taken(partial(door, low)) == engine, name
    assert taken(lambda: sva.StyleTTA(torch.nn.Identity(), stylizer, style_bank, strength=low)) == engine
    ends_taken = engine and taken(lambda: stylizer(image, image, strength=high))
    in_order = ends_taken and float(low) <= float(high)
    for name, door in doors.items():
        assert taken(partial(door, (low, high))) == in_order, name


# -- transforms: targets untouched, p=0 identity, seeded repeats ---------------------------------
@settings(max_examples=examples(150))
@given(seed=SEEDS, p=st.sampled_from([0.0, 0.5, 1.0]), float_image=st.booleans(), size=st.tuples(SIDES, SIDES))
def test_torchvision_targets_untouched_p0_identity_seeded_repeat(stylizer, style_bank, seed, p, float_image, size):
    from torchvision import tv_tensors

    h, w = min(size[0], 96), min(size[1], 96)
    rng = np.random.default_rng(seed)
    pixels = torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8))
    image = tv_tensors.Image(pixels.float() / 255 if float_image else pixels)
    mask = tv_tensors.Mask(torch.from_numpy(rng.integers(0, 3, (h, w), dtype=np.uint8)))
    boxes = tv_tensors.BoundingBoxes([[0, 0, w // 2, h // 2]], format="XYXY", canvas_size=(h, w))
    points = tv_tensors.KeyPoints([[1.0, 2.0]], canvas_size=(h, w))
    copies = [t.clone() for t in (image, mask, boxes, points)]
    transform = sva.StylizeTransform(stylizer, style_bank, p=p, strength=(0.2, 1.0))

    def run():
        torch.manual_seed(seed)
        return transform({"image": image, "mask": mask, "boxes": boxes, "points": points, "label": 7})

    out, again = run(), run()
    assert out["mask"] is mask and out["boxes"] is boxes and out["points"] is points and out["label"] == 7
    assert all(torch.equal(t, c) for t, c in zip((image, mask, boxes, points), copies))  # inputs untouched
    assert isinstance(out["image"], tv_tensors.Image) and out["image"].dtype == image.dtype
    assert out["image"].shape == image.shape and torch.equal(out["image"], again["image"])
    if p == 0:
        assert torch.equal(out["image"], image)


@pytest.mark.filterwarnings("ignore:Got processor for:UserWarning")  # no geometric transform in the pipeline
@settings(max_examples=examples(150))
@given(seed=SEEDS, p=st.sampled_from([0.0, 0.5, 1.0]), gray=st.booleans(), size=st.tuples(SIDES, SIDES))
def test_albumentations_targets_untouched_p0_identity_seeded_repeat(stylizer, style_bank, seed, p, gray, size):
    import albumentations as A

    from stylizing_vit_aug.transforms.albumentations import AlbumentationsStylize

    h, w = min(size[0], 96), min(size[1], 96)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w) if gray else (h, w, 3), dtype=np.uint8)
    mask = rng.integers(0, 4, (h, w), dtype=np.uint8)
    boxes, points = [[1, 1, w - 1, h - 1]], [(float(w // 2), float(h // 2))]

    def run():
        pipeline = A.Compose(
            [AlbumentationsStylize(stylizer, style_bank, strength=(0.2, 1.0), p=p)], seed=seed,
            bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
            keypoint_params=A.KeypointParams(format="xy"),
        )
        return pipeline(image=image, mask=mask, bboxes=boxes, labels=[5], keypoints=points)

    out, again = run(), run()
    assert np.array_equal(out["mask"], mask) and list(out["labels"]) == [5]
    np.testing.assert_allclose(out["bboxes"], np.asarray(boxes, dtype=np.float32))
    np.testing.assert_allclose(np.asarray(out["keypoints"])[:, :2], np.asarray(points))
    assert out["image"].shape == image.shape and out["image"].dtype == image.dtype
    assert np.array_equal(out["image"], again["image"])
    if p == 0:
        assert np.array_equal(out["image"], image)


@settings(max_examples=examples(200))
@given(seed=SEEDS, batch=st.integers(1, 5), p=st.sampled_from([0.0, 0.3, 1.0]), use_bank=st.booleans(),
       same_on_batch=st.booleans(), float_image=st.booleans(), size=st.tuples(SIDES, SIDES))
def test_batch_stylize_targets_untouched_p0_identity_seeded_repeat(
    stylizer, style_bank, seed, batch, p, use_bank, same_on_batch, float_image, size
):
    h, w = min(size[0], 64), min(size[1], 64)
    rng = np.random.default_rng(seed)
    samples = [
        {"image": torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)),
         "mask": torch.from_numpy(rng.integers(0, 3, (h, w), dtype=np.uint8)), "label": i}
        for i in range(batch)
    ]
    if float_image:
        samples = [{**s, "image": s["image"].float() / 255} for s in samples]

    def module() -> BatchStylize:
        return BatchStylize(stylizer, style_bank if use_bank else None, p=p, strength=(0.3, 1.0),
                            same_on_batch=same_on_batch, generator=torch.Generator().manual_seed(seed))

    out = StylizeCollate(None, module(), image_key="image")(samples)
    again = StylizeCollate(None, module(), image_key="image")(samples)
    images = torch.stack([s["image"] for s in samples])
    _, info = module()(images, return_info=True)  # the same draws, with what they did
    assert torch.equal(out["mask"], torch.stack([s["mask"] for s in samples]))
    assert out["label"].tolist() == list(range(batch))
    assert out["image"].dtype == images.dtype and out["image"].shape == images.shape
    assert torch.equal(out["image"], again["image"])
    untouched = ~info.applied
    assert torch.equal(out["image"][untouched], images[untouched])
    assert not (info.applied & info.no_style).any()
    if not use_bank:  # an image is never styled with itself
        assert bool((info.style_index[info.applied] != torch.arange(batch)[info.applied]).all())
        assert batch > 1 or not info.applied.any()
    if p == 0:
        assert torch.equal(out["image"], images) and not info.applied.any()


# -- files: truncated or flipped bytes -----------------------------------------------------------
def _damage(data: bytes, draw, header: int) -> bytes:
    """Truncate, or replace 1-8 bytes (mostly in the first ``header`` bytes, where parsing happens)."""
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        end = header if draw(st.integers(0, 3)) else len(data)
        damaged[draw(st.integers(0, min(end, len(data)) - 1))] = draw(st.integers(0, 255))
    return bytes(damaged)


def _header_size(data: bytes) -> int:
    """A safetensors file: 8 bytes of length, then the JSON header."""
    return 8 + int.from_bytes(data[:8], "little")


@pytest.fixture(scope="module")
def checkpoint_files(stylizer, workdir) -> dict[str, bytes]:
    saved = stylizer.save_pretrained(workdir / "pristine")
    return {name: (saved / name).read_bytes() for name in ("model.safetensors", "config.json")}


@settings(max_examples=examples(450))
@given(target=st.sampled_from(["model.safetensors", "model.safetensors", "config.json"]), data=st.data())
def test_damaged_checkpoints_load_or_give_our_error_naming_the_file(checkpoint_files, workdir, target, data):
    directory = workdir / "damaged"
    directory.mkdir(exist_ok=True)
    for name, content in checkpoint_files.items():
        header = _header_size(content) if name.endswith(".safetensors") else len(content)
        (directory / name).write_bytes(_damage(content, data.draw, header) if name == target else content)
    start = time.perf_counter()
    try:
        loaded = sva.load_stylizer(directory, device="cpu", dtype=torch.float32)
    except (CheckpointError, FileNotFoundError) as error:
        assert str(directory) in str(error), f"{type(error).__name__} without the path: {error}"
    else:
        assert all(bool(torch.isfinite(t).all()) for t in loaded.model.state_dict().values())
    assert time.perf_counter() - start < 20


@pytest.fixture(scope="module")
def bank_file(style_bank, workdir) -> bytes:
    return style_bank.save(workdir / "pristine.safetensors").read_bytes()


@settings(max_examples=examples(300))
@given(data=st.data())
def test_damaged_bank_files_load_or_give_our_error_naming_the_file(stylizer, bank_file, workdir, data):
    path = workdir / "damaged.safetensors"
    path.write_bytes(_damage(bank_file, data.draw, _header_size(bank_file)))
    start = time.perf_counter()
    try:
        bank = StyleBank.load(path, stylizer)
    except (BankFileError, BankMismatch) as error:
        assert str(path) in str(error), f"{type(error).__name__} without the path: {error}"
    else:
        assert len(bank) > 0 and bool(torch.isfinite(bank.stream(torch.arange(len(bank))).layers).all())
    assert time.perf_counter() - start < 20


@pytest.fixture(scope="module")
def image_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {}
    for fmt, pixels in [
        ("PNG", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)),
        ("JPEG", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)),
        ("TIFF", rng.integers(0, 256, (12, 16), dtype=np.uint8)),
        ("PNG", rng.integers(0, 65536, (12, 16), dtype=np.uint16)),
        ("PNG", rng.integers(0, 65536, (12, 16, 3), dtype=np.uint16)),
        ("TIFF", rng.integers(0, 65536, (12, 16), dtype=np.uint16)),
    ]:
        buffer = io.BytesIO()
        save_image(pixels, buffer, fmt)
        files[f"{fmt}-{pixels.dtype}-{pixels.ndim}"] = buffer.getvalue()
    return files


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning", "ignore:Truncated File Read:UserWarning",
                            "ignore::PIL.Image.DecompressionBombWarning")
@settings(max_examples=examples(300))
@given(data=st.data())
def test_damaged_image_files_read_or_give_our_error_naming_the_file(image_files, workdir, data, small_pixel_limit):
    name = data.draw(st.sampled_from(sorted(image_files)))
    content = image_files[name]
    path = workdir / f"damaged.{name.split('-')[0].lower()}"
    path.write_bytes(_damage(content, data.draw, 64))
    start = time.perf_counter()
    try:
        pixels = read_image(path)
    except ImageReadError as error:
        assert str(path) in str(error)
    else:
        assert pixels.dtype in (np.uint8, np.uint16) and pixels.ndim in (2, 3) and min(pixels.shape[:2]) >= 8
    assert time.perf_counter() - start < 20


@pytest.fixture(scope="module")
def small_pixel_limit():
    """Damaged headers may claim huge sizes: refuse above 1 Mpx (as PIL does above 179 Mpx) so
    the fuzzing never allocates much memory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "MAX_IMAGE_PIXELS", 500_000)
        yield patch


# -- statistics and 16-bit files -----------------------------------------------------------------
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-300, 300))
STATS = st.one_of(NUMBERS, st.lists(NUMBERS, min_size=0, max_size=5), st.sampled_from([None, "0.5", "abc"]))


@settings(max_examples=examples(300))
@given(mean=STATS, std=STATS, channels=st.sampled_from([None, 1, 3]))
def test_statistics_are_valid_or_refused_with_the_units_hint(mean, std, channels):
    try:
        stats = Normalization.checked(mean, std, channels)
    except ValueError as error:
        assert STATS_UNITS in str(error) or "give both" in str(error)
        return
    assert stats.mean.numel() == stats.std.numel() in ((1, 3) if channels is None else (channels,))
    assert bool(torch.isfinite(stats.mean).all()) and bool(torch.isfinite(stats.std).all())
    assert bool(((stats.mean >= 0) & (stats.mean <= 1)).all()) and bool(((stats.std > 0) & (stats.std <= 1)).all())


@settings(max_examples=examples(150))
@given(seed=SEEDS, depth=st.sampled_from([np.uint8, np.uint16]), gray=st.booleans(),
       fmt=st.sampled_from(["PNG", "TIFF"]), size=st.tuples(st.integers(8, 64), st.integers(8, 64)))
def test_8_and_16_bit_files_round_trip_exactly(workdir, seed, depth, gray, fmt, size):
    pixels = _pixels(np.random.default_rng(seed), size if gray else (*size, 3), depth)
    path = workdir / f"round-trip.{fmt.lower()}"
    save_image(pixels, path, fmt)
    back = read_image(path)
    assert back.dtype == pixels.dtype and np.array_equal(back, pixels)
