"""The page to look at before training: your contents in your styles, with the quality figures.

:func:`build_app` puts the :class:`~stylizing_vit_aug.app_previewer.Previewer` (the work, without
any web framework) on a Gradio page; ``stylizing-vit-aug app`` serves that page locally and the
repository's top-level ``app.py`` serves it as a Hugging Face Space. Gradio is an optional extra
(``pip install ".[app]"`` in a clone), imported only inside :func:`build_app`, so importing the
package never imports it.

The app's other modules: ``app_settings`` (the controls, their checks, the snippet),
``app_files`` (which files the page may read) and ``app_previewer`` (the rendering).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .app_files import MAX_CONTENTS, MAX_FOLDER_IMAGES, bundled_contents
from .app_previewer import Previewer
from .app_settings import (
    BANK_FILE,
    BUNDLED,
    FOLDER,
    MAX_STYLES,
    STYLE_SOURCES,
    Settings,
    missing_input,
)
from .hub import load_stylizer
from .images import ImageError
from .option_choices import CACHE_AGE_S as CACHE_AGE_S  # re-exported: how long visitors' images stay
from .seeds import DRAW_SEED_TEXT
from .stylizer import MODES, Stylizer

if TYPE_CHECKING:
    import gradio

__all__ = ["build_app", "import_gradio", "shown_on_page"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "the app needs Gradio: pip install 'gradio>=5' (the app extra)"
# visitors' images are not kept: Gradio deletes those CACHE_AGE_S old (option_choices), every CACHE_SWEEP_S
CACHE_SWEEP_S = 600


def import_gradio() -> gradio:
    """Gradio, or an ImportError that says how to install it."""
    try:
        import gradio
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return gradio


def build_app(
    stylizer: Stylizer | None = None,
    *,
    bank: str | None = None,
    styles_dir: str | None = None,
    cell_size: int = 160,
    allow_paths: Sequence[str | os.PathLike] = (),
    delete_cache: tuple[int, int] = (CACHE_SWEEP_S, CACHE_AGE_S),
) -> gradio.Blocks:
    """The page as a ``gradio.Blocks`` (call ``.launch()`` on it).

    ``stylizer``: what to look at (default: the bundled default checkpoint). ``bank`` or
    ``styles_dir`` preselect that style source; otherwise the bundled sources are shown.
    A bank file or style folder typed on the page must lie in the working folder, ``bank``,
    ``styles_dir`` or one of ``allow_paths``: anyone who reaches the page can look at them.
    ``delete_cache``: Gradio's ``(every, age)`` in seconds: uploads, grids and downloads older than
    ``age`` are deleted every ``every`` seconds, and all of them when the page stops.
    """
    gr = import_gradio()
    if stylizer is None:
        stylizer = load_stylizer()
    allowed = [Path.cwd(), *(Path(p) for p in (bank, styles_dir) if p), *map(Path, allow_paths)]
    previewer = Previewer(stylizer, cell_size=cell_size, allowed_paths=allowed)
    logger.info("the page may read bank files and style folders under %s", ", ".join(map(str, allowed)))
    source = BANK_FILE if bank else FOLDER if styles_dir else BUNDLED
    return _page(gr, stylizer, _page_update(gr, previewer), source, bank or styles_dir or "", delete_cache)


def shown_on_page(text: str, settings: Settings) -> str:
    """``text`` as the page shows it: each upload of ``settings`` named by its file name alone,
    never by the server's upload folder (``/tmp/gradio/<hash>/...``), which is no visitor's business.
    The one rule for every message and note on the page."""
    names = {
        spelling: Path(upload).name
        for upload in (*settings.content_files, *settings.style_files)
        for spelling in (str(upload), os.path.abspath(upload), os.path.realpath(upload))
    }
    for spelling in sorted(names, key=len, reverse=True):  # a longer spelling before one it contains
        text = text.replace(spelling, names[spelling])
    return text


def _page_update(gr: Any, previewer: Previewer) -> Callable[..., tuple[Any, str, Any, Any]]:
    """The page's one callback: the controls' values in; the grid, summary, snippet and the
    two downloads out (or, while an input is missing, the next step and the last grid kept). The
    downloads go to a folder per render, which the next render removes (Gradio has copied it), and
    the whole temporary folder when the process exits normally (Gradio keeps a page's functions while the process
    lives; a process ended by a signal it does not handle leaves the folder: the `app` command handles SIGTERM)."""
    downloads = Path(tempfile.mkdtemp(prefix="stylizing-vit-aug-app-"))
    renders = {"count": 0}

    def update(
        contents: list[str],
        content_files: list[str] | None,
        style_source: str,
        style_path: str,
        style_files: list[str] | None,
        n_styles: float,
        seed: float | None,
        strength: float,
        mode: str,
        progress: gradio.Progress = gr.Progress(),  # noqa: B008 - how Gradio asks for a progress bar
    ) -> tuple[Any, str, Any, Any]:
        # the controls' values as sent, checked by render (a blank seed: 0)
        settings = Settings(
            tuple(contents or ()),
            tuple(content_files or ()),
            style_source,
            style_path or "",
            tuple(style_files or ()),
            n_styles,  # type: ignore[arg-type]
            0 if seed is None else seed,  # type: ignore[arg-type]
            strength,
            mode,
        )
        message = missing_input(settings)
        if message is not None:  # a step to take, not an error: say it, keep the last grid
            gr.Info(message.replace("**", ""))
            return gr.skip(), f"**Next:** {message}", gr.skip(), gr.skip()

        def on_row(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"rendering: stylising {name}", unit="contents")

        progress(0, desc="rendering: loading images and styles")
        try:
            preview = previewer.render(settings, on_row)
        except (ValueError, OSError, ImageError) as error:  # a folder typed as the bank file, too
            logger.info("cannot render %s: %s", settings, error)
            raise gr.Error(shown_on_page(str(error), settings), print_exception=False) from None
        renders["count"] += 1
        folder = downloads / str(renders["count"])
        shutil.rmtree(downloads / str(renders["count"] - 1), ignore_errors=True)
        folder.mkdir()
        grid_path, code_path = folder / "stylizing-vit-aug-grid.png", folder / "stylize_transform.py"
        preview.grid.save(grid_path)
        code_path.write_text(preview.snippet)
        return preview.grid, shown_on_page(preview.summary, settings), preview.snippet, [str(grid_path), str(code_path)]

    weakref.finalize(update, shutil.rmtree, downloads, ignore_errors=True)
    return update


def _page(
    gr: Any,
    stylizer: Stylizer,
    update: Callable[..., Any],
    source: str,
    style_path_value: str,
    delete_cache: tuple[int, int],
) -> gradio.Blocks:
    """The layout: the controls left, the grid, summary, snippet and downloads right; every
    control re-renders (the path on Enter), and so does the page's load."""
    title = "stylizing-vit-aug: look before you train"
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=delete_cache) as page:
        gr.Markdown(
            "## Look before you train\nYour content images in your styles, with the anatomy SSIM and "
            "the style distance (before → after) under each cell. Copy the snippet below the grid "
            f"into your pipeline. Checkpoint: `{stylizer.source}`. Uploads and grids are deleted from the "
            f"server {delete_cache[1] // 60} minutes after they are made, and when the page stops."
        )
        with gr.Row():
            with gr.Column(scale=1):
                inputs, style_path, run = _controls(gr, stylizer, source, style_path_value)
            with gr.Column(scale=2):
                outputs = _outputs(gr)
        triggers = [page.load, style_path.submit, run.click]
        triggers += [c.change for c in inputs if c is not style_path]
        gr.on(triggers, update, inputs, outputs, trigger_mode="always_last")
    return page


def _controls(gr: Any, stylizer: Stylizer, source: str, style_path_value: str) -> tuple[list[Any], Any, Any]:
    """The left column: the controls in the order the callback takes them, the path box (it
    re-renders on Enter, not on each key) and the render button."""
    names = list(bundled_contents())
    contents = gr.CheckboxGroup(names, value=names[:3], label="bundled content images")
    content_files = gr.File(
        label=f"your content images (at most {MAX_CONTENTS} rows in all)",
        file_count="multiple",
        file_types=["image"],
        type="filepath",
        elem_id="content-files",
    )
    style_source = gr.Radio(list(STYLE_SOURCES), value=source, label="styles from")
    style_path = gr.Textbox(
        value=style_path_value,
        label="bank file or folder on this machine",
        placeholder="bank.safetensors or styles/ (press Enter)",
        info="only under the folder the app started in and those given with "
        f"--allow-path; at most {MAX_FOLDER_IMAGES} images of a folder are read",
    )
    style_files = gr.File(
        label="your style images",
        file_count="multiple",
        file_types=["image"],
        type="filepath",
        elem_id="style-files",
    )
    n_styles = gr.Slider(1, MAX_STYLES, value=4, step=1, label="styles shown")
    seed = gr.Number(0, precision=0, label="which styles (seed)", info=f"a whole number {DRAW_SEED_TEXT}")
    strength = gr.Slider(0, 1, value=1.0, step=0.05, label="strength", elem_id="strength")
    mode = gr.Radio(list(MODES), value=stylizer.mode, label="mode")
    run = gr.Button("Render again", variant="primary", elem_id="run")
    inputs = [contents, content_files, style_source, style_path, style_files, n_styles, seed, strength, mode]
    return inputs, style_path, run


def _outputs(gr: Any) -> list[Any]:
    """The right column: the grid, summary, snippet and downloads, in the order the callback returns them."""
    # no label or buttons over the picture: they covered the last style's header; the full-size
    # grid is under downloads
    grid = gr.Image(
        label="content × style",
        show_label=False,
        buttons=[],
        type="pil",
        format="png",
        interactive=False,
        elem_id="grid",
    )
    summary = gr.Markdown(elem_id="summary")
    snippet = gr.Code(language="python", label="paste into your pipeline", elem_id="snippet")
    files = gr.File(label="downloads: grid and snippet", file_count="multiple", interactive=False)
    return [grid, summary, snippet, files]
