"""What the reader and the returned image used to get wrong silently: a 16-bit MinIsWhite TIFF read as its
negative (also when the caller opens it), a signed 8-bit TIFF read wrapped (-1 as 255), a PIL input's colour
profile and resolution dropped by a stylisation, a profile other than sRGB used without a word (also one with sRGB's
primaries on another tone curve), a ``tv_tensors.Image`` given back as a plain tensor, and a bank told that it gives
images back."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import srgb_profile as _srgb
from helpers import wide_gamut_profile as _wide_profile
from stylizing_vit_aug import StyleBank, StylizeTransform, cli
from stylizing_vit_aug.images import (
    ImageReadError,
    check_image,
    check_whole,
    kinds,
    read_image,
    save_image,
    to_batch,
)
from stylizing_vit_aug.images.value_range import TWELVE_BIT_MAX, declare_value_range


@pytest.fixture(autouse=True)
def _fresh_notes(monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())


# the colorants of a vendor's ICC v2 "sRGB IEC61966-2.1" profile (D50), rounded otherwise than littlecms's
_SRGB_V2 = ((0.436066, 0.222488, 0.013916), (0.385147, 0.716873, 0.097076), (0.143066, 0.060608, 0.714096))


def _v2_profile(description: str, curve: list[int]) -> bytes:
    """An ICC v2 RGB display profile as vendors write one: sRGB's colorants, each channel's tone curve ``curve``
    (a ``curv`` tag: one entry is a gamma in 8.8 fixed point, more a table of 16-bit values)."""

    def xyz(values: tuple[float, ...]) -> bytes:
        return b"XYZ " + bytes(4) + struct.pack(">3i", *(round(v * 65536) for v in values))

    text = description.encode("ascii") + b"\0"
    curv = b"curv" + bytes(4) + struct.pack(f">I{len(curve)}H", len(curve), *curve)
    tags = [(b"desc", b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(78))]
    tags += [(b"wtpt", xyz((0.9505, 1.0, 1.0891)))]
    tags += [(signature, xyz(colorant)) for signature, colorant in zip((b"rXYZ", b"gXYZ", b"bXYZ"), _SRGB_V2)]
    tags += [(signature, curv) for signature in (b"rTRC", b"gTRC", b"bTRC")]
    table, body, start = b"", b"", 132 + 12 * len(tags)
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table, body = table + struct.pack(">4sII", signature, start + len(body), len(data)), body + data
    header = struct.pack(">I4sI4s4s4s", start + len(body), b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += bytes(12) + b"acsp" + bytes(28) + xyz((0.9642, 1.0, 0.8249))[8:]
    return header + bytes(128 - len(header)) + struct.pack(">I", len(tags)) + table + body


def _srgb_curve(entries: int = 1024) -> list[int]:
    """sRGB's tone curve (IEC 61966-2-1) sampled as a v2 profile's table."""
    x = np.linspace(0, 1, entries)
    return [round(v * 65535) for v in np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)]


def _linear_littlecms() -> bytes:
    """littlecms's sRGB profile with its tone curves made linear (gamma 1): sRGB's primaries, not its display."""
    icc = bytearray(_srgb())
    (count,) = struct.unpack(">I", icc[128:132])
    for i in range(count):
        signature, offset, _ = struct.unpack(">4sII", icc[132 + 12 * i : 144 + 12 * i])
        if signature in (b"rTRC", b"gTRC", b"bTRC"):
            assert icc[offset : offset + 4] == b"para"
            struct.pack_into(">4sIHHi", icc, offset, b"para", 0, 0, 0, 65536)  # Y = X ** 1.0
    icc[84:100] = bytes(16)  # no profile ID
    return bytes(icc).replace("sRGB built-in".encode("utf-16-be"), "sRGB linear  ".encode("utf-16-be"))


def _with_tag(path: Path, tag: int, value: int) -> Path:
    """``path``, a little-endian TIFF Pillow wrote, with the SHORT ``tag`` of its first directory set to
    ``value`` in place: the stored pixels stay exactly what was saved."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"II*\x00"
    (start,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[start : start + 2])
    for entry in range(start + 2, start + 2 + 12 * count, 12):
        if struct.unpack("<H", data[entry : entry + 2])[0] == tag:
            data[entry + 8 : entry + 10] = struct.pack("<H", value)
            path.write_bytes(bytes(data))
            return path
    raise AssertionError(f"no tag {tag} in {path}")


def _min_is_white(path: Path, stored: np.ndarray) -> Path:
    """A grayscale TIFF holding ``stored`` as they are, tagged MinIsWhite (PhotometricInterpretation 0)."""
    Image.fromarray(stored).save(path)
    return _with_tag(path, 262, 0)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(8, 24), width=st.integers(8, 24))
def test_a_16_bit_min_is_white_tiff_is_read_as_displayed_as_the_8_bit_one_is(tmp_path_factory, seed, height, width):
    """Pillow shows an 8-bit MinIsWhite TIFF as displayed (0 is white) but gives a 16-bit one as stored: it was
    read as its negative, and a style from it was the negative style."""
    folder = tmp_path_factory.mktemp("mw")
    stored = np.random.default_rng(seed).integers(0, 65536, (height, width), dtype=np.uint16)
    deep = read_image(_min_is_white(folder / "deep.tif", stored))
    shallow = read_image(_min_is_white(folder / "shallow.tif", (stored >> 8).astype(np.uint8)))
    assert deep.dtype == np.uint16 and np.array_equal(deep, 65535 - stored)  # TIFF: MinIsWhite, 0 is white
    assert np.array_equal((deep >> 8).astype(np.uint8), shallow)  # the 8-bit path's reading, on 16 bits


def test_a_min_is_white_tiff_written_back_displays_as_it_did(tmp_path):
    """The output is written MinIsBlack, so its pixels must be the displayed ones: a strength-0 round trip."""
    stored = np.random.default_rng(3).integers(0, 65536, (16, 24), dtype=np.uint16)
    source = _min_is_white(tmp_path / "in.tif", stored)
    save_image(read_image(source), tmp_path / "out.tif", "TIFF")
    with Image.open(tmp_path / "out.tif") as written:
        assert written.tag_v2.get(262) == 1  # MinIsBlack: shown as stored
        assert np.array_equal(np.asarray(written), 65535 - stored)


def test_a_signed_8_bit_tiff_is_refused_not_read_wrapped(tmp_path):
    """Pillow opens it as plain 8-bit gray, -1 as 255: refused as a signed 8-bit RGB TIFF (which Pillow cannot
    open) is, by the reader and by the header check alike."""
    path = tmp_path / "signed.tif"
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(path, tiffinfo={339: 2})  # SampleFormat: signed
    with Image.open(path) as image:
        assert image.mode == "L"  # what Pillow makes of it
    for read in (read_image, check_whole):
        with pytest.raises(ImageReadError, match=r"holds 8-bit signed integer pixels, which are not supported"):
            read(path)


def test_a_stylised_pil_image_keeps_its_colour_profile_and_resolution(small_stylizer):
    """Saved, an output without the profile relabels its numbers as sRGB: the content's is carried, as
    ``stylize`` writes it, and only where it describes the pixels given back."""
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    content.info.update(icc_profile=_srgb(), dpi=(25400.0, 12700.0))
    style = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    for strength in (0.5, 0.0):
        out = small_stylizer(content, style, strength=strength)
        assert out.info["icc_profile"] == content.info["icc_profile"] and out.info["dpi"] == content.info["dpi"]
    cmyk = content.convert("CMYK")
    cmyk.info["icc_profile"] = _srgb()[:16] + b"CMYK" + _srgb()[20:]
    for strength in (0.5, 0.0):  # given back as RGB: a CMYK profile does not describe it
        out = small_stylizer(cmyk, style, strength=strength)
        assert out.mode == "RGB" and "icc_profile" not in out.info


def test_a_profile_other_than_srgb_is_said_once_naming_file_and_profile(tmp_path, caplog):
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "srgb.png", icc_profile=_srgb())
    for name in ("a.png", "b.png"):
        Image.fromarray(pixels).save(tmp_path / name, icc_profile=_wide_profile())
    with caplog.at_level(logging.INFO, logger="stylizing_vit_aug"):
        read_image(tmp_path / "srgb.png")
        assert not any("not sRGB" in r.getMessage() for r in caplog.records)
        for name in ("a.png", "b.png"):
            assert np.array_equal(read_image(tmp_path / name), pixels)  # the numbers as they are
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "not sRGB" in r.getMessage()]
    assert len(warned) == 1 and str(tmp_path / "a.png") in warned[0] and "Wide P3 gamut" in warned[0]
    assert any(str(tmp_path / "b.png") in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_a_pil_style_with_a_wide_profile_is_said(small_stylizer, caplog):
    rng = np.random.default_rng(2)
    content = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    style = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    style.info["icc_profile"] = _wide_profile("Display P3 xy")
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        small_stylizer(content, style)
    assert any("Display P3 xy" in r.getMessage() and "not sRGB" in r.getMessage() for r in caplog.records)


def _png_with(path: Path, pixels: np.ndarray, chunks: dict[bytes, bytes]) -> Path:
    """A PNG of ``pixels`` with the colour chunks ``chunks`` (kind -> body), before its pixels."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for kind, body in chunks.items():
        info.add(kind, body)
    Image.fromarray(pixels).save(path, pnginfo=info)
    return path


_LINEAR = struct.pack(">I", 100000)  # gAMA 1.0: linear light
_SRGB_GAMMA = struct.pack(">I", 45455)
_WIDE_PRIMARIES = struct.pack(">8I", 31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000)  # P3's red and green
_SRGB_PRIMARIES = struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        ({b"gAMA": _LINEAR}, "gAMA 1"),
        ({b"gAMA": _SRGB_GAMMA, b"cHRM": _WIDE_PRIMARIES}, "cHRM primaries"),
        ({b"gAMA": _SRGB_GAMMA, b"cHRM": _SRGB_PRIMARIES}, None),
        ({b"sRGB": b"\0", b"gAMA": _LINEAR}, None),  # an sRGB chunk overrides gAMA, as the PNG specification says
        ({}, None),
    ],
    ids=["linear", "wide primaries", "srgb chunks", "srgb overrides", "none"],
)
def test_png_colour_chunks_that_are_not_srgb_are_said_naming_the_file(tmp_path, caplog, small_stylizer, chunks, said):
    """A PNG's gAMA/cHRM give its numbers their meaning where it has no profile; they were dropped without a word,
    so an output showed in other colours than its input in a browser (a probe of the file paths)."""
    pixels = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path = _png_with(tmp_path / "scan.png", pixels, chunks)
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        assert np.array_equal(read_image(path), pixels)  # the numbers as they are
        with Image.open(path) as opened:
            small_stylizer(pixels, opened)  # a PIL style opened from it: said as the file is
    warned = [r.getMessage() for r in caplog.records if "PNG colour chunks" in r.getMessage()]
    if said is None:
        assert not warned
    else:
        assert len(warned) == 1 and str(path) in warned[0] and said in warned[0]  # once, naming the file


def test_png_colour_chunks_are_said_of_a_converted_pil_image_too(tmp_path, caplog, small_stylizer):
    """``Image.open(p).convert("RGB")`` (torchvision's ImageFolder does it to every image) has no ``format`` but
    keeps the chunks' values in ``info``: it was passed without a word (a review)."""
    pixels = np.random.default_rng(4).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path = _png_with(tmp_path / "scan.png", pixels, {b"gAMA": _LINEAR})
    with Image.open(path) as opened:
        converted = opened.convert("RGB")
    assert converted.format is None
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        small_stylizer(converted, pixels)
    assert any("PNG colour chunks (gAMA 1" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("strength", [0.5, 0.0])
@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 3, 32, 32)])
def test_a_tv_tensors_image_comes_back_as_one(small_stylizer, strength, shape):
    from torchvision import tv_tensors

    image = tv_tensors.Image(torch.rand(shape))
    out = small_stylizer(image, np.zeros((32, 32, 3), np.uint8), strength=strength)
    assert type(out) is tv_tensors.Image and out.shape == image.shape


def test_a_bank_of_a_palette_image_is_not_told_it_gives_it_back(small_stylizer, caplog):
    palette = Image.fromarray(np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)).quantize(16)
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        StyleBank.from_images([palette], small_stylizer)
    (said,) = [r.getMessage() for r in caplog.records if "mode 'P'" in r.getMessage()]
    assert "are read as mode 'RGB'" in said


def _stylize(tmp_path: Path, checkpoint: str, folder: Path, *extra: str) -> int:
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(style)
    argv = ["-v", "stylize", str(folder), "-o", str(tmp_path / "out"), "--style", str(style)]
    return cli.main([*argv, "--checkpoint", checkpoint, "--strength", "0", *extra])


def test_stylize_gives_a_min_is_white_tiff_back_as_it_displays(tmp_path, checkpoint):
    stored = np.random.default_rng(6).integers(0, 65536, (24, 32), dtype=np.uint16)
    (tmp_path / "in").mkdir()
    _min_is_white(tmp_path / "in" / "mw.tif", stored)
    assert _stylize(tmp_path, checkpoint, tmp_path / "in") == 0
    with Image.open(tmp_path / "out" / "mw.tif") as written:
        assert written.tag_v2.get(262) == 1 and np.array_equal(np.asarray(written), 65535 - stored)


def test_stylize_says_a_png_named_jpg_is_written_as_a_lossy_jpeg(tmp_path, checkpoint, capsys):
    """``--ext keep`` writes by the name, as everywhere; ``--strength 0`` then cannot give the pixels back, which
    the docs promise for every input stored exactly: said, naming the file and the way out."""
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.random.default_rng(7).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(pixels).save(folder / name, format="PNG")
    Image.fromarray(pixels).save(folder / "c.png")
    assert _stylize(tmp_path, checkpoint, folder, "--ext", "keep") == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "named as one" in line]
    assert len(said) == 2 and "--ext png" in said[0] and str(folder / "a.jpg") in said[0]
    assert str(folder / "b.jpg") in said[1] and not any("c.png" in line for line in said)
    with Image.open(tmp_path / "out" / "a.jpg") as written:  # what the warning says
        assert written.format == "JPEG"
    assert np.array_equal(read_image(tmp_path / "out" / "c.png"), pixels)


@pytest.mark.parametrize(
    "profile, is_srgb",
    [
        pytest.param(_srgb, True, id="littlecms-srgb"),
        pytest.param(lambda: _v2_profile("sRGB IEC61966-2.1", _srgb_curve()), True, id="v2-srgb-iec61966"),
        pytest.param(_linear_littlecms, False, id="littlecms-primaries-linear"),
        pytest.param(lambda: _v2_profile("sRGB primaries linear", [256]), False, id="v2-primaries-gamma-1"),
        pytest.param(lambda: _v2_profile("sRGB primaries gamma 1.5", [384]), False, id="v2-primaries-gamma-1.5"),
        pytest.param(_wide_profile, False, id="p3-colorants"),
    ],
)
def test_srgb_is_told_by_how_a_profile_shows_colours_not_its_colorants(tmp_path, caplog, profile, is_srgb):
    """sRGB's primaries on another tone curve show 128 grey as another grey (linear: 188), so its numbers are
    not sRGB's; a vendor's sRGB profile, its curve sampled and its colorants rounded otherwise, is sRGB."""
    icc = profile()
    pixels = np.random.default_rng(8).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.png", icc_profile=icc)
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        assert np.array_equal(read_image(tmp_path / "p.png"), pixels)  # never converted
    said = [r.getMessage() for r in caplog.records if "not sRGB" in r.getMessage()]
    assert len(said) == (0 if is_srgb else 1) and all(str(tmp_path / "p.png") in message for message in said)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(8, 24), width=st.integers(8, 24))
def test_a_16_bit_min_is_white_tiff_opened_by_the_caller_is_taken_as_displayed(tmp_path_factory, seed, height, width):
    """``Image.open(path)`` handed to the API gave the stored values, the negative of what ``read_image`` reads."""
    stored = np.random.default_rng(seed).integers(0, 65536, (height, width), dtype=np.uint16)
    path = _min_is_white(tmp_path_factory.mktemp("mw") / "mw.tif", stored)
    with Image.open(path) as opened:
        taken, info = to_batch(opened)
    assert info.kind == "pil" and torch.equal(taken, to_batch(read_image(path))[0])


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_a_min_is_white_pil_image_comes_back_displaying_as_it_did(tmp_path, small_stylizer, strength):
    """The image given back is a new one, stored MinIsBlack: it holds the displayed values, as the file path's
    output does, so strength 0 displays as the input and other strengths style what is displayed."""
    stored = np.random.default_rng(9).integers(0, 65536, (32, 32), dtype=np.uint16)
    path = _min_is_white(tmp_path / "mw.tif", stored)
    style = np.random.default_rng(10).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with Image.open(path) as opened:
        out = small_stylizer(opened, style, strength=strength)
    expected = small_stylizer(read_image(path), style, strength=strength)
    assert out.mode.startswith("I;16") and np.array_equal(np.asarray(out), expected)
    out.save(tmp_path / "out.tif")
    with Image.open(tmp_path / "out.tif") as written:
        assert written.tag_v2.get(262) == 1 and np.array_equal(np.asarray(written), expected)
    if strength == 0.0:
        assert np.array_equal(expected, 65535 - stored)


def test_a_declared_range_is_checked_on_what_a_min_is_white_pil_image_displays(tmp_path):
    """12-bit data stored MinIsWhite lies near 65535 as stored, in 0–4095 as displayed: it fits ``--value-range``."""
    displayed = np.random.default_rng(11).integers(0, TWELVE_BIT_MAX + 1, (16, 16), dtype=np.uint16)
    path = _min_is_white(tmp_path / "mw12.tif", 65535 - displayed)
    with Image.open(path) as opened, declare_value_range((0, TWELVE_BIT_MAX)):
        check_image(opened)
        taken, _ = to_batch(opened)
    np.testing.assert_allclose(taken[0, 0].numpy(), displayed / TWELVE_BIT_MAX, rtol=0, atol=1e-7)


def test_stylize_transform_gives_a_min_is_white_image_back_as_displayed_fired_or_not(tmp_path, small_stylizer):
    """A transform that does not fire gives its input back, but a 16-bit MinIsWhite one as displayed, as a firing one
    does at strength 0: else half of a p=0.5 training set would be the negatives of the other half."""
    from torchvision.transforms import v2

    stored = np.random.default_rng(12).integers(0, 65536, (32, 32), dtype=np.uint16)
    path = _min_is_white(tmp_path / "mw.tif", stored)
    bank = StyleBank.from_images([np.full((32, 32, 3), 128, np.uint8)], small_stylizer)
    seen = []
    for p in (0.0, 1.0):
        transform = StylizeTransform(stylizer=small_stylizer, bank=bank, p=p, strength=0.0)
        with Image.open(path) as opened:
            seen.append(v2.ToImage()(transform(opened)))
    assert torch.equal(seen[0], seen[1])
    assert np.array_equal(seen[0][0].numpy().astype(np.int64), 65535 - stored.astype(np.int64))


def test_a_min_is_white_tiff_opened_by_the_caller_is_stylised_as_it_displays_on_every_path(tmp_path, small_stylizer):
    """A mixed-size list and an image past the strip path's size crop the image: the crop dropped the TIFF's tags
    and was stylised as its negative (52,627 of 65,535 off, a hostile probe)."""
    rng = np.random.default_rng(8)
    style = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    small = Image.fromarray(rng.integers(0, 65536, (20, 30), dtype=np.uint16))
    for shape in ((40, 48), (800, 700)):  # the second past the strip path's 2^19 pixels
        stored = rng.integers(0, 65536, shape, dtype=np.uint16)
        displayed = Image.fromarray(65535 - stored)
        with Image.open(_min_is_white(tmp_path / f"mw{shape[0]}.tif", stored)) as image:
            alone = small_stylizer(image, style)
            listed = small_stylizer([image, small], style, strength=[1, 0])[0]
            kept = small_stylizer([image, small], style, strength=[0, 1])[0]
        assert np.array_equal(np.asarray(kept), 65535 - stored)
        expected = np.asarray(small_stylizer(displayed, style))
        assert np.array_equal(np.asarray(alone), expected) and np.array_equal(np.asarray(listed), expected)


def test_a_pil_image_comes_back_with_the_same_labels_whatever_the_strength(tmp_path, small_stylizer):
    """Strength 0 gave back the camera's whole EXIF, the JPEG comment and Pillow's dpi; any other strength the
    orientation tag alone, as documented (a hostile probe)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Camera", "ModelX", 6  # Make, Model, Orientation
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
        path, exif=exif, comment=b"a note"
    )
    style = Image.fromarray(np.full((32, 32, 3), 200, np.uint8))
    with Image.open(path) as photo:
        outputs = [small_stylizer(photo, style, strength=strength) for strength in (0.0, 1e-9, 1.0)]
    labels = [(sorted(out.info), dict(out.getexif())) for out in outputs]
    assert labels[0] == labels[1] == labels[2] and labels[0][1] == {0x0112: 6}
