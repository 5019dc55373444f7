"""The image-file fuzzer and the reader's promises (issue 17 items 8, 9, 15; issue 19).

Every mode x bit depth x EXIF orientation x format that Pillow, OpenCV or tifffile write reads
back as the orientation-applied reference (exactly for lossless files, closely for lossy ones),
with ``image_size`` agreeing, or as an :class:`ImageReadError` naming the file; never another
exception. The references are built here, from what was written, not by the reader.
"""

from __future__ import annotations

import io
import logging
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

import stylizing_vit_aug as sva
from helpers import examples, png_chunk, random_rgb, truncated_jpeg
from stylizing_vit_aug import images
from stylizing_vit_aug.images import (
    ImageReadError,
    check_whole,
    image_size,
    is_lossless,
    kinds,
    read_image,
    save_image,
)

cv2 = pytest.importorskip("cv2")
tifffile = pytest.importorskip("tifffile")

# EXIF orientation -> what makes the stored pixels upright (the EXIF 2.3 table, written out here
# independently of the reader)
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: np.flip(a, 1),
    3: lambda a: np.rot90(a, 2),
    4: lambda a: np.flip(a, 0),
    5: lambda a: np.transpose(a, (1, 0, *range(2, a.ndim))),
    6: lambda a: np.rot90(a, 3),
    7: lambda a: np.rot90(np.transpose(a, (1, 0, *range(2, a.ndim))), 2),
    8: lambda a: np.rot90(a, 1),
}
TIFF_COMPRESSIONS = (None, "tiff_lzw", "tiff_adobe_deflate", "packbits")
# (format, mode) -> the mode the file holds the pixels in, as read_image(alpha=True) gives them
PIL_CASES = {
    **{("PNG", m): t for m, t in {"1": "L", "L": "L", "LA": "LA", "P": "RGB", "PT": "RGBA", "RGB": "RGB",
                                   "RGBA": "RGBA", "I;16": "I;16"}.items()},
    **{("TIFF", m): t for m, t in {"1": "L", "L": "L", "LA": "LA", "P": "RGB", "RGB": "RGB", "RGBA": "RGBA",
                                    "I;16": "I;16"}.items()},
    **{("WEBP", m): t for m, t in {"1": "RGB", "L": "RGB", "LA": "RGBA", "P": "RGB", "PT": "RGBA", "RGB": "RGB",
                                    "RGBA": "RGBA"}.items()},
    **{("BMP", m): t for m, t in {"1": "L", "L": "L", "P": "RGB", "RGB": "RGB", "RGBA": "RGB"}.items()},
    **{("JPEG", m): t for m, t in {"1": "L", "L": "L", "RGB": "RGB"}.items()},
}
DEEP_CASES = [  # 16-bit colour: (format, channels, writer)
    ("PNG", 3, "cv2"), ("PNG", 4, "cv2"), ("TIFF", 3, "cv2"), ("TIFF", 4, "cv2"),
    ("TIFF", 3, "tifffile"), ("TIFF", 4, "tifffile"), ("PNG", 2, "ours"), ("PNG", 1, "cv2"), ("TIFF", 1, "cv2"),
]


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _content(rng: np.random.Generator, shape: tuple[int, ...], smooth: bool, top: int = 255) -> np.ndarray:
    """Random pixels; smooth (a gradient and a little noise) where a lossy codec must stay close."""
    if not smooth:
        return rng.integers(0, top + 1, shape, dtype=np.uint16 if top > 255 else np.uint8)
    h, w = shape[:2]
    ramp = np.add.outer(np.linspace(0, 0.6, h), np.linspace(0, 0.3, w))
    ramp = ramp.reshape(h, w, *([1] * (len(shape) - 2))) + rng.uniform(0, 0.1, shape)
    return (ramp * top).astype(np.uint8)


def _pil_image(mode: str, rng: np.random.Generator, h: int, w: int, smooth: bool) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(_content(rng, (h, w), smooth, 65535))
    if mode == "1":
        return Image.fromarray(rng.integers(0, 2, (h, w)).astype(bool))
    if mode in ("P", "PT"):
        image = Image.fromarray(_content(rng, (h, w, 3), smooth)).quantize(16)
        if mode == "PT":
            image.info["transparency"] = 0
        return image
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = _content(rng, (h, w, channels), smooth)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _png_with_exif(data: bytes, orientation: int) -> bytes:
    """A PNG (as OpenCV writes it) with an eXIf chunk before its first IDAT."""
    at = data.index(b"IDAT") - 4
    return data[:at] + png_chunk(b"eXIf", _exif(orientation).tobytes()) + data[at:]


def _check(path: Path, expected: np.ndarray, lossy: bool) -> None:
    got = read_image(path, alpha=True)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (path.name, got.shape, expected.shape)
    if lossy:
        assert np.abs(got.astype(int) - expected.astype(int)).mean() < 6, path.name
    else:
        assert np.array_equal(got, expected), path.name
    assert image_size(path) == expected.shape[:2], path.name


@settings(max_examples=examples(100))
@given(
    case=st.sampled_from(sorted(PIL_CASES)), compression=st.sampled_from(TIFF_COMPRESSIONS),
    lossless_webp=st.booleans(), h=st.integers(8, 24), w=st.integers(8, 24), seed=st.integers(0, 2**16),
)
def test_every_pil_file_reads_back_upright_in_every_orientation(folder, case, compression, lossless_webp, h, w, seed):
    """8-bit and 16-bit gray, gray+alpha, palette, RGB(A) and bilevel files from Pillow, in all
    eight orientations (BMP has no EXIF: one)."""
    fmt, mode = case
    lossy = fmt == "JPEG" or (fmt == "WEBP" and not lossless_webp)
    image = _pil_image(mode, np.random.default_rng(seed), h, w, smooth=lossy)
    stored = image.convert(PIL_CASES[case]) if PIL_CASES[case] != mode else image
    stored = np.asarray(stored).astype(np.uint16 if mode == "I;16" else np.uint8)
    options: dict = {"transparency": 0} if mode == "PT" else {}
    if fmt == "TIFF" and compression:
        options["compression"] = compression
    if fmt == "WEBP":
        options.update({"lossless": True, "exact": True} if lossless_webp else {"quality": 95, "exact": True})
    if fmt == "JPEG":
        options["quality"] = 95
    for orientation in range(1, 9) if fmt != "BMP" else (1,):
        path = folder / f"case.{fmt.lower()}"
        exif = {"exif": _exif(orientation)} if fmt != "BMP" else {}
        image.save(path, format=fmt, **options, **exif)
        _check(path, np.ascontiguousarray(UPRIGHT[orientation](stored)), lossy)


@settings(max_examples=examples(25))
@given(case=st.sampled_from(DEEP_CASES), h=st.integers(8, 24), w=st.integers(8, 24), seed=st.integers(0, 2**16))
def test_every_16_bit_file_reads_back_upright_in_every_orientation(folder, case, h, w, seed):
    """16-bit gray, gray+alpha, RGB and RGBA from OpenCV (PNG with an eXIf chunk; its TIFFs have
    no orientation), tifffile (TIFF with the orientation tag) and our own encoder."""
    fmt, channels, writer = case
    pixels = _content(np.random.default_rng(seed), (h, w, channels), False, 65535)
    if channels == 1:
        pixels = pixels[..., 0]
    for orientation in range(1, 9) if not (writer == "cv2" and fmt == "TIFF") else (1,):
        path = folder / f"deep.{fmt.lower()}"
        if writer == "tifffile":
            tifffile.imwrite(path, pixels, photometric="rgb", extrasamples=[2] * (channels == 4),
                             extratags=[(274, "H", 1, orientation, True)])
        else:
            if writer == "cv2":
                order = [2, 1, 0, 3][:channels] if channels > 1 else slice(None)
                data = cv2.imencode(f".{fmt.lower()}", np.ascontiguousarray(pixels[..., order]))[1].tobytes()
            else:
                buffer = io.BytesIO()
                save_image(pixels, buffer, fmt)
                data = buffer.getvalue()
            path.write_bytes(_png_with_exif(data, orientation) if fmt == "PNG" else data)
        _check(path, np.ascontiguousarray(UPRIGHT[orientation](pixels)), lossy=False)


@settings(max_examples=examples(100))
@given(case=st.sampled_from(sorted(PIL_CASES)), cut=st.floats(0, 1), flips=st.lists(st.integers(0, 10**6), max_size=4))
def test_a_damaged_file_reads_or_is_an_image_read_error_naming_it(folder, case, cut, flips):
    fmt, mode = case
    buffer = io.BytesIO()
    _pil_image(mode, np.random.default_rng(0), 16, 16, False).save(buffer, format=fmt, exif=_exif(6))
    data = bytearray(buffer.getvalue()[: max(1, int(len(buffer.getvalue()) * cut))])
    for flip in flips:
        data[flip % len(data)] ^= 0xFF
    path = folder / f"damaged.{fmt.lower()}"
    path.write_bytes(bytes(data))
    try:
        pixels = read_image(path, alpha=True)
    except ImageReadError as error:
        assert str(path) in str(error)
        return
    assert pixels.dtype in (np.uint8, np.uint16) and min(pixels.shape[:2]) >= 8
    assert pixels.ndim == 2 or pixels.shape[-1] in (2, 3, 4)


def test_grayscale_tiff_turned_by_exif_is_not_scrambled_and_its_size_is_upright(tmp_path):
    """Pillow turns TIFFs upright itself while loading and scrambles grayscale ones; the reader
    applies orientation once, on the array, and image_size agrees (the trainer's --scale)."""
    gray = np.arange(12 * 20, dtype=np.uint8).reshape(12, 20)
    for orientation in (5, 6, 7, 8):
        Image.fromarray(gray).save(tmp_path / "g.tif", exif=_exif(orientation))
        expected = UPRIGHT[orientation](gray)
        assert np.array_equal(read_image(tmp_path / "g.tif"), expected)
        assert image_size(tmp_path / "g.tif") == (20, 12)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [4, 2])
def test_alpha_is_composited_onto_white_unless_asked_for(tmp_path, dtype, channels):
    """Read without alpha (style images, previews, training), transparency is white slide glass,
    exactly (rounded to nearest), as histology viewers show it: dropping alpha gave the colour
    stored under alpha 0, often black. ``alpha=True`` (stylize) gives the stored pixels."""
    white = np.iinfo(dtype).max
    pixels = np.random.default_rng(0).integers(0, white, (16, 16, channels), dtype=np.int64, endpoint=True)
    pixels[:4, ..., -1] = 0  # transparent rows over random colour
    pixels[4:8, ..., -1] = white  # opaque rows
    pixels = pixels.astype(dtype)
    save_image(pixels, tmp_path / "a.png", "PNG")
    colour, alpha = pixels[..., :-1].astype(np.float64), pixels[..., -1:].astype(np.float64) / white
    on_white = np.round(colour * alpha + white * (1 - alpha)).astype(dtype)
    read = read_image(tmp_path / "a.png")
    assert read.dtype == dtype and np.array_equal(read, on_white[..., 0] if channels == 2 else on_white)
    assert (read[:4] == white).all() and np.array_equal(read[4:8], pixels[4:8, ..., 0 if channels == 2 else slice(3)])
    assert np.array_equal(read_image(tmp_path / "a.png", alpha=True), pixels)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16_bit_png_without_opencv_reads_the_same(tmp_path, monkeypatch, channels):
    """Without OpenCV, 16-bit colour PNG goes through torchvision's decoder: same pixels, same
    orientation."""
    pixels = np.random.default_rng(6).integers(0, 65536, (12, 20, channels), dtype=np.uint16)
    buffer = io.BytesIO()
    save_image(pixels, buffer, "PNG")
    (tmp_path / "x.png").write_bytes(_png_with_exif(buffer.getvalue(), 6))
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    assert np.array_equal(read_image(tmp_path / "x.png", alpha=True), UPRIGHT[6](pixels))


# -- issue 17 item 9: a lossless WebP stays lossless ------------------------------------------------
def test_lossless_webp_is_detected_and_kept_exact(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "lossless.webp", lossless=True)
    Image.fromarray(pixels).save(tmp_path / "lossy.webp", quality=90)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "a.jpg")
    frames = [Image.fromarray(pixels), Image.fromarray(pixels[::-1])]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], lossless=True)
    assert is_lossless(tmp_path / "lossless.webp") and is_lossless(tmp_path / "anim.webp")
    assert is_lossless(tmp_path / "a.png")
    assert not is_lossless(tmp_path / "lossy.webp") and not is_lossless(tmp_path / "a.jpg")
    assert not is_lossless(tmp_path / "missing.webp")
    read = read_image(tmp_path / "lossless.webp")
    save_image(read, tmp_path / "again.webp", "WEBP", lossless=is_lossless(tmp_path / "lossless.webp"))
    assert np.array_equal(read_image(tmp_path / "again.webp"), pixels)


def _closing_webp_first(lossless):
    """``headers._lossless`` as under a Pillow whose WebP reader has closed its file."""

    def closed_first(image, path):
        if image.format == "WEBP":
            image.fp.close()
        return lossless(image, path)

    return closed_first


def test_read_with_traits_is_one_opening_that_says_what_the_three_readers_say(tmp_path, monkeypatch):
    """``read_with_traits`` (what ``stylize`` reads each input with) gives read_image's pixels,
    is_lossless's flag and carried_metadata's resolution and profile, from one opening of the
    file: a quarter-turned TIFF's resolution swapped, WebP's lossless flag from its chunks (from
    the file Pillow holds open, or the file once more where a Pillow has closed it)."""
    from PIL import ImageCms

    from stylizing_vit_aug.images import carried_metadata, headers, read_with_traits

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = random_rgb(5, (20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "turned.tif", dpi=(300, 150), icc_profile=icc, exif=exif.tobytes())
    Image.fromarray(pixels).save(tmp_path / "plain.png", dpi=(72, 72))
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", icc_profile=icc)
    Image.fromarray(pixels).save(tmp_path / "exact.webp", lossless=True, icc_profile=icc)
    Image.fromarray(pixels).save(tmp_path / "lossy.webp", quality=80)
    frames = [Image.fromarray(pixels), Image.fromarray(pixels[::-1])]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], lossless=True)
    paths = sorted(tmp_path.iterdir())
    for closing in (False, True):
        if closing:  # a Pillow whose WebP reader closes the file once it has read it
            monkeypatch.setattr(headers, "_lossless", _closing_webp_first(headers._lossless))
        for path in paths:
            read, traits = read_with_traits(path, alpha=True)
            assert np.array_equal(read, read_image(path, alpha=True)), path.name
            assert (traits.lossless, traits.metadata) == (is_lossless(path), carried_metadata(path)), path.name
    assert carried_metadata(tmp_path / "turned.tif")["dpi"] == (150, 300)
    assert [is_lossless(tmp_path / name) for name in ("exact.webp", "anim.webp", "lossy.webp")] == [True, True, False]


# -- issue 17 item 15: only the first frame, said once per kind ------------------------------------
def _many_frames(path: Path, fmt: str) -> np.ndarray:
    rng = np.random.default_rng(4)
    frames = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(3)]
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], **options)
    return np.asarray(frames[0])


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP", "GIF", "PNG"])
def test_only_the_first_frame_is_read_and_that_is_said_once(tmp_path, caplog, monkeypatch, fmt):
    monkeypatch.setattr(kinds, "_told", set())
    first = _many_frames(tmp_path / "a", fmt)
    _many_frames(tmp_path / "b", fmt)
    with caplog.at_level(logging.WARNING):
        pixels = read_image(tmp_path / "a")
        read_image(tmp_path / "b")
    if fmt != "GIF":  # a GIF's palette changes the colours, not which frame is read
        assert np.array_equal(pixels, first)
    said = [r.getMessage() for r in caplog.records if "first frame" in r.getMessage()]
    assert len(said) == 1 and "3" in said[0]


def test_stylize_keeps_lossless_webp_exact_and_carries_alpha(tmp_path):
    """`stylize --strength 0` gives back a lossless WebP's pixels exactly (it was re-encoded
    lossy: max diff 11), and an RGBA input comes back RGBA with its alpha unchanged."""
    from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
    from stylizing_vit_aug import cli, hub

    hub.save_pretrained(make_small_model(), tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    rng = np.random.default_rng(5)
    folder = tmp_path / "in"
    folder.mkdir()
    rgb, rgba = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), rng.integers(0, 256, (40, 48, 4), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "lossless.webp", lossless=True)
    Image.fromarray(rgba).save(folder / "alpha.png")
    Image.fromarray(rgba).save(folder / "alpha.webp", lossless=True, exact=True)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "style.png")
    common = ["--style", str(tmp_path / "style.png"), "--checkpoint", str(tmp_path / "ckpt")]
    for strength in ("0", "1"):
        out = tmp_path / f"out{strength}"
        assert cli.main(["stylize", str(folder), "-o", str(out), "--strength", strength, *common]) == 0
        assert is_lossless(out / "lossless.webp")
        for name, source in (("lossless.webp", rgb), ("alpha.png", rgba), ("alpha.webp", rgba)):
            written = read_image(out / name, alpha=True)
            assert written.shape == source.shape, name
            assert np.array_equal(written[..., 3:], source[..., 3:]), name  # alpha (if any) unchanged
            assert np.array_equal(written, source) == (strength == "0"), name


# -- the one reader: 8/16-bit, grayscale/RGB, EXIF orientation ----------------------------------
def test_one_image_reader_and_one_extension_list_for_the_whole_package():
    from stylizing_vit_aug.bank import IMAGE_EXTENSIONS as bank_extensions
    from stylizing_vit_aug.train import data

    assert data.IMAGE_EXTENSIONS is images.IMAGE_EXTENSIONS is bank_extensions
    assert not hasattr(data, "_scan") or "os.walk" not in Path(data.__file__).read_text()


def test_the_reader_keeps_16_bits_and_names_unreadable_files(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    gray16 = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g.png")
    Image.fromarray(gray16).save(tmp_path / "g.tif")
    cv2.imwrite(str(tmp_path / "c.png"), rgb16[..., ::-1])
    cv2.imwrite(str(tmp_path / "c.tif"), rgb16[..., ::-1])
    for name, expected in (("g.png", gray16), ("g.tif", gray16), ("c.png", rgb16), ("c.tif", rgb16)):
        pixels = read_image(tmp_path / name)
        assert pixels.dtype == np.uint16 and np.array_equal(pixels, expected), name
    bad = truncated_jpeg(tmp_path / "bad.jpg")
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_reader_applies_exif_orientation(tmp_path, orientation):
    pixels = random_rgb(orientation, (12, 20))
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    assert np.array_equal(read_image(tmp_path / "o.png"), expected)
    assert images.image_size(tmp_path / "o.png") == expected.shape[:2]


@pytest.mark.skipif(sys.platform.startswith("win"), reason="symlinks need privileges on Windows")
def test_a_folder_is_listed_at_its_own_path_not_through_a_link_to_it(tmp_path):
    # the first subfolder names a domain: b/shared -> ../a must not move a's images into b
    from helpers import write_images

    root = tmp_path / "data"
    write_images(root / "a", 1)
    write_images(root / "b", 1, seed=1)
    (root / "b" / "shared").symlink_to("../a", target_is_directory=True)
    (root / "a" / "zlink").symlink_to("../b", target_is_directory=True)
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    outside = tmp_path / "elsewhere"
    write_images(outside, 1, seed=2)
    (root / "c").symlink_to(outside, target_is_directory=True)  # a folder outside: listed through its link
    found = [p.relative_to(root).as_posix() for p in images.find_images(root)]
    assert found == ["a/img00.png", "b/img00.png", "c/img00.png"]
    bank_domains = sva.StyleBank.from_folder(root, sva.load_stylizer(device="cpu"), encode=False).domains
    assert bank_domains == ["a", "b", "c"]


@pytest.mark.skipif(sys.platform.startswith("win"), reason="symlinks need privileges on Windows")
def test_a_symlinked_file_is_listed_once_at_its_own_path_as_folders_are(tmp_path):
    # c/link_to_a.png -> ../a/img00.png was listed under a and c: trained on twice, in two domains
    from helpers import write_images

    root = tmp_path / "data"
    write_images(root / "a", 1)
    write_images(root / "b", 1, seed=1)
    (root / "c").mkdir()
    (root / "c" / "link_to_a.png").symlink_to("../a/img00.png")
    outside = tmp_path / "elsewhere"
    write_images(outside, 1, seed=2)
    (root / "b" / "out1.png").symlink_to(outside / "img00.png")  # two links to one file outside: the first
    (root / "c" / "out2.png").symlink_to(outside / "img00.png")
    found = [p.relative_to(root).as_posix() for p in images.find_images(root)]
    assert found == ["a/img00.png", "b/img00.png", "b/out1.png"]
    bank_domains = sva.StyleBank.from_folder(root, sva.load_stylizer(device="cpu"), encode=False).domains
    assert bank_domains == ["a", "b", "b"]


WRITTEN = ["PNG", "JPEG", "TIFF", "BMP", "WEBP"]


def _written(fmt: str, dtype: str, channels: int) -> bytes:
    """What save_image writes for a 24 x 20 image of these pixels (an output of ``stylize``)."""
    rng = np.random.default_rng(channels)
    top = 65535 if dtype == "uint16" else 255
    pixels = rng.integers(0, top + 1, (24, 20, channels)).astype(dtype)
    buffer = io.BytesIO()
    save_image(pixels[..., 0] if channels == 1 else pixels, buffer, fmt)
    return buffer.getvalue()


@settings(max_examples=examples(60))
@given(fmt=st.sampled_from(WRITTEN), dtype=st.sampled_from(["uint8", "uint16"]), channels=st.integers(1, 4),
       cut=st.floats(0, 1, exclude_max=True))
def test_every_file_the_writer_writes_is_whole_and_every_cut_one_is_not(folder, fmt, dtype, channels, cut):
    """A rerun of ``stylize`` checks each existing output this way instead of decoding it: what
    it counts as whole must read, and an output cut short (a copy that stopped) must not count."""
    data = _written(fmt, dtype, channels)
    path = folder / f"out.{fmt.lower()}"
    path.write_bytes(data)
    images.check_whole(path)
    read_image(path, alpha=True)
    path.write_bytes(data[: int(len(data) * cut)])
    try:
        images.check_whole(path)
    except ImageReadError as error:
        assert str(path) in str(error)
    else:  # only a format without the cheap check may decode a file cut in its padding
        assert fmt not in ("PNG", "JPEG")
        read_image(path, alpha=True)


@settings(max_examples=examples(60))
@given(channels=st.integers(1, 4), flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=3))
def test_a_png_with_a_damaged_byte_is_not_whole(folder, channels, flips):
    data = bytearray(_written("PNG", "uint8", channels))
    for position in {8 + flip % (len(data) - 8) for flip in flips}:  # past the signature, which Pillow reads first
        data[position] ^= 0xFF
    path = folder / "out.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="out.png"):
        images.check_whole(path)


@pytest.mark.parametrize("reader", ["read_image", "image_size", "check_whole"])
def test_no_reader_opens_a_named_pipe(tmp_path, reader):
    """Each would block forever on a pipe named like an image (training data, reruns, stylize)."""
    import os
    import threading

    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    raised: list[BaseException] = []

    def read() -> None:
        try:
            getattr(images, reader)(pipe)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            raised.append(error)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # a writer unblocks the reader, so the test process can end
        with open(pipe, "wb"):
            pass
        pytest.fail(f"{reader} blocked on a named pipe")
    assert len(raised) == 1 and isinstance(raised[0], ImageReadError)
    assert "is a named pipe, not an image file" in str(raised[0])


def test_an_image_beyond_a_limit_set_in_the_process_is_named_with_its_size_and_tiles(tmp_path, monkeypatch):
    from PIL import Image

    Image.fromarray(random_rgb(0)).save(tmp_path / "big.png")  # 48 x 40
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # set lower by the user: honoured, Pillow's twice it
    for reader in (images.read_image, image_size):
        with pytest.raises(ImageReadError, match="48x40") as error:
            reader(tmp_path / "big.png")
        assert str(tmp_path / "big.png") in str(error.value) and "tiles" in str(error.value)


@pytest.mark.parametrize("name", ["big.png", "big.tif"])  # a TIFF's loading checks Pillow's limit again, whole
def test_the_users_large_files_are_read_past_pillows_default_guard_up_to_max_pixels(tmp_path, monkeypatch, name):
    """Pillow's default (179 MP refused, 89 MP warned raw) guards downloads; a command's user cannot raise it. Its
    default gives way to the package's MAX_PIXELS: below it a file reads, silently; above it, an error with tiles."""
    from PIL import Image

    from stylizing_vit_aug.images import headers

    pixels = random_rgb(0)
    Image.fromarray(pixels).save(tmp_path / name)
    # Pillow's default shrunk so that the image stands for a 89-179 MP file (its crops, each under the default,
    # would themselves meet a shrunk refusal limit)
    monkeypatch.setattr(headers, "PILLOW_DEFAULT_PIXELS", 1000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", headers.PILLOW_DEFAULT_PIXELS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw DecompressionBombWarning
        assert np.array_equal(images.read_image(tmp_path / name), pixels)
        assert image_size(tmp_path / name) == (40, 48)
    monkeypatch.setattr(headers, "MAX_PIXELS", 48 * 40 - 1)
    with pytest.raises(ImageReadError, match="the package.s limit") as error:
        images.read_image(tmp_path / name)
    assert "48x40" in str(error.value) and "tiles" in str(error.value)
    assert Image.MAX_IMAGE_PIXELS == headers.PILLOW_DEFAULT_PIXELS  # restored after each opening


def test_pillows_warning_band_is_said_once_per_file_through_the_log(tmp_path, monkeypatch, caplog):
    from PIL import Image

    Image.fromarray(random_rgb(0)).save(tmp_path / "big.png")  # 1,920 pixels
    monkeypatch.setattr(kinds, "_told", set())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # set in the process: warned above, refused above twice
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        warnings.simplefilter("error")
        for _ in range(2):
            images.read_image(tmp_path / "big.png")
    said = [r for r in caplog.records if "MAX_IMAGE_PIXELS" in r.getMessage()]
    assert len(said) == 1 and str(tmp_path / "big.png") in said[0].getMessage()


@pytest.mark.parametrize(("fmt", "suffix", "dtype", "channels"), [
    ("PNG", ".png", np.uint8, 3), ("PNG", ".png", np.uint16, 3), ("PNG", ".png", np.uint16, 1),
    ("TIFF", ".tif", np.uint8, 3), ("TIFF", ".tif", np.uint16, 1), ("TIFF", ".tif", np.uint16, 3),
    ("JPEG", ".jpg", np.uint8, 3),
])
def test_a_written_image_keeps_the_sources_resolution_and_colour_profile(tmp_path, fmt, suffix, dtype, channels):
    """Slides record microns per pixel as the file's resolution; a stylised copy that dropped it
    (and the colour profile) would measure wrong in every viewer."""
    from PIL import Image, ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = tmp_path / f"source{suffix}"
    Image.fromarray(random_rgb(1)).save(source, dpi=(25400, 12700), icc_profile=icc)  # 1 x 2 micron pixels
    kept = images.carried_metadata(source)
    assert kept["icc_profile"] == icc and [round(v) for v in kept["dpi"]] == [25400, 12700]
    pixels = random_rgb(2).astype(dtype) * (257 if dtype == np.uint16 else 1)
    pixels = pixels[..., 0] if channels == 1 else pixels
    written = tmp_path / f"written{suffix}"
    images.save_image(pixels, written, fmt, metadata=kept)
    with Image.open(written) as image:
        assert [round(v) for v in image.info["dpi"]] == [25400, 12700]
        if channels == 1:  # an RGB profile does not describe gray pixels: left out (metadata.written_metadata)
            assert "icc_profile" not in image.info
        else:  # a 16-bit colour TIFF too, since the package writes it itself (OpenCV wrote no profile)
            assert image.info["icc_profile"] == icc
    assert np.array_equal(images.read_image(written), pixels) or fmt == "JPEG"


def test_a_signed_16_bit_tiff_is_named_for_what_it_is(tmp_path):
    from PIL import Image

    signed = np.full((16, 16), -300, dtype=np.int16)
    signed[0, 0] = 40
    Image.fromarray(signed).save(tmp_path / "signed.tif")
    with pytest.raises(ImageReadError, match=r"integer pixels outside 0\.\.65535 \(signed or 32-bit integers, "
                                             r"e\.g\. -300\)") as error:
        images.read_image(tmp_path / "signed.tif")
    assert "16-bit PNG or TIFF" in str(error.value)


def test_a_grayscale_image_written_as_webp_is_said_to_become_rgb(tmp_path, caplog):
    from stylizing_vit_aug.images import kinds

    kinds._told.discard("save:gray:WEBP")
    with caplog.at_level("WARNING"):
        images.save_image(random_rgb(0)[..., 0], tmp_path / "g.webp", "WEBP", lossless=True)
    assert "grayscale images are written as RGB" in caplog.text
    assert images.read_image(tmp_path / "g.webp").ndim == 3  # what the warning says


@pytest.mark.parametrize("microns", [0.25, 0.5, 0.1])
def test_a_jpeg_keeps_a_resolution_beyond_its_16_bit_field(tmp_path, microns):
    """A 40x scan's 0.25 micron pixels are 101,600 dpi: JFIF's 16-bit field wrapped it to 36,064
    (0.70 micron), so a stylised JPEG measured every structure 2.8x too large."""
    from PIL import Image

    dpi = 25400 / microns
    source = tmp_path / "slide.tif"
    Image.fromarray(random_rgb(1)).save(source, dpi=(dpi, dpi))
    images.save_image(random_rgb(2), tmp_path / "out.jpg", "JPEG", metadata=images.carried_metadata(source))
    assert [round(v) for v in images.carried_metadata(tmp_path / "out.jpg")["dpi"]] == [round(dpi)] * 2


def test_a_resolution_webp_cannot_hold_is_said_to_be_dropped(tmp_path, caplog):
    from stylizing_vit_aug.images import kinds

    kinds._told.discard("save:dpi:WEBP")
    with caplog.at_level("WARNING"):
        images.save_image(random_rgb(0), tmp_path / "o.webp", "WEBP", metadata={"dpi": (101600, 101600)})
    assert "WebP files hold no resolution" in caplog.text
    assert "dpi" not in images.carried_metadata(tmp_path / "o.webp")  # what the warning says


@pytest.mark.parametrize(("extra", "kept"), [([0], 3), ([2, 0], 4), ([0, 0], None), ([2, 0, 0], None)])
def test_a_tiffs_extra_samples_beyond_one_padding_sample_are_refused_not_dropped(tmp_path, extra, kept):
    """An RGB TIFF with two more samples (multichannel data) was read as RGB without a word, and stylised to a
    3-channel output; one padding sample after RGB or RGBA is still read as before."""
    pixels = np.random.default_rng(4).integers(0, 256, (12, 20, 3 + len(extra)), dtype=np.uint8)
    path = tmp_path / "multi.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", extrasamples=extra)
    if kept is None:
        said = rf"{3 + len(extra)} samples per pixel, RGBA? and \d more, which would be dropped"
        for read in (lambda: read_image(path, alpha=True), lambda: check_whole(path, decode=False)):
            with pytest.raises(ImageReadError, match=said):
                read()
    else:
        assert np.array_equal(read_image(path, alpha=True), pixels[..., :kept])
