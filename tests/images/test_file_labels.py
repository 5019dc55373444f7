"""What a written image says about itself, and what the reader says about a file: no resolution in
is none out (Pillow's stand-in values are not the file's), a colour profile goes only with pixels
it describes, 12-bit data is named by its file, and pixels of a kind not read are named for what
they are, the same from every reader."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from helpers import random_rgb
from stylizing_vit_aug import images
from stylizing_vit_aug.images import ImageReadError, carried_metadata, files, kinds, save_image


@pytest.fixture(autouse=True)
def _fresh_notes(monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())


def _no_resolution_sources(folder: Path) -> list[Path]:
    """Files that record no resolution, for each of which Pillow reports one anyway."""
    pixels = random_rgb(0)
    Image.fromarray(pixels).save(folder / "plain.tif")  # no tags 282/283: Pillow says 1 dpi
    exif = Image.Exif()
    exif[0x0112] = 1  # an EXIF block without a resolution: Pillow says 72 dpi
    Image.fromarray(pixels).save(folder / "camera.jpg", exif=exif.tobytes())
    exif[0x0128], exif[0x011A], exif[0x011B] = 1, 300, 300  # unit 1: no unit of length
    Image.fromarray(pixels).save(folder / "unitless.jpg", exif=exif.tobytes())
    Image.fromarray(pixels).save(folder / "unspecified.bmp", dpi=(0, 0))  # 0 pixels per metre: Pillow says 0 dpi
    return sorted(folder.iterdir())


def test_a_file_without_a_resolution_gives_none_to_what_is_written_from_it(tmp_path):
    (tmp_path / "in").mkdir()
    for source in _no_resolution_sources(tmp_path / "in"):
        assert "dpi" not in images.carried_metadata(source), source.name
        _, traits = images.read_with_traits(source)
        assert "dpi" not in traits.metadata, source.name
        for fmt, suffix, dtype, channels in [
            ("TIFF", ".tif", np.uint8, 3),
            ("TIFF", ".tif", np.uint16, 3),
            ("TIFF", ".tif", np.uint16, 1),
            ("BMP", ".bmp", np.uint8, 3),
            ("PNG", ".png", np.uint8, 3),
            ("JPEG", ".jpg", np.uint8, 3),
        ]:
            pixels = random_rgb(1).astype(dtype)
            written = tmp_path / f"{source.stem}-{np.dtype(dtype).name}-{channels}{suffix}"
            images.save_image(pixels[..., 0] if channels == 1 else pixels, written, fmt, metadata=traits.metadata)
            assert "dpi" not in images.carried_metadata(written), written.name
            if fmt == "TIFF":
                with Image.open(written) as image:
                    assert 282 not in image.tag_v2 and 283 not in image.tag_v2, written.name


def test_a_tiff_with_its_own_resolution_keeps_it(tmp_path):
    Image.fromarray(random_rgb(0)).save(tmp_path / "slide.tif", dpi=(25400, 12700))
    assert images.carried_metadata(tmp_path / "slide.tif")["dpi"] == pytest.approx((25400, 12700))


def _profile(space: bytes) -> bytes:
    """An sRGB profile whose header says it describes ``space`` colour (bytes 16-20)."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[16:20] = space
    return bytes(data)


def test_a_cmyk_files_profile_is_not_given_to_its_rgb_pixels_and_that_is_said(tmp_path, caplog):
    source = tmp_path / "print.jpg"
    Image.fromarray(random_rgb(0)).convert("CMYK").save(source, icc_profile=_profile(b"CMYK"))
    with caplog.at_level(logging.WARNING):
        pixels, traits = images.read_with_traits(source)
    assert pixels.shape[-1] == 3 and "icc_profile" not in traits.metadata
    assert "icc_profile" not in images.carried_metadata(source)
    (said,) = [r.getMessage() for r in caplog.records if "profile" in r.getMessage()]
    assert str(source) in said and "without colour management" in said
    images.save_image(pixels, tmp_path / "out.png", "PNG", metadata=traits.metadata)
    with Image.open(tmp_path / "out.png") as image:
        assert "icc_profile" not in image.info


@pytest.mark.parametrize(
    ("fmt", "suffix", "kept"),
    [("PNG", ".png", True), ("TIFF", ".tif", True), ("JPEG", ".jpg", True), ("WEBP", ".webp", False)],
)
def test_a_gray_profile_goes_only_where_the_pixels_stay_gray(tmp_path, caplog, fmt, suffix, kept):
    gray = _profile(b"GRAY")
    Image.fromarray(random_rgb(0)[..., 0]).save(tmp_path / "gray.png", icc_profile=gray)
    pixels, traits = images.read_with_traits(tmp_path / "gray.png")
    assert traits.metadata["icc_profile"] == gray  # it describes the gray pixels read
    written = tmp_path / f"out{suffix}"
    with caplog.at_level(logging.WARNING):
        images.save_image(pixels, written, fmt, metadata=traits.metadata)
    with Image.open(written) as image:
        assert image.info.get("icc_profile") == (gray if kept else None)
    dropped = [r.getMessage() for r in caplog.records if "colour profile" in r.getMessage()]
    assert bool(dropped) != kept and all(str(written) in message for message in dropped)


def test_12_bit_files_are_named_by_the_reader_not_by_their_place_in_a_batch(tmp_path, caplog):
    for name in ("a.tif", "b.tif"):
        values = np.random.default_rng(0).integers(0, 4096, (16, 16), dtype=np.uint16)
        Image.fromarray(values).save(tmp_path / name)
    with caplog.at_level(logging.INFO):
        read = [images.read_with_traits(tmp_path / name)[0] for name in ("a.tif", "b.tif")]
        images.to_batch(read)  # what the Stylizer does with the pixels stylize read
    said = [r for r in caplog.records if "12-bit" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING, logging.INFO]  # warned once, each file named
    assert str(tmp_path / "a.tif") in said[0].getMessage() and str(tmp_path / "b.tif") in said[1].getMessage()
    advice = said[0].getMessage()  # what a command user and a Python user can each follow
    assert "--value-range 0,4095" in advice and "x 16" in advice and "value_range=(0, 4095)" in advice
    assert not any("images[" in r.getMessage() for r in said)


def _float_tiff(path: Path, pixels: np.ndarray) -> None:
    """A baseline uncompressed float TIFF (Pillow writes none in colour), one strip."""
    height, width = pixels.shape[:2]
    channels, bits = (pixels.shape[2] if pixels.ndim == 3 else 1), pixels.dtype.itemsize * 8
    body = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    extra = 8 + 2 + 11 * 12 + 4  # after the directory: BitsPerSample's, then SampleFormat's values (3 channels)

    def per_channel(value: int, slot: int) -> tuple[int, int, int]:
        return (3, 1, value) if channels == 1 else (3, channels, extra + slot * 2 * channels)

    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, *per_channel(bits, 0)),
        (259, 3, 1, 1),
        (262, 3, 1, 2 if channels == 3 else 1),
        (273, 4, 1, extra + 4 * channels),
        (277, 3, 1, channels),
        (278, 4, 1, height),
        (279, 4, 1, len(body)),
        (284, 3, 1, 1),
        (339, *per_channel(3, 1)),
    ]
    directory = b"".join(
        struct.pack("<HHII" if kind == 4 or count != 1 else "<HHIHxx", tag, kind, count, value)
        for tag, kind, count, value in entries
    )
    values = struct.pack(f"<{2 * channels}H", *[bits] * channels, *[3] * channels)
    header = b"II*\x00" + struct.pack("<IH", 8, len(entries)) + directory + b"\x00" * 4
    path.write_bytes(header + values + body)


@pytest.mark.parametrize(
    ("channels", "dtype", "kind"), [(3, np.float32, "32-bit floating-point"), (1, np.float16, "16-bit floating-point")]
)
def test_float_pixels_are_refused_in_one_wording_by_every_reader(tmp_path, channels, dtype, kind):
    rng = np.random.default_rng(0)
    _float_tiff(tmp_path / "float.tif", rng.random((16, 16, channels)[: 2 if channels == 1 else 3]).astype(dtype))
    Image.fromarray(rng.random((16, 16)).astype(np.float32)).save(tmp_path / "gray32.tif")  # Pillow's mode F
    for path, expected in ((tmp_path / "float.tif", kind), (tmp_path / "gray32.tif", "32-bit floating-point")):
        said = set()
        for reader in (images.read_image, images.read_with_traits, files.read_image_and_sha256, images.check_whole):
            with pytest.raises(ImageReadError) as error:
                reader(path)
            said.add(str(error.value))
        (message,) = said
        assert message.startswith(f"cannot read image {path}: it holds {expected} pixels") and "<_io" not in message


def test_a_file_no_reader_can_identify_is_named_without_a_stream(tmp_path):
    (tmp_path / "notes.png").write_bytes(b"not an image at all" * 4)
    for reader in (images.read_image, files.read_image_and_sha256):
        with pytest.raises(ImageReadError, match="not an image Pillow can identify") as error:
            reader(tmp_path / "notes.png")
        assert "<_io" not in str(error.value) and str(tmp_path / "notes.png") in str(error.value)


def test_a_16_bit_gray_alpha_png_keeps_its_gray_profile_as_the_reader_does(tmp_path, caplog):
    """``carried_metadata`` and ``read_with_traits`` agree: a PNG's EXIF lookup loads its pixels,
    after which its 16-bit layout could no longer be read, so its GRAY profile was taken for one
    of RGB pixels and left out, with a false warning."""
    from stylizing_vit_aug.images.files import read_with_traits

    gray_profile = bytes(16) + b"GRAY" + bytes(108)
    pixels = np.random.default_rng(0).integers(0, 65535, (8, 8, 2)).astype(np.uint16)
    path = tmp_path / "la16.png"
    save_image(pixels, path, "PNG", metadata={"icc_profile": gray_profile})
    with caplog.at_level(logging.WARNING):
        kept = carried_metadata(path)
    assert kept == read_with_traits(path)[1].metadata and kept["icc_profile"] == gray_profile
    assert not [r for r in caplog.records if "profile" in r.getMessage()]
