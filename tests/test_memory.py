"""Large images: the strip path of ``Stylizer.__call__`` gives the whole-tensor path's pixels and
never holds the image as one float tensor."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug.stylizer as engine
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.images import ImageError, from_batch, to_batch

TESTS = Path(__file__).resolve().parent


def _stylizer(mode: str) -> engine.Stylizer:
    model = make_small_model()
    return engine.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, mode=mode)


def _slide(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colour field with noise on top: changes everywhere, like an enlarged tissue scan."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    noise = rng.integers(-20, 21, (height, width, 3))
    return np.clip(np.asarray(small).astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def slide() -> np.ndarray:
    return _slide(1499, 2001)  # odd sizes: the last strip and band are not full


@pytest.fixture(scope="module")
def style(histology_crops) -> np.ndarray:
    return histology_crops[1]


def _whole_tensor(stylizer: engine.Stylizer, images, style, strength):
    values, info = to_batch(images)
    return from_batch(stylizer.stylize_batch(values, style, torch.as_tensor(strength, dtype=torch.float64)), info)


@pytest.mark.parametrize("mode", engine.MODES)
def test_strips_give_exactly_the_whole_tensor_pixels(mode, slide, style, monkeypatch):
    """On the CPU the strip path is not an approximation: every pixel equals the old path's."""
    stylizer = _stylizer(mode)
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 18)  # ~12 strips across, ~5 bands down
    assert slide.shape[0] * slide.shape[1] > engine.STRIP_PIXELS
    ours = stylizer(slide, style, 0.7)
    assert ours.dtype == np.uint8 and ours.shape == slide.shape
    np.testing.assert_array_equal(ours, _whole_tensor(stylizer, slide, style, 0.7))
    assert (ours != slide).mean() > 0.005  # it did stylise


@pytest.mark.parametrize("batched", [False, True], ids=["one image", "batch"])
def test_a_tv_tensors_image_stays_one_through_the_strip_path_and_a_mixed_size_list(slide, style, monkeypatch, batched):
    """The engine gives a ``tv_tensors.Image`` back as one (docs/stylizer.md), so torchvision's v2 dispatch still
    treats it as an image; the per-image path (strips, mixed-size lists) gave a plain tensor (found by a probe)."""
    from torchvision import tv_tensors

    stylizer = _stylizer("detail")
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 18)
    pixels = torch.from_numpy(slide[:600, :600]).permute(2, 0, 1).contiguous()
    image = tv_tensors.Image(torch.stack([pixels, pixels.flip(-1)]) if batched else pixels)
    out = stylizer(image, style)
    assert type(out) is tv_tensors.Image and out.shape == image.shape and not torch.equal(out, image)
    mixed = stylizer([tv_tensors.Image(pixels[:, :64, :64]), tv_tensors.Image(pixels[:, :48, :80])], style)
    assert [type(one) for one in mixed] == [tv_tensors.Image] * 2 and mixed[1].shape == (3, 48, 80)


@pytest.mark.parametrize("kind", ["torch batch", "pil 16-bit", "numpy gray list", "numpy float"])
def test_every_image_kind_takes_the_strip_path_unchanged(kind, slide, style, monkeypatch):
    stylizer = _stylizer("detail")
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 18)
    gray = slide[:400, :1000].mean(axis=2)
    if kind == "torch batch":
        # contiguous: on a channels-last tensor interpolate's kernel differs, and the old path
        # itself moves a few pixels in a million by one level between the two memory formats
        images = torch.from_numpy(np.stack([slide, slide[::-1].copy()])).permute(0, 3, 1, 2).contiguous()
        strength = [1.0, 0.4]
    elif kind == "pil 16-bit":
        images = Image.fromarray((gray * 257).astype(np.uint16))
        strength = 0.8
    elif kind == "numpy gray list":
        images = [gray.astype(np.uint8), gray[::-1].astype(np.uint8)]
        strength = 1.0
    else:
        images = slide[:700].astype(np.float32) / 255
        strength = 1.0
    ours = stylizer(images, style, strength)
    theirs = _whole_tensor(stylizer, images, style, strength)
    if kind == "pil 16-bit":
        assert ours.mode == theirs.mode == images.mode
        ours, theirs = np.asarray(ours), np.asarray(theirs)
    if kind == "numpy gray list":
        assert isinstance(ours, list) and len(ours) == 2
        ours, theirs = np.stack(ours), np.stack(theirs)
    if kind == "torch batch":
        assert ours.dtype == torch.uint8 and ours.shape == images.shape
    assert type(ours) is type(theirs) and ours.dtype == theirs.dtype
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize(("mode", "given_back"), [("P", "RGB"), ("1", "L"), ("CMYK", "RGB"), ("PA", "RGBA")])
def test_converted_pil_modes_come_back_as_the_whole_image_path_gives_them(mode, given_back, slide, style,
                                                                          monkeypatch):
    """A palette image is given back as RGB on every path: the strip path once built its output
    in the input's mode, and pasting RGB strips into a 'P' image without a palette made it black."""
    stylizer = _stylizer("detail")
    source = Image.fromarray(slide[:600, :1000])
    image = source.convert("RGBA").convert("PA") if mode == "PA" else source.convert(mode)
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 30)
    whole = stylizer(image, style, 0.8)
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 17)
    strips = stylizer(image, style, 0.8)
    assert strips.mode == whole.mode == given_back
    assert np.array_equal(np.asarray(strips), np.asarray(whole))


def test_strip_path_errors_are_the_usual_ones(slide, style, monkeypatch):
    stylizer = _stylizer("detail")
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 18)
    with pytest.raises(ValueError, match="different channel counts"):
        stylizer([slide, slide[:800, :, 0]], style)  # sizes may differ, channel counts not
    with pytest.raises(ValueError, match=r"2 styles for 1 images"):
        stylizer(slide, [style, style])
    with pytest.raises(ImageError, match="0–1"):
        stylizer(slide.astype(np.float32), style)  # 0-255 values in a float array
    zero = stylizer(slide, style, 0.0)
    assert np.array_equal(zero, slide) and zero is not slide



@pytest.mark.parametrize("checked", [False, True])
def test_the_strip_path_reads_each_value_once_or_not_at_all_when_the_caller_has(slide, style, monkeypatch, checked):
    """The strip path range-checked each row band and then each column strip again; a caller that
    had checked (``range_checked=True``: a front-end's every-call check) got both reads anyway."""
    from stylizing_vit_aug.images import kinds

    stylizer = _stylizer("detail")
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 18)
    image = slide.astype(np.float32) / 255
    read, extremes = [], kinds.finite_extremes
    count = lambda values, what: read.append(int(np.prod(values.shape))) or extremes(values, what)  # noqa: E731
    monkeypatch.setattr(kinds, "finite_extremes", count)
    out = stylizer(image, style, 0.8, range_checked=checked)
    assert sum(read) == (0 if checked else image.size)
    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 30)
    assert np.array_equal(out, stylizer(image, style, 0.8))

MEASURE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np, torch
    from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
    from stylizing_vit_aug.stylizer import Stylizer

    def status(field):
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(field))

    stylizer = Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32,
                        mode="relative")
    style = np.full((64, 64, 3), 128, np.uint8)
    stylizer(np.zeros((64, 64, 3), np.uint8), style)  # load everything lazy first
    image = np.random.default_rng(0).integers(0, 256, ({side}, {side}, 3), dtype=np.uint8)
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # start the peak (VmHWM) from here
    out = stylizer(image, style)
    print((status("VmHWM") - before) / image[..., 0].size)
""")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resettable peak RSS")
@pytest.mark.slow  # a process of its own measures its peak memory
def test_a_large_image_is_never_one_float_tensor(tmp_path):
    """4000 x 4000 RGB: one float32 copy of it is 12 bytes a pixel, so a path holding one beside
    the uint8 output (3) peaks at 15 or more above the input; the whole-tensor path took ~60.
    The strip path's peak is the output plus a few strips and the allocator's slack: 7-9 run
    alone, once 12.05 in a CI run beside other slow tests (the slack varies)."""
    code = MEASURE.format(tests=str(TESTS), side=4000)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    bytes_per_pixel = float(result.stdout.split()[-1])
    assert bytes_per_pixel < 15, f"peak {bytes_per_pixel:.1f} bytes/pixel above the input"


READ_MEASURE = textwrap.dedent("""
    import numpy as np
    from stylizing_vit_aug.images import read_image

    def status(field):
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(field))

    read_image({warm!r})  # load everything lazy first
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # start the peak (VmHWM) from here
    pixels = read_image({path!r})
    print(pixels.shape, (status("VmHWM") - before) / pixels.nbytes)
""")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resettable peak RSS")
@pytest.mark.slow  # a process of its own measures its peak memory
def test_reading_a_large_jpeg_holds_the_image_about_twice(tmp_path):
    """3000 x 3000 RGB JPEG: read_image used to hold PIL's decoded image (4 bytes a pixel), its
    ``tobytes`` (3) and a copy (3) at once, 3.3x the uint8 result; copied a band at a time it
    is PIL's image and the result (7 bytes a pixel, 2.3x) and the bands."""
    path, warm = tmp_path / "large.jpg", tmp_path / "warm.jpg"
    Image.fromarray(_slide(3000, 3000)).save(path, quality=90)
    Image.fromarray(_slide(64, 64)).save(warm, quality=90)
    code = READ_MEASURE.format(path=str(path), warm=str(warm))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "(3000, 3000, 3)" in result.stdout
    times_the_image = float(result.stdout.split()[-1])
    assert times_the_image < 2.5, f"peak {times_the_image:.2f}x the uint8 image above the start"


def _oriented_jpeg(path: Path, pixels: np.ndarray, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, quality=90, exif=exif.tobytes())


def test_read_image_in_bands_gives_the_whole_image_pixels(tmp_path, monkeypatch):
    """Many bands (odd heights, every orientation, palette, alpha, 16-bit) give the pixels the
    whole image converted at once gives."""
    from PIL import ImageOps

    from stylizing_vit_aug.images import files, read_image

    monkeypatch.setattr(files, "_BAND_PIXELS", 1000)  # 10-20 rows a band
    rgba = _slide(61, 83, seed=3)
    rgba = np.concatenate([rgba, rgba[..., :1]], axis=2)
    cases = {}
    for orientation in range(1, 9):
        _oriented_jpeg(tmp_path / f"o{orientation}.jpg", rgba[..., :3], orientation)
        cases[f"o{orientation}.jpg"] = "RGB"
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    cases["rgba.png"] = "RGBA"
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "palette.png", transparency=7)
    cases["palette.png"] = "RGBA"
    Image.fromarray(rgba[..., 0].astype(np.uint16) * 257).save(tmp_path / "gray16.tif")
    cases["gray16.tif"] = None
    for name, mode in cases.items():
        with Image.open(tmp_path / name) as image:
            upright = ImageOps.exif_transpose(image)
            whole = np.asarray(upright.convert(mode) if mode else upright)
        ours = read_image(tmp_path / name, alpha=True)
        assert ours.flags.c_contiguous and ours.flags.writeable, name
        assert ours.dtype == (np.uint16 if mode is None else np.uint8), name
        np.testing.assert_array_equal(ours, whole, err_msg=name)
        no_alpha = read_image(tmp_path / name)
        if mode == "RGBA":  # transparency on white, as slide glass: round(c * a + 255 * (1 - a)), a in 0-1
            colour, alpha = whole[..., :3].astype(np.float64), whole[..., 3:].astype(np.float64) / 255
            whole = np.round(colour * alpha + 255 * (1 - alpha)).astype(np.uint8)
        np.testing.assert_array_equal(no_alpha, whole, err_msg=name)


def test_stylize_outputs_are_the_library_pipeline_bytes(tmp_path, monkeypatch):
    """The command's files are exactly ``save_image(stylizer(read_image(input)))`` for PNG,
    JPEG (EXIF-rotated), 16-bit TIFF, RGBA and an image past the strip size, while the loop
    frees inputs and outputs early."""
    import stylizing_vit_aug.commands.stylize as command
    from stylizing_vit_aug import cli
    from stylizing_vit_aug.commands.common import PIL_FORMATS
    from stylizing_vit_aug.hub import load_stylizer, save_pretrained
    from stylizing_vit_aug.images import carried_metadata, is_lossless, read_image, save_image

    monkeypatch.setattr(engine, "STRIP_PIXELS", 1 << 13)
    monkeypatch.setattr(command, "STRIP_PIXELS", 1 << 13)
    checkpoint = tmp_path / "small"
    save_pretrained(make_small_model(), checkpoint, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(_slide(40, 48, seed=1)).save(inputs / "a.png")
    Image.fromarray(_slide(40, 48, seed=2)).save(inputs / "b.png")
    _oriented_jpeg(inputs / "c.jpg", _slide(44, 52, seed=3), 6)
    Image.fromarray(_slide(36, 50, seed=4)[..., 0].astype(np.uint16) * 257 + 11).save(inputs / "d.tif")
    rgba = _slide(40, 48, seed=5)
    Image.fromarray(np.concatenate([rgba, rgba[..., :1]], axis=2)).save(inputs / "e.png")
    Image.fromarray(_slide(100, 120, seed=6)).save(inputs / "f.png")  # 12000 pixels: the strip path
    style = tmp_path / "style.png"
    Image.fromarray(_slide(48, 48, seed=7)).save(style)
    argv = ["stylize", str(inputs), "-o", str(tmp_path / "out"), "--style", str(style), "--checkpoint",
            str(checkpoint), "--device", "cpu"]
    assert cli.main(argv) == 0

    stylizer = load_stylizer(str(checkpoint), device="cpu")
    stream = stylizer.encode_style(read_image(style))  # as `stylizer(image, style)` encodes it
    same_size = ["a.png", "b.png"]  # the command stylises these two in one batch
    pair = [read_image(inputs / name, alpha=True) for name in same_size]
    together = stylizer(pair, stream)
    for name in ("a.png", "b.png", "c.jpg", "d.tif", "e.png", "f.png"):
        path = inputs / name
        pixels = read_image(path, alpha=True)
        result = together[same_size.index(name)] if name in same_size else stylizer([pixels], stream)[0]
        encoded = io.BytesIO()
        save_image(result, encoded, PIL_FORMATS[path.suffix], lossless=is_lossless(path),
                   metadata=carried_metadata(path))
        assert (tmp_path / "out" / name).read_bytes() == encoded.getvalue(), name
