"""``preview``'s check before the draw is cheap and bounded: each listed file is checked once (a
header for TIFF/BMP/WebP, whose whole check is a decode), only the drawn files are decoded, each
once, and a file that is not an image, or whose header is broken or refused, gives exit code 3
whatever ``--seed`` draws."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug import images as images_package
from stylizing_vit_aug.images import files


def _tiffs(folder: Path, count: int) -> list[Path]:
    """``count`` small RGB TIFFs (LZW, as slides' tiles often are)."""
    return [
        _save(folder / png.with_suffix(".tif").name, np.asarray(Image.open(png)), png)
        for png in write_images(folder / "png", count, size=(32, 32), seed=2)
    ]


def _save(path: Path, pixels: np.ndarray, source: Path) -> Path:
    Image.fromarray(pixels).save(path, compression="tiff_lzw")
    source.unlink()
    return path


def _preview(tmp_path: Path, checkpoint: str, contents: list[Path], styles: list[str], seed: int, n: int = 1) -> int:
    argv = ["preview", *map(str, contents), *styles, "-o", str(tmp_path / "grid.png"), "--n-contents", str(n)]
    argv += ["--n-styles", str(n), "--cell-size", "32", "--seed", str(seed), "--checkpoint", checkpoint]
    return cli.main(argv)


def _count(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> Counter:
    """Calls of ``module.name``, counted by the file (resolved) they were given."""
    calls: Counter = Counter()
    original = getattr(module, name)

    def counted(path, *args, **kwargs):
        calls[Path(path).resolve()] += 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("seed", range(4))
def test_a_tiff_whose_header_is_broken_gives_exit_3_whatever_the_seed(tmp_path, checkpoint, capsys, seed):
    """The header check finds it before the draw (it is no longer decoded there)."""
    tiffs = _tiffs(tmp_path / "contents", 4)
    data = bytearray(tiffs[1].read_bytes())
    data[4:8] = (len(data) + 1000).to_bytes(4, "little")  # the first directory's offset: past the end
    tiffs[1].write_bytes(bytes(data))
    styles = write_images(tmp_path / "styles", 1, size=(32, 32), seed=1)
    assert _preview(tmp_path, checkpoint, [tiffs[0].parent], ["--style", str(styles[0])], seed) == 3
    err = capsys.readouterr().err
    assert f"cannot read image {tiffs[1]}" in err and "1 file(s) could not be read" in err, err


@pytest.mark.parametrize("seed", range(4))
def test_an_image_too_small_to_read_gives_exit_3_whatever_the_seed(tmp_path, checkpoint, capsys, seed):
    """Its header tells its size: a 4x4 PNG, which passed the chunk check, was found only if drawn."""
    contents = write_images(tmp_path / "contents", 3)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "contents" / "tiny.png")
    styles = write_images(tmp_path / "styles", 1, size=(32, 32), seed=1)
    assert _preview(tmp_path, checkpoint, [contents[0].parent], ["--style", str(styles[0])], seed) == 3
    err = capsys.readouterr().err
    assert "tiny.png is 4x4 pixels" in err and "1 file(s) could not be read" in err, err


def test_only_the_drawn_tiffs_are_decoded_each_once(tmp_path, checkpoint, monkeypatch):
    """Of 6 TIFFs given as contents and as the style folder, 2 + 2 are drawn: only those are decoded,
    and a file drawn as both content and style once (every file was decoded to be checked, and a
    drawn one decoded again)."""
    tiffs = _tiffs(tmp_path / "tiles", 6)
    decoded = _count(monkeypatch, files, "_read")
    assert _preview(tmp_path, checkpoint, [tiffs[0].parent], ["--styles-dir", str(tiffs[0].parent)], 0, n=2) == 0
    assert 2 <= len(decoded) <= 4 and set(decoded.values()) == {1}, decoded


def test_a_file_listed_twice_is_checked_once_and_counted_once(tmp_path, checkpoint, monkeypatch, capsys):
    """A folder given as contents and as ``--styles-dir``, one of its files named again: each file
    is checked once, and its one unreadable file is warned of and counted once (it was twice)."""
    images = write_images(tmp_path / "tiles", 3, size=(32, 32))
    (tmp_path / "tiles" / "broken.png").write_bytes(b"not an image")
    checked = _count(monkeypatch, images_package, "check_whole")  # preview imports it as it checks
    folder = images[0].parent
    contents = [folder, images[1], folder / "broken.png"]
    assert _preview(tmp_path, checkpoint, contents, ["--styles-dir", str(folder)], 0) == 3
    assert len(checked) == 4 and set(checked.values()) == {1}, checked
    err = capsys.readouterr().err
    assert err.count("broken.png: not an image") == 1 and "1 file(s) could not be read" in err, err
