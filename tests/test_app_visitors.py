"""The page as a visitor meets it: what it shows after a folder changes, how many rows one visitor
may ask for, the controls' values its API lets through, what it says of uploads (by name only,
12-bit ones, deleted ones), the snippet of a path typed with ``~``, and what it keeps on the
server (Gradio's cache, its own download folders) and for how long."""

from __future__ import annotations

import gc
import math
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug.app as page
from helpers import save_crops, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.app_files import MAX_STYLE_UPLOADS
from stylizing_vit_aug.app_previewer import Previewer
from stylizing_vit_aug.app_settings import BANK_FILE, BUNDLED, FOLDER, UPLOADS, Settings
from stylizing_vit_aug.images import read_image

progress = lambda *args, **kwargs: None  # noqa: E731 - the page's progress bar, outside a page event
PAGE_CONTROLS = dict(
    contents=["he_tcia"],
    content_files=None,
    style_source=BUNDLED,
    style_path="",
    style_files=None,
    n_styles=1,
    seed=0,
    strength=1.0,
    mode="detail",
)


@pytest.fixture
def small_content(tmp_path, histology_crops) -> str:
    """A 32 px content image: a grid row in a fraction of the bundled images' time."""
    path = tmp_path / "content.png"
    Image.fromarray(histology_crops[3][:32, :32]).save(path)
    return str(path)


@pytest.fixture
def update(small_stylizer):
    """The page's callback, as Gradio calls it with the controls' values."""
    gr = pytest.importorskip("gradio")
    return gr, page._page_update(gr, Previewer(small_stylizer, cell_size=40))


def test_a_style_added_to_a_subfolder_or_overwritten_in_place_shows_on_the_next_render(
    small_stylizer, small_content, histology_crops, tmp_path
):
    """The bank of a folder was kept under the top folder's modification time, which neither a file
    added to a subfolder nor one overwritten in place changes: the page kept showing the old styles."""
    folder = tmp_path / "styles"
    (folder / "he").mkdir(parents=True)
    Image.fromarray(histology_crops[0]).save(folder / "he" / "a.png")
    previewer = Previewer(small_stylizer, cell_size=40)
    settings = Settings(content_files=(small_content,), style_source=FOLDER, style_path=str(folder), n_styles=8)
    assert previewer.render(settings).ssim.shape == (1, 1)
    Image.fromarray(histology_crops[1]).save(folder / "he" / "b.png")
    added = previewer.render(settings)
    assert added.ssim.shape == (1, 2) and "(of 2)" in added.summary
    Image.fromarray(histology_crops[2]).save(folder / "he" / "a.png")  # same name, other picture
    overwritten = previewer.render(settings)
    fresh = Previewer(small_stylizer, cell_size=40).render(settings)  # what a page started now shows
    assert not torch.equal(overwritten.style_before, added.style_before)
    assert torch.equal(overwritten.style_before, fresh.style_before)


def test_contents_past_the_cap_are_left_out_unread_and_named(small_stylizer, histology_crops, tmp_path):
    """60 uploaded contents made one 57 s render that stalled every visitor: the page shows at most
    MAX_CONTENTS rows and names the others (never reading them: a broken one costs nothing)."""
    uploads = write_images(tmp_path / "up", page.MAX_CONTENTS + 2, size=(16, 16))
    (tmp_path / "up" / "zz_broken.png").write_bytes(b"not a png")
    files = tuple(str(p) for p in [*uploads, tmp_path / "up" / "zz_broken.png"])
    preview = Previewer(small_stylizer, cell_size=40).render(Settings(content_files=files, n_styles=1))
    assert preview.ssim.shape == (page.MAX_CONTENTS, 1)
    left = [Path(p).name for p in files[page.MAX_CONTENTS :]]
    note = next(note for note in preview.notes if "left out" in note)
    assert f"at most {page.MAX_CONTENTS} content images: {len(left)} were left out" in note
    assert all(name in note for name in left) and str(tmp_path) not in note


def test_style_uploads_past_the_cap_are_left_out_unread_and_counted(small_stylizer, histology_crops, tmp_path):
    """Every uploaded style was read (1.5 s each at 8000 px) for a grid of at most 8: the page reads at most
    MAX_STYLE_UPLOADS and says how many it left out (never reading them: a broken one costs nothing)."""
    uploads = write_images(tmp_path / "up", MAX_STYLE_UPLOADS, size=(16, 16))
    broken = [tmp_path / "up" / f"zz_broken{i}.png" for i in range(3)]
    for path in broken:
        path.write_bytes(b"not a png")
    settings = Settings(contents=("he_tcia",), style_source=UPLOADS, style_files=tuple(map(str, [*uploads, *broken])),
                        n_styles=2)
    preview = Previewer(small_stylizer, cell_size=40).render(settings)
    note = next(note for note in preview.notes if "uploaded style images" in note)
    assert f"at most {MAX_STYLE_UPLOADS} uploaded style images: 3 were left out" in note


def test_a_style_folders_unreadable_files_are_named_up_to_three_and_counted(small_stylizer, tmp_path):
    """The note named one of a folder's unreadable style files, so a visitor mended them one render at a time."""
    folder = tmp_path / "styles"
    write_images(folder, 2, size=(16, 16))
    for i in range(5):
        (folder / f"zz_broken{i}.png").write_bytes(b"not a png")
    settings = Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(folder), n_styles=2)
    preview = Previewer(small_stylizer, cell_size=40).render(settings)
    assert preview.ssim.shape == (1, 2)  # one bad file costs only itself
    note = next(note for note in preview.notes if "unreadable" in note)
    assert note.startswith("The page left out 5 unreadable style files: ") and note.endswith("; and 2 more")
    assert [f"zz_broken{i}.png" in note for i in range(5)] == [True] * 3 + [False] * 2
    (folder / "zz_broken1.png").unlink(), (folder / "zz_broken2.png").unlink(), (folder / "zz_broken3.png").unlink()
    note = next(note for note in Previewer(small_stylizer, cell_size=40).render(settings).notes if "unreadable" in note)
    assert note.startswith("The page left out 2 unreadable style files: ") and "more" not in note


@pytest.mark.parametrize(
    ("control", "value", "message"),
    [
        ("seed", math.nan, "the seed must be a whole number, got nan: type one such as 0"),
        ("seed", math.inf, "the seed must be a whole number, got inf"),
        ("seed", 1.5, "the seed must be a whole number, got 1.5"),
        ("n_styles", math.nan, r"styles shown must be a whole number, got nan: set 1 to 8"),
        ("strength", None, r"strength must lie in \[0, 1\], got None"),
        ("strength", math.nan, r"strength must lie in \[0, 1\], got nan"),
        ("n_styles", 0, r"styles shown must be 1 to 8, got 0"),  # these were made 1 and 8 without a word
        ("n_styles", 100, r"styles shown must be 1 to 8, got 100"),
        ("n_styles", True, r"styles shown must be a whole number, got True"),
        ("seed", True, r"the seed must be a whole number, got True"),
        ("strength", True, r"strength must lie in \[0, 1\], got True"),
    ],
)
def test_controls_sent_as_nan_infinity_or_blank_reach_the_page_as_its_message(update, control, value, message):
    """The page's API passes on what a script sends: NaN or infinity as the seed or the number of
    styles, a blank strength raised bare ValueError/OverflowError/TypeError (the page said only that
    the app failed, the terminal showed a traceback); a fraction of a seed was cut silently."""
    gr, update = update
    with pytest.raises(gr.Error, match=message):
        update(**{**PAGE_CONTROLS, control: value}, progress=progress)


@pytest.mark.parametrize("role", ["content", "style"])
@pytest.mark.parametrize("kind", ["too small", "not an image"])
def test_a_bad_upload_is_named_by_its_file_name_never_the_servers_upload_folder(
    update, role, kind, tmp_path, histology_crops
):
    """The refusal of a GIF named the file; those of a too-small or unreadable upload showed the
    server's upload path (/tmp/gradio/<hash>/...). One rule for every message: the name."""
    gr, update = update
    folder = tmp_path / "gradio" / "3f2a9c"  # as Gradio keeps an upload
    folder.mkdir(parents=True)
    bad = folder / "slide.png"
    if kind == "too small":
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(bad)
    else:
        bad.write_bytes(b"not an image")
    good = folder / "good.png"
    Image.fromarray(histology_crops[0]).save(good)
    contents, styles = ([str(bad)], [str(good)]) if role == "content" else ([str(good)], [str(bad)])
    with pytest.raises(gr.Error) as refused:
        update(
            **{
                **PAGE_CONTROLS,
                "contents": [],
                "content_files": contents,
                "style_source": UPLOADS,
                "style_files": styles,
            },
            progress=progress,
        )
    message = str(refused.value)
    assert "slide.png" in message and str(tmp_path) not in message, message


def test_an_upload_deleted_since_says_to_upload_it_again(update, histology_crops, tmp_path):
    gr, update = update
    upload = tmp_path / "gradio" / "9c1e" / "slide.png"
    upload.parent.mkdir(parents=True)
    Image.fromarray(histology_crops[0][:32, :32]).save(upload)
    update(**{**PAGE_CONTROLS, "contents": [], "content_files": [str(upload)]}, progress=progress)
    upload.unlink()  # Gradio's delete_cache, while the page still lists it
    with pytest.raises(gr.Error, match="content image slide.png is no longer on the server .* upload it again"):
        update(**{**PAGE_CONTROLS, "content_files": [str(upload)]}, progress=progress)


@pytest.mark.parametrize("role", ["content", "style"])
def test_a_12_bit_upload_gets_a_note_that_names_it_and_says_what_to_do(role, small_stylizer, histology_crops, tmp_path):
    """12-bit data in a 16-bit file is read on 0-65535 and shows as a near-black row; the log said
    so, the page did not. Then a content upload got the note and a style upload of the same file
    none (the command line's preview warns of both): one note for both now."""
    twelve = tmp_path / "twelve.png"
    Image.fromarray(histology_crops[0].mean(-1).astype(np.uint16) * 16).save(twelve)  # 0-4080
    full = tmp_path / "full.png"
    Image.fromarray(histology_crops[0].mean(-1).astype(np.uint16) * 257).save(full)  # 0-65535
    assert read_image(twelve).dtype == np.uint16 and read_image(twelve).max() <= 4095
    uploads = (str(twelve), str(full))
    settings = (
        Settings(contents=("he_tcia",), content_files=uploads, n_styles=1)
        if role == "content"
        else Settings(contents=("he_tcia",), style_source=UPLOADS, style_files=uploads, n_styles=2)
    )
    preview = Previewer(small_stylizer, cell_size=40).render(settings)
    assert len(preview.notes) == 1, preview.notes  # the 12-bit file only: not the 8-bit or full 16-bit ones
    (note,) = preview.notes
    assert f"{role.capitalize()} image twelve.png" in note and "12-bit" in note and note in preview.summary
    named = "preview twelve.png" if role == "content" else "--style twelve.png"
    assert named in note and "--value-range 0,4095" in note, note


def test_a_style_folders_12_bit_file_gets_the_note_an_upload_of_it_gets(small_stylizer, histology_crops, tmp_path):
    """An upload of 12-bit data got the page's note; the same file in a typed style folder got none, and showed as
    a near-black column unexplained. Now the folder's files are read as uploads are, with the same note, naming
    the file by its path on the server (the visitor typed the folder) and what its owner can do."""
    folder = tmp_path / "styles"
    folder.mkdir()
    gray = histology_crops[0].mean(-1).astype(np.uint16)
    Image.fromarray(gray * 16).save(folder / "twelve.png")  # 0-4080
    Image.fromarray(gray * 257).save(folder / "full.png")  # 0-65535
    Image.fromarray(histology_crops[1]).save(folder / "eight.png")
    settings = Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(folder), n_styles=3)
    preview = Previewer(small_stylizer, cell_size=40).render(settings)
    assert preview.ssim.shape == (1, 3)  # every file is a style: the note explains one, it leaves none out
    assert len(preview.notes) == 1, preview.notes  # the 12-bit file only
    (note,) = preview.notes
    assert f"Style image {folder / 'twelve.png'}: its 16-bit values all lie in 0–4095" in note, note
    assert f"--style {folder / 'twelve.png'} --value-range 0,4095" in note and note in preview.summary, note
    assert "in the folder" in note and "Upload" not in note, note  # nothing of the folder's was uploaded


@pytest.mark.parametrize("source", [FOLDER, BANK_FILE])
def test_a_path_typed_with_a_tilde_gives_a_snippet_that_runs_as_pasted(
    source, saved, style_files, histology_crops, small_content, tmp_path, monkeypatch
):
    """The page read ``~/styles``; its snippet kept the ``~``, which StyleBank.from_folder does not
    expand: pasted, it failed with "style folder ~/styles does not exist"."""
    from stylizing_vit_aug.hub import load_stylizer

    monkeypatch.setenv("HOME", str(tmp_path))
    typed = " ~/styles " if source == FOLDER else "~/bank.safetensors"
    stylizer = load_stylizer(saved[0], device="cpu", mode="detail")
    preview = Previewer(stylizer, cell_size=40, allowed_paths=[tmp_path]).render(
        Settings(content_files=(small_content,), style_source=source, style_path=typed, n_styles=1)
    )
    assert "~" not in preview.snippet
    monkeypatch.chdir(tmp_path / "styles")  # pasted anywhere
    namespace: dict = {}
    exec(compile(preview.snippet, "snippet.py", "exec"), namespace)
    augment = namespace["augment"]
    augment.p = 1.0
    assert augment(Image.fromarray(histology_crops[0])).size == (128, 96)


@pytest.fixture
def style_files(tmp_path, histology_crops) -> list[str]:
    return save_crops(tmp_path / "styles", histology_crops[:2])


def test_the_page_has_gradio_delete_visitors_files_and_keeps_one_download_folder_while_it_runs(
    small_stylizer, small_content
):
    """Uploads and grids piled up in Gradio's cache for good (~100 MB per 5 renders of large
    uploads), and each start left its download folder behind: now Gradio deletes them an hour old
    and all at stop, the page keeps only its last render's downloads, and none once it is gone."""
    gr = pytest.importorskip("gradio")
    app = page.build_app(small_stylizer, cell_size=40)
    assert app.delete_cache == (page.CACHE_SWEEP_S, page.CACHE_AGE_S) and 0 < page.CACHE_AGE_S <= 24 * 3600
    assert page.build_app(small_stylizer, cell_size=40, delete_cache=(5, 60)).delete_cache == (5, 60)
    update = page._page_update(gr, Previewer(small_stylizer, cell_size=40))
    controls = {**PAGE_CONTROLS, "contents": [], "content_files": [small_content]}
    first = update(**controls, progress=progress)[3]
    second = update(**{**controls, "seed": 1}, progress=progress)[3]
    downloads = Path(second[0]).parents[1]
    assert all(Path(p).is_file() for p in second) and not any(Path(p).exists() for p in first)
    assert [p.name for p in downloads.iterdir()] == [Path(second[0]).parent.name]
    del update
    gc.collect()
    assert not downloads.exists()  # as at exit (weakref.finalize runs then too)


def test_app_command_stops_on_sigterm_as_on_ctrl_c_and_puts_the_handler_back(saved, monkeypatch):
    """A service manager stops with SIGTERM, which killed the process before Gradio closed the
    server (its delete-at-stop) and before exit (the page's own folder). It now stops as Ctrl-C."""
    gr = pytest.importorskip("gradio")
    seen: list[str] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("terminated"))
    monkeypatch.setattr(gr.Blocks, "launch", lambda page, **kwargs: None)

    def block_thread(page):  # Gradio's: until Ctrl-C, on which it closes the server and returns
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(2)
        except KeyboardInterrupt:
            seen.append("stopped as by Ctrl-C")

    monkeypatch.setattr(gr.Blocks, "block_thread", block_thread)
    try:
        # Gradio's block_thread catches the interrupt and returns: the command still exits as SIGTERM's (it was 0)
        assert cli.main(["app", "--checkpoint", saved[0], "--device", "cpu", "--cell-size", "40"]) == 143
        assert seen == ["stopped as by Ctrl-C"]
        os.kill(os.getpid(), signal.SIGTERM)  # the handler before is back
        assert seen[-1] == "terminated"
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.slow
def test_the_served_page_leaves_no_upload_or_grid_on_the_server_after_it_stops(
    small_stylizer, histology_crops, tmp_path, monkeypatch
):
    """Served for real: a visitor uploads a content image and renders; once the page stops, Gradio's
    cache holds none of it (without delete_cache, all of it stayed)."""
    pytest.importorskip("gradio")
    from gradio_client import Client, handle_file

    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    upload = tmp_path / "visitor.png"
    Image.fromarray(histology_crops[0]).save(upload)
    app = page.build_app(small_stylizer, cell_size=40)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        controls = {**PAGE_CONTROLS, "content_files": [handle_file(str(upload))]}
        summary = client.predict(*controls.values(), api_name="/update")[1]
        assert "2 contents × 1 styles" in summary
        kept = [p.name for p in cache.rglob("*") if p.is_file() and p.stat().st_size]
        assert "visitor.png" in kept and "stylizing-vit-aug-grid.png" in kept, kept
    finally:
        app.close()
    deadline = time.monotonic() + 10
    while (left := [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, left
