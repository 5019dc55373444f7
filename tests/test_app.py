"""The `app` page: the rendering logic on its own, the command, the Space file, and the page in a
real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)."""

from __future__ import annotations

import io
import os
import re
import runpy
import shutil
import socket
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import save_crops
from stylizing_vit_aug import cli
from stylizing_vit_aug.app_previewer import Previewer
from stylizing_vit_aug.app_settings import BANK_FILE, BUNDLED, FOLDER, UPLOADS, Settings, pipeline_snippet
from stylizing_vit_aug.grid import caption_height, content_style_grid, grid_size

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # gitignored; CI keeps the browser screenshot from here
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost only, never a proxy


@pytest.fixture
def style_files(tmp_path, histology_crops) -> list[str]:
    return save_crops(tmp_path / "styles", histology_crops[:3])


def test_importing_the_package_never_imports_gradio():
    """Read with ``ast``: no module of the package imports gradio when it is imported (only inside
    the functions that build the page), so the package, ``stylizing_vit_aug.app`` and the
    command line load without the app extra."""
    import ast

    import stylizing_vit_aug

    package = Path(stylizing_vit_aug.__file__).parent
    at_import, in_functions = [], []  # module level; inside a function (or a type-checking block)
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deferred = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    or isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)]
        inside = {id(n) for block in deferred for n in ast.walk(block)}
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "gradio" for name in names):
                (in_functions if id(node) in inside else at_import).append(path.relative_to(package).as_posix())
    assert at_import == [], f"gradio imported at module level in {at_import}"
    assert "app.py" in in_functions  # the page itself still imports it, when it is built


def test_grid_captions_sit_under_the_cells():
    cells = [[torch.zeros(3, 8, 8), torch.ones(3, 8, 8)], [torch.ones(3, 8, 8), None]]
    grid = content_style_grid(cells[0], cells[1][:1] + [None], [[torch.zeros(3, 8, 8)] * 2] * 2, ["a", "b"],
                              ["x", "y"], captions=[["one", "two\nlines"], ["", "three"]], cell_size=40)
    assert grid.size == grid_size(3, 3, cell_size=40, padding=4, row_labels=True, col_labels=True, caption_lines=2)
    assert grid.size[1] - grid_size(3, 3, cell_size=40, padding=4, row_labels=True, col_labels=True)[1] == (
        3 * caption_height(40, 2)
    )
    with pytest.raises(ValueError, match="one row per content"):
        content_style_grid(cells[0], [None, None], [[None, None]] * 2, ["a", "b"], ["x", "y"], captions=[["a"]])


@pytest.mark.parametrize("source", [BUNDLED, BANK_FILE, FOLDER, UPLOADS])
def test_every_style_source_renders_a_grid_with_figures(source, small_stylizer, saved, style_files, tmp_path):
    path = {BANK_FILE: saved[1], FOLDER: str(Path(style_files[0]).parent)}.get(source, "")
    settings = Settings(contents=("he_tcia", "ihc_colon"), content_files=(style_files[2],), style_source=source,
                        style_path=path, style_files=tuple(style_files) if source == UPLOADS else (), n_styles=2,
                        strength=0.6, mode="detail")
    preview = Previewer(small_stylizer, cell_size=40).render(settings)
    assert preview.ssim.shape == preview.style_before.shape == preview.style_after.shape == (3, 2)
    assert torch.isfinite(preview.ssim).all() and (preview.ssim <= 1).all()
    assert preview.grid.size == grid_size(4, 3, cell_size=40, padding=4, row_labels=True, col_labels=True,
                                          caption_lines=2)
    assert "strength=0.6" in preview.snippet and "mode='detail'" in preview.snippet
    assert "3 contents × 2 styles" in preview.summary and not preview.notes


def test_strength_zero_keeps_the_content_and_full_strength_moves_toward_the_style(small_stylizer):
    previewer = Previewer(small_stylizer, cell_size=40)
    still = previewer.render(Settings(contents=("ihc_colon",), strength=0.0, mode="detail"))
    assert torch.allclose(still.ssim, torch.ones_like(still.ssim))
    assert torch.allclose(still.style_after, still.style_before)
    moved = previewer.render(Settings(contents=("ihc_colon",), strength=1.0, mode="detail"))
    assert (moved.ssim < 1).all() and not torch.allclose(moved.style_after, moved.style_before)


def test_bad_inputs_say_what_is_wrong(small_stylizer, tmp_path):
    previewer = Previewer(small_stylizer, cell_size=40)
    with pytest.raises(ValueError, match="pick a bundled content image or upload"):
        previewer.render(Settings())
    with pytest.raises(ValueError, match="no bundled content image named 'nope'"):
        previewer.render(Settings(contents=("nope",)))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        previewer.render(Settings(contents=("he_tcia",), style_source=BANK_FILE, style_path=str(tmp_path / "x")))
    with pytest.raises(ValueError, match="upload one or more style images"):
        previewer.render(Settings(contents=("he_tcia",), style_source=UPLOADS))
    with pytest.raises(ValueError, match="mode must be one of"):
        previewer.render(Settings(contents=("he_tcia",), mode="sharp"))
    with pytest.raises(ValueError, match="cannot look up that bank file path: File name too long"):
        previewer.render(Settings(contents=("he_tcia",), style_source=BANK_FILE, style_path="a" * 5000))


@pytest.mark.parametrize("source", [BANK_FILE, FOLDER])
@pytest.mark.parametrize("allowed", [False, True])
def test_a_looping_link_or_a_nul_typed_on_the_page_is_named(small_stylizer, tmp_path, source, allowed):
    """A loop was Python's ``RuntimeError: Symlink loop`` (not the ValueError the page shows), a NUL byte its bare
    "embedded null byte"."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    previewer = Previewer(small_stylizer, cell_size=40, allowed_paths=[tmp_path] if allowed else None)
    settings = {"contents": ("he_tcia",), "style_source": source}
    with pytest.raises(ValueError, match=f"{tmp_path / 'loop'} cannot be followed: a symbolic link on it loops"):
        previewer.render(Settings(**settings, style_path=str(tmp_path / "loop")))
    with pytest.raises(ValueError, match=f"that {source} path holds a NUL character"):
        previewer.render(Settings(**settings, style_path=f"{tmp_path}/a\0b"))


def test_a_bank_of_another_stylizer_is_reencoded_and_the_snippet_says_so(saved, tmp_path):
    from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
    from stylizing_vit_aug import Stylizer

    other = Stylizer(make_small_model(seed=1), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    preview = Previewer(other, cell_size=40).render(
        Settings(contents=("he_tcia",), style_source=BANK_FILE, style_path=saved[1], n_styles=1))
    assert preview.notes and "re-encoded" in preview.summary
    assert "on_mismatch='reencode'" in preview.snippet


@pytest.mark.parametrize("source", [BUNDLED, BANK_FILE, FOLDER])
def test_the_snippet_runs_as_pasted(source, saved, style_files, histology_crops, monkeypatch, tmp_path):
    """Exactly the text the page shows, executed: it builds a working StylizeTransform."""
    from stylizing_vit_aug.hub import load_stylizer

    stylizer = load_stylizer(saved[0], device="cpu", mode="detail")
    path = {BANK_FILE: saved[1], FOLDER: str(Path(style_files[0]).parent)}.get(source, "")
    snippet = pipeline_snippet(stylizer, Settings(style_source=source, style_path=path, strength=0.8, mode="detail"))
    assert f"stylizer={saved[0]!r}" in snippet or f"load_stylizer({saved[0]!r}" in snippet
    namespace: dict = {}
    exec(compile(snippet, "snippet.py", "exec"), namespace)
    augment = namespace["augment"]
    assert (augment.p, augment.strength, augment.mode) == (0.5, (0.8, 0.8), "detail")
    augment.p = 1.0
    image = Image.fromarray(histology_crops[0])
    out = augment(image)
    assert out.size == image.size and not np.array_equal(np.asarray(out), histology_crops[0])


@pytest.mark.parametrize("source", [BUNDLED, BANK_FILE])
def test_the_snippet_carries_settings_its_source_does_not_load_with(source, saved, histology_crops):
    """`app --background dark` showed StylizeTransform(stylizer=SOURCE): pasted, it painted black background."""
    from stylizing_vit_aug.hub import load_stylizer

    stylizer = load_stylizer(saved[0], device="cpu", mode="detail", background="dark", colour_match=False)
    path = saved[1] if source == BANK_FILE else ""
    snippet = pipeline_snippet(stylizer, Settings(style_source=source, style_path=path, mode="detail"))
    assert "background='dark'" in snippet and "colour_match=False" in snippet, snippet
    namespace: dict = {}
    exec(compile(snippet, "snippet.py", "exec"), namespace)
    augmenting = namespace["augment"].stylizer
    assert (augmenting.background, augmenting.colour_match, augmenting.mode) == ("dark", False, "detail")


@pytest.mark.parametrize("source", [BUNDLED, FOLDER])
def test_the_snippet_carries_statistics_its_source_does_not_load_with(source, saved, style_files, histology_crops):
    """`app --mean ... --std ...` showed the source alone, which loads the checkpoint's own statistics: pasted, it
    stylised differently from the page."""
    from stylizing_vit_aug.hub import load_stylizer

    own = load_stylizer(saved[0], device="cpu")
    page = load_stylizer(saved[0], device="cpu", mean=(own.mean * 0.9).tolist(), std=(own.std * 1.1).tolist())
    path = str(Path(style_files[0]).parent) if source == FOLDER else ""
    snippet = pipeline_snippet(page, Settings(style_source=source, style_path=path))
    namespace: dict = {}
    exec(compile(snippet, "snippet.py", "exec"), namespace)
    pasted = namespace["augment"].stylizer
    assert torch.equal(pasted.mean, page.mean) and torch.equal(pasted.std, page.std), snippet
    image, style = histology_crops[0][:32, :32], histology_crops[1][:32, :32]  # small: the check is the same
    assert np.array_equal(pasted(image, style), page(image, style))
    assert "mean=" not in pipeline_snippet(own, Settings(style_source=source, style_path=path))  # its own: the source


def test_app_command_help_and_a_clear_message_without_gradio(monkeypatch, capsys):
    assert cli.main(["app", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--share" in out and "--port" in out and "example" in out
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the app extra were not installed
    assert cli.main(["app"]) == 2
    assert "pip install 'gradio>=5'" in capsys.readouterr().err  # works from a clone: the package is on no index


def test_the_space_file_builds_the_same_page(saved, monkeypatch):
    gr = pytest.importorskip("gradio")
    monkeypatch.setenv("STYLIZING_VIT_AUG_CHECKPOINT", saved[0])
    page = runpy.run_path(str(ROOT / "app.py"))["demo"]
    assert isinstance(page, gr.Blocks)


def _require_browser() -> None:
    """Skip on a developer machine without the browser; fail in CI (CI is set), where it must run."""
    missing = [name for name, found in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not found]
    for module in ("gradio", "selenium"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        message = (f"the browser test needs {', '.join(missing)}: apt-get install chromium chromium-driver; "
                   'pip install -e ".[dev]"')
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_page(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with LOCAL.open(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the app did not answer at {url} within {timeout} s")


def _pixels(src: str) -> np.ndarray:
    with LOCAL.open(src, timeout=30) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


@pytest.mark.slow
def test_the_page_in_a_real_browser(saved, histology_crops, tmp_path, monkeypatch, capfd):
    """Load the page, upload a content image, move the strength slider: the grid follows, no error.

    The page is served by the ``app`` command itself (``cli.main``) in this process, as the
    other page tests build it here: Gradio and torch are imported once, not again in a server
    process, and Chromium starts while the command loads."""
    _require_browser()
    import gradio as gr
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    upload = tmp_path / "my_slide.png"
    Image.fromarray(histology_crops[1]).save(upload)
    port = _free_port()
    env = {**os.environ, "SE_OFFLINE": "true", "NO_PROXY": "127.0.0.1,localhost"}
    for name, value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                        "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    served: list = []  # the command's page; it blocks until Ctrl-C, here it returns and the test closes it
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda page: served.append(page))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-proxy-server", "--window-size=1400,1800"):
        options.add_argument(argument)
    ARTIFACTS.mkdir(exist_ok=True)
    driver = None
    try:
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(webdriver.Chrome, options=options, service=Service(CHROMEDRIVER, env=env))
            try:
                argv = ["app", "--checkpoint", saved[0], "--mode", "detail", "--device", "cpu", "--port", str(port)]
                assert cli.main(argv) == 0 and len(served) == 1
            finally:
                driver = starting.result()
        url = f"http://127.0.0.1:{port}/"
        _wait_for_page(url)
        wait = WebDriverWait(driver, 60)
        driver.get(url)

        def grid_src(previous: str | None = None):
            images = driver.find_elements(By.CSS_SELECTOR, "#grid img")
            src = images[0].get_attribute("src") if images else None
            return src if src and src != previous else False

        first = wait.until(lambda _: grid_src())
        first_height = _pixels(first).shape[0]

        driver.find_element(By.CSS_SELECTOR, "#content-files input[type=file]").send_keys(str(upload))
        second = wait.until(lambda _: grid_src(first))
        with_upload = _pixels(second)
        assert with_upload.shape[0] > first_height  # one more content row: the uploaded image

        slider = driver.find_element(By.CSS_SELECTOR, "#strength input[type=range]")
        ActionChains(driver).move_to_element_with_offset(slider, -slider.size["width"] // 4, 0).click().perform()
        strength = float(driver.find_element(By.CSS_SELECTOR, "#strength input[type=number]").get_attribute("value"))
        assert 0 < strength < 1
        # settled: the last render (the one for the final slider value) is on the page
        wait.until(lambda d: f"strength={strength!r}" in d.find_element(By.ID, "snippet").text
                   and "processing" not in d.find_element(By.TAG_NAME, "body").text)
        weaker = _pixels(grid_src(second))
        assert weaker.shape == with_upload.shape and not np.array_equal(weaker, with_upload)

        toasts = driver.find_elements(By.CSS_SELECTOR, "[data-testid='toast-body']")
        assert not toasts, [toast.text for toast in toasts]
        assert "Error" not in driver.find_element(By.TAG_NAME, "body").text

        # nothing covers the grid (the label and buttons hid the last style's header)
        uncovered = driver.execute_script(
            "const img = document.querySelector('#grid img'); const r = img.getBoundingClientRect();"
            "return [[r.left + 4, r.top + 4], [r.right - 4, r.top + 4], [r.right - 4, r.bottom - 4]]"
            ".map(([x, y]) => document.elementFromPoint(x, y) === img);")
        assert uncovered == [True, True, True], uncovered  # the corners of the grid are the grid's own pixels
        # a render shows its progress: record every text the page shows while "Render again" runs
        driver.execute_script(
            "window.seen = []; new MutationObserver(() => { const t = document.body.innerText;"
            " if (t.includes('rendering')) window.seen.push(t); })"
            ".observe(document.body, {subtree: true, childList: true, characterData: true});")
        driver.find_element(By.CSS_SELECTOR, "#run").click()
        wait.until(lambda d: d.execute_script("return window.seen.length") > 0)
        seen = driver.execute_script("return window.seen.join('\\n')")
        assert "stylising" in seen or "loading images" in seen, seen
        wait.until(lambda d: "processing" not in d.find_element(By.TAG_NAME, "body").text)

        # "uploads" before any upload: the page says what to do next; the terminal shows no traceback
        driver.find_element(By.XPATH, "//label[.//input[@type='radio' and @value='uploads']]").click()
        wait.until(lambda d: "Upload one or more style images" in d.find_element(By.ID, "summary").text)
        log = "".join(capfd.readouterr())  # what the command printed to the terminal
        assert "Traceback" not in log and "share=True" not in log
        assert "--share" in log  # the start-up line names the flag, not launch()
    finally:
        if driver is not None:
            driver.save_screenshot(str(ARTIFACTS / "app.png"))
            driver.quit()
        for page in served:
            page.close()


def test_missing_input_says_the_next_step_and_nothing_when_ready(style_files):
    from stylizing_vit_aug.app_settings import missing_input

    assert "Pick a bundled content image" in missing_input(Settings())
    assert "Upload one or more style images" in missing_input(Settings(contents=("he_tcia",), style_source=UPLOADS))
    for source in (BANK_FILE, FOLDER):
        blank_path = Settings(contents=("he_tcia",), style_source=source, style_path=" ")
        assert f"path of a {source}" in missing_input(blank_path)
    ready = [Settings(contents=("he_tcia",)), Settings(content_files=(style_files[0],), style_source=FOLDER,
                                                       style_path="styles/"),
             Settings(contents=("he_tcia",), style_source=UPLOADS, style_files=tuple(style_files))]
    assert all(missing_input(settings) is None for settings in ready)


def test_render_reports_each_content_row_before_stylising_it(small_stylizer, style_files):
    calls = []
    Previewer(small_stylizer, cell_size=40).render(
        Settings(contents=("he_tcia", "ihc_colon"), content_files=(style_files[0],), n_styles=1),
        on_row=lambda done, total, name: calls.append((done, total, name)),
    )
    assert calls == [(0, 3, "he_tcia"), (1, 3, "ihc_colon"), (2, 3, "style0")]


def _folder_of(tmp_path: Path, name: str, count: int, crops) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for i in range(count):
        Image.fromarray(crops[i % len(crops)]).save(folder / f"{name}{i}.png")
    return folder


def test_the_page_reads_only_allowed_folders_and_says_how_to_allow_more(small_stylizer, saved, histology_crops,
                                                                        tmp_path):
    from stylizing_vit_aug.app_files import PathNotAllowed

    allowed = _folder_of(tmp_path, "allowed", 2, histology_crops)
    outside = _folder_of(tmp_path, "outside", 2, histology_crops)
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    previewer = Previewer(small_stylizer, cell_size=40, allowed_paths=[allowed])
    for source, path in [(FOLDER, "/proc/self"), (FOLDER, str(outside)), (FOLDER, str(allowed / "link")),
                         (BANK_FILE, saved[1]), (BANK_FILE, str(tmp_path / "no_such.safetensors"))]:
        settings = Settings(contents=("he_tcia",), style_source=source, style_path=path, n_styles=1)
        with pytest.raises(PathNotAllowed, match=rf"outside the folders this page may read \({allowed}\)") as error:
            previewer.render(settings)
        assert f"--allow-path {path}" in str(error.value)  # refused before it is even looked up
    preview = previewer.render(Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(allowed)))
    assert preview.ssim.shape == (1, 2), "the link out of the allowed folder must not be followed"


def test_a_large_folder_is_read_only_up_to_the_cap_and_the_page_says_so(small_stylizer, histology_crops,
                                                                        tmp_path, monkeypatch):
    import stylizing_vit_aug.app_files as page

    folder = _folder_of(tmp_path, "many", 5, histology_crops)
    monkeypatch.setattr(page, "MAX_FOLDER_IMAGES", 3)
    preview = Previewer(small_stylizer, cell_size=40).render(
        Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(folder), n_styles=8))
    assert preview.ssim.shape == (1, 3)
    assert "(of 3)" in preview.summary and "took the first 3 images" in preview.summary
    assert "the page read the first 3)" in preview.snippet and "bank build" in preview.snippet  # its bank: all 5
    few = _folder_of(tmp_path, "few", 3, histology_crops)
    whole = Previewer(small_stylizer, cell_size=40).render(
        Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(few), n_styles=8))
    assert "the page read" not in whole.snippet
    assert page.folder_images(folder) == (sorted(folder.glob("*.png"))[:3], True)
    assert page.folder_images(folder, limit=5) == (sorted(folder.glob("*.png")), False)


def test_a_folder_whose_images_lie_past_the_folder_cap_says_so_and_what_to_do(small_stylizer, histology_crops,
                                                                             tmp_path, monkeypatch):
    """The walk stops at MAX_FOLDER_WALK folders; when that leaves no image, the page says the
    walk stopped (how many folders it looked at) and to point it at a narrower folder, not that
    the folder holds no images."""
    import stylizing_vit_aug.app_files as page

    monkeypatch.setattr(page, "MAX_FOLDER_WALK", 4)
    tree = tmp_path / "tree"
    for name in ("a0", "a1", "a2", "a3", "a4"):
        (tree / name).mkdir(parents=True)
    styles = _folder_of(tree, "z_styles", 2, histology_crops)  # walked last, past the cap
    previewer = Previewer(small_stylizer, cell_size=40)
    with pytest.raises(ValueError) as error:
        previewer.render(Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(tree)))
    assert f"in the first 4 folders under {tree}" in str(error.value)
    assert "stops looking after 4 folders" in str(error.value) and "narrower folder" in str(error.value)
    preview = previewer.render(Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(styles)))
    assert preview.ssim.shape == (1, 2)  # the narrower folder, as the message says
    with pytest.raises(ValueError, match=rf"no .* images found under {re.escape(str(tree / 'a0'))}$"):
        previewer.render(Settings(contents=("he_tcia",), style_source=FOLDER, style_path=str(tree / "a0")))


def test_the_served_page_allows_the_working_folder_and_the_command_line_paths(small_stylizer, tmp_path,
                                                                              histology_crops, monkeypatch):
    pytest.importorskip("gradio")
    from stylizing_vit_aug.app import build_app

    styles = _folder_of(tmp_path, "styles", 2, histology_crops)
    extra = _folder_of(tmp_path, "extra", 2, histology_crops)
    monkeypatch.chdir(tmp_path / "styles")
    page = build_app(small_stylizer, cell_size=40, allow_paths=[extra])
    update = next(block.fn for block in page.fns.values() if block.name == "update")
    for path in (str(styles), str(extra)):
        _, summary, _, _ = update(["he_tcia"], None, FOLDER, path, None, 1, 0, 1.0, "detail")
        assert "1 contents × 1 styles" in summary
    with pytest.raises(Exception, match="outside the folders this page may read") as error:
        update(["he_tcia"], None, FOLDER, "/proc/self", None, 1, 0, 1.0, "detail")
    assert type(error.value).__name__ == "Error"  # gradio's: shown in the page, not a server traceback


def test_app_command_checks_allow_paths(tmp_path, capsys):
    pytest.importorskip("gradio")
    assert cli.main(["app", "--allow-path", str(tmp_path / "missing")]) == 2
    assert f"--allow-path {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    (tmp_path / "loop").symlink_to(tmp_path / "loop")  # was "does not exist", of a link that is there
    for option, named in (("--allow-path", "--allow-path"), ("--styles-dir", "style folder")):
        assert cli.main(["app", option, str(tmp_path / "loop")]) == 2
        assert f"{named} {tmp_path / 'loop'} cannot be followed: a symbolic link on it loops" in capsys.readouterr().err


def test_app_command_refuses_styles_it_could_never_read_before_loading_the_model(tmp_path, capsys, monkeypatch):
    """A --bank that is a folder or not a bank file, or a --styles-dir that is a file, used to start the server:
    every visitor then got the error on the page."""
    pytest.importorskip("gradio")
    from stylizing_vit_aug.commands import app as app_command

    monkeypatch.setattr(app_command, "load_stylizer_from_args", lambda args: pytest.fail("the model was loaded"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "text.safetensors").write_bytes(b"abc")
    for argv, said in (
        (["--bank", str(tmp_path / "folder")], "is a folder; app --bank reads one bank file"),
        (["--bank", str(tmp_path / "text.safetensors")], "cannot read bank file"),
        (["--styles-dir", str(tmp_path / "text.safetensors")], "is not a folder; --styles-dir takes a folder"),
    ):
        assert cli.main(["app", *argv]) == 2
        assert said in capsys.readouterr().err


def test_a_folder_as_the_bank_file_or_a_seed_past_64_bits_reaches_the_page_as_a_message(small_stylizer, tmp_path,
                                                                                       monkeypatch):
    """A styles folder typed into the bank-file box raised IsADirectoryError past the page's handler
    (the page said only that the app raised); a seed past 64 bits raised torch's "Overflow when
    unpacking long long". Both are the page's error message now, saying what to do (a seed: the range
    the page takes, tests/test_draw_seeds.py)."""
    from stylizing_vit_aug.app import _page_update, import_gradio

    gr = import_gradio()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "styles").mkdir()
    update = _page_update(gr, Previewer(small_stylizer, cell_size=40, allowed_paths=[tmp_path]))
    progress = lambda *args, **kwargs: None  # noqa: E731 - outside a page event
    folder = ([], None, BANK_FILE, str(tmp_path / "styles"), None, 2, 0, 1.0, "relative")
    with pytest.raises(gr.Error, match="is a folder; .* reads one bank file"):
        update(["he_tcia"], *folder[1:], progress=progress)
    huge_seed = (["he_tcia"], None, BUNDLED, "", None, 2, 2**70, 1.0, "relative")
    with pytest.raises(gr.Error, match=rf"the seed must be a whole number from 0 to 2\*\*32 - 1 .*, got {2**70}"):
        update(*huge_seed, progress=progress)


@pytest.mark.parametrize("role", ["content", "style"])
def test_a_gif_upload_reaches_the_page_as_the_command_lines_refusal(role, small_stylizer, style_files, tmp_path,
                                                                     monkeypatch):
    """The command line refuses a .gif (`preview small.gif`: not a .png/.jpg/... image) and folder
    listings leave it out, but the page decoded an uploaded GIF and rendered it: a file that works
    on the page failed in the pipeline built from its snippet. The page refuses it by name now."""
    from stylizing_vit_aug.app import _page_update, import_gradio
    from stylizing_vit_aug.images import IMAGE_EXTENSIONS

    gr = import_gradio()
    gif = tmp_path / "small.gif"
    Image.open(style_files[0]).save(gif)
    update = _page_update(gr, Previewer(small_stylizer, cell_size=40))
    progress = lambda *args, **kwargs: None  # noqa: E731 - outside a page event
    contents, styles = ([str(gif)], style_files[:1]) if role == "content" else (style_files[:1], [str(gif)])
    with pytest.raises(gr.Error) as refused:
        update([], contents, UPLOADS, "", styles, 1, 0, 1.0, "detail", progress=progress)
    message = str(refused.value)
    assert f"{role} image small.gif is not a {'/'.join(IMAGE_EXTENSIONS)} image" in message, message
    assert "convert it to PNG" in message and str(tmp_path) not in message  # the name, not the server's temp path


def test_strength_minus_zero_shows_as_zero_in_the_summary_and_the_snippet(small_stylizer):
    """A slider at its end can give -0.0: the summary said "strength -0" and the snippet strength=-0.0."""
    preview = Previewer(small_stylizer, cell_size=40).render(Settings(contents=("he_tcia",), n_styles=1,
                                                                      strength=-0.0, mode="detail"))
    assert "strength 0," in preview.summary and "strength=0.0," in preview.snippet
    assert "-0" not in preview.summary and "-0" not in preview.snippet
