"""The page's limit on the pixels of a visitor's image: a 219 KB PNG of 15000 x 15000 cost the page 1.6 GB and
13.5 s to decode (into a 256 px preview), as the package reads the user's own files up to 2**30 pixels. Uploads
and style folders' files past MAX_VISITOR_PIXELS are refused (a folder's: left out) from their headers, naming
the file, its size and the limit, before anything decodes them, whatever Pillow's process-wide limit holds; and
the files the page reads decode with Pillow's guard in place, never lifted for other threads meanwhile."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

import stylizing_vit_aug.app as page
from helpers import png_chunk
from stylizing_vit_aug import app_files, app_previewer, strip_path
from stylizing_vit_aug.app_files import MAX_VISITOR_PIXELS
from stylizing_vit_aug.app_previewer import Previewer
from stylizing_vit_aug.app_settings import FOLDER, UPLOADS, Settings
from stylizing_vit_aug.bank import StyleBank, building
from stylizing_vit_aug.image_ops import resize
from stylizing_vit_aug.images import ImageReadError, headers, read_image, to_batch

progress = lambda *args, **kwargs: None  # noqa: E731 - the page's progress bar, outside a page event
BOMB_SIDE = 15000  # 225 MP: past the page's limit, under the package's own (2**30)


def bomb_png(path: Path, side: int = BOMB_SIDE) -> Path:
    """A valid 1-bit black PNG of ``side`` x ``side`` in a few KB and a fraction of a second (what a visitor can
    upload): it decodes to ``side``² bytes and more."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte, then the row's bits
    compressor = zlib.compressobj(1)
    data = compressor.compress(row * side) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def uploads(tmp_path, histology_crops) -> tuple[Path, Path]:
    """A bomb and a good image, kept where Gradio keeps uploads."""
    folder = tmp_path / "gradio" / "5e1d"
    folder.mkdir(parents=True)
    Image.fromarray(histology_crops[0][:32, :32]).save(folder / "good.png")
    return bomb_png(folder / "bomb.png"), folder / "good.png"


@pytest.fixture
def never_decoded(monkeypatch):
    """Pillow's loading of pixels, failing the test on the bomb: it must be refused before it is decoded."""
    load = ImageFile.ImageFile.load

    def guarded(image):
        assert image.size != (BOMB_SIDE, BOMB_SIDE), "the page decoded the bomb"
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", guarded)


def assert_names_the_bomb(message: str, what: str) -> None:
    """The page's refusal names the file, its size in pixels and the limit."""
    assert f"{what} bomb.png" in message, message
    assert f"{BOMB_SIDE}x{BOMB_SIDE} ({BOMB_SIDE * BOMB_SIDE:,} pixels)" in message, message
    assert f"{MAX_VISITOR_PIXELS:,} pixels" in message and "upload a copy scaled down" in message, message


@pytest.mark.parametrize("pillow_limit", ["default", None])  # None: lifted, by the process or another thread
@pytest.mark.parametrize("role", ["content", "style"])
def test_an_upload_past_the_pages_pixel_limit_is_refused_by_name_before_it_is_decoded(
    small_stylizer, uploads, never_decoded, monkeypatch, role, pillow_limit
):
    gr = pytest.importorskip("gradio")
    if pillow_limit is None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    bomb, good = uploads
    update = page._page_update(gr, Previewer(small_stylizer, cell_size=40))
    contents, styles = ([bomb], [good]) if role == "content" else ([good], [bomb])
    controls = dict(contents=[], content_files=list(map(str, contents)), style_source=UPLOADS, style_path="")
    with pytest.raises(gr.Error) as refused:
        update(
            **controls,
            style_files=list(map(str, styles)),
            n_styles=1,
            seed=0,
            strength=1.0,
            mode="detail",
            progress=progress,
        )
    assert_names_the_bomb(str(refused.value), f"{role} image")
    assert str(bomb.parent) not in str(refused.value)  # by its name alone, as every page message


def test_a_style_folders_image_past_the_limit_is_left_out_and_named(
    small_stylizer, uploads, never_decoded, histology_crops, tmp_path
):
    bomb, good = uploads
    folder = bomb.parent
    Image.fromarray(histology_crops[1][:32, :32]).save(folder / "other.png")
    settings = Settings(content_files=(str(good),), style_source=FOLDER, style_path=str(folder), n_styles=8)
    preview = Previewer(small_stylizer, cell_size=40).render(settings)
    assert preview.ssim.shape == (1, 2) and "(of 2)" in preview.summary
    left_out = [note for note in preview.notes if "left out" in note]
    assert len(left_out) == 1 and f"style image {bomb}: it is {BOMB_SIDE}x{BOMB_SIDE}" in left_out[0], left_out
    assert "stylizing-vit-aug bank build" in left_out[0]  # what the folder's owner can do instead


def test_a_style_folder_of_images_all_past_the_limit_says_so(small_stylizer, uploads, never_decoded):
    bomb, good = uploads
    good.unlink()
    settings = Settings(content_files=(), contents=("he_tcia",), style_source=FOLDER, style_path=str(bomb.parent))
    with pytest.raises(ValueError, match=f"none of the 1 style images under .* {BOMB_SIDE}x{BOMB_SIDE}"):
        Previewer(small_stylizer, cell_size=40).render(settings)


def test_the_pages_reads_never_lift_pillows_process_wide_guard(small_stylizer, histology_crops, tmp_path, monkeypatch):
    """The reader lifts Pillow's module-global limit around the calls that check it while it reads a file past
    Pillow's default (its crops, a TIFF's loading), leaving other threads' openings (a concurrent visitor's,
    Gradio's) unguarded meanwhile. The page's limit is
    no larger than that default, so no file it reads is decoded so: shrunk here so that 48 x 40 px stands for a
    file past it, 32 x 28 px for one within."""
    assert MAX_VISITOR_PIXELS <= headers.PILLOW_DEFAULT_PIXELS
    monkeypatch.setattr(headers, "PILLOW_DEFAULT_PIXELS", 1000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.setattr(app_files, "MAX_VISITOR_PIXELS", 1000)
    settings_during_loads = []
    load = ImageFile.ImageFile.load

    def recorded(image):
        settings_during_loads.append(Image.MAX_IMAGE_PIXELS)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recorded)
    Image.fromarray(histology_crops[0][:28, :32]).save(tmp_path / "within.png")
    Image.fromarray(histology_crops[1][:40, :48]).save(tmp_path / "past.png")
    previewer = Previewer(small_stylizer, cell_size=40)
    previewer.content(tmp_path / "within.png")
    with pytest.raises(ImageReadError, match=r"content image .*past\.png: it is 48x40 \(1,920 pixels\)"):
        previewer.content(tmp_path / "past.png")
    assert settings_during_loads and set(settings_during_loads) == {1000}, settings_during_loads


@pytest.fixture
def floats_made(monkeypatch) -> list[int]:
    """The pixels of each array the page or the bank turns into floats (to_batch, the whole-image path's or a
    band's), in order; the bands of both are shrunk (16384 pixels stand for the Stylizer's 2**19) so that a 600 x 400
    image stands for one at the page's limit."""
    made: list[int] = []

    def watched(convert):
        def to_floats(images, *args, **kwargs):
            if isinstance(images, np.ndarray):
                made.append(images.shape[0] * images.shape[1])
            return convert(images, *args, **kwargs)

        return to_floats

    monkeypatch.setattr(app_previewer, "STRIP_PIXELS", 1 << 14, raising=False)
    monkeypatch.setattr(building, "STRIP_PIXELS", 1 << 14)  # the bank's band path, which makes the styles small
    monkeypatch.setattr(strip_path, "to_batch", watched(strip_path.to_batch))
    monkeypatch.setattr(building, "to_batch", watched(building.to_batch))
    return made


def large_image(path: Path, dtype: type) -> Path:
    """A noisy 600 x 400 image: 8-bit RGB, or 16-bit gray over the whole 16-bit range (no 12-bit note)."""
    top = np.iinfo(dtype).max
    shape = (400, 600, 3) if dtype == np.uint8 else (400, 600)
    pixels = np.random.default_rng(0).integers(0, top, shape, dtype=np.uint32, endpoint=True).astype(dtype)
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_large_content_is_made_small_a_band_at_a_time_with_the_pixels_of_one_resize(
    small_stylizer, floats_made, tmp_path, dtype
):
    """A content at the page's pixel limit held about 1.3 GB (81 MP: +1188 MB peak, 14 s): the whole image was
    made floats (12 bytes a pixel as RGB) before it was shrunk to at most 256 px. Now each band is, the image never
    whole: +544 MB (the reader's own 7 bytes a pixel), 2.8 s; the preview's pixels are those of one resize."""
    path = large_image(tmp_path / "large.png", dtype)
    values, note = Previewer(small_stylizer, cell_size=40).content(path)
    assert floats_made and max(floats_made) <= 1 << 14, floats_made  # never the whole 240,000 pixels at once
    whole = resize(to_batch(read_image(path))[0], 171, 256)  # what the page showed: the whole image resized
    assert values.shape == whole.shape and note is None
    torch.testing.assert_close(values, whole, rtol=0, atol=1e-6)


def test_a_large_style_is_made_small_a_band_at_a_time_into_the_bank_its_folder_builds(
    small_stylizer, floats_made, tmp_path
):
    """The same for a style (uploaded, or a folder's): the bank made the whole file floats before it resized it
    to the model's size. Its style is now what the snippet's ``StyleBank.from_folder`` builds of the file."""
    path = large_image(tmp_path / "styles" / "large.png", np.uint8)
    settings = Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(path.parent), n_styles=1)
    bank, _, notes, capped = Previewer(small_stylizer, cell_size=40).bank(settings)
    assert floats_made and max(floats_made) <= 1 << 14, floats_made
    assert not notes and not capped
    assert torch.equal(bank.images, StyleBank.from_images([path], small_stylizer, encode=False).images)


def test_a_file_replaced_after_its_header_was_read_is_not_the_file_decoded(small_stylizer, uploads, monkeypatch):
    """The page checked a file's header in one opening and decoded it in a second: a file replaced between the two
    (a style folder's, rewritten by whatever writes it) was decoded unchecked, up to the package's own 2**30 pixels.
    Shrunk here so that 40 x 36 px stands for a file past the page's limit, the 32 x 32 px upload for one within."""
    monkeypatch.setattr(app_files, "MAX_VISITOR_PIXELS", 1200)
    _, good = uploads
    visitors = good.parent / "visitors.png"
    shutil.copy(good, visitors)
    large = good.parent / "large.png"
    Image.new("RGB", (40, 36), "white").save(large)
    opened = Image.open

    def replaced_once_open(source, *args, **kwargs):
        image = opened(source, *args, **kwargs)
        if Path(str(getattr(source, "name", source))).name == "visitors.png" and large.exists():
            large.replace(visitors)  # a new file renamed over it, once its header is read
        return image

    monkeypatch.setattr(Image, "open", replaced_once_open)
    values, _ = Previewer(small_stylizer, cell_size=40).content(visitors)
    assert not large.exists()  # replaced meanwhile
    assert values.shape[-2:] == (32, 32), values.shape  # the file whose header passed, not the one past the limit


def test_a_visitors_file_past_the_packages_own_limit_too_gets_the_pages_words(
    small_stylizer, uploads, never_decoded, monkeypatch
):
    """The page's limit is checked before the package's own on the same opening: a file past both (here the
    package's shrunk under the bomb) is told to upload a smaller copy, not to cut it into tiles with vips."""
    monkeypatch.setattr(headers, "MAX_PIXELS", BOMB_SIDE * BOMB_SIDE - 1)
    bomb, _ = uploads
    with pytest.raises(ImageReadError) as refused:
        Previewer(small_stylizer, cell_size=40).content(bomb)
    message = str(refused.value)
    assert f"content image {bomb}" in message and "upload a copy scaled down" in message, message
    assert "tiles" not in message, message
