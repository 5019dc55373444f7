"""``preview --seed S`` shows the same bank styles whatever its content folder holds, and the app's for that
seed: one generator drew the contents first (only when the folder held more than --n-contents files), then the
styles, while the app drew the styles from a fresh one."""

from __future__ import annotations

import re
import shutil

from helpers import spy_on_grids, write_images
from stylizing_vit_aug import app_previewer, cli, grid
from stylizing_vit_aug.app_settings import BANK_FILE, Settings


def _bank_indices(grids: list[dict]) -> list[list[int]]:
    """The bank indices (``#7`` in a style label) of each grid a spy (``helpers.spy_on_grids``) saw."""
    return [[int(re.search(r"#(\d+)", label)[1]) for label in each["style_labels"]] for each in grids]


def test_a_seed_shows_the_same_bank_styles_whatever_the_folder_holds_and_the_apps(
    tmp_path, saved, small_stylizer, monkeypatch
):
    checkpoint, bank = saved
    many = write_images(tmp_path / "many", 16, size=(32, 32))
    few = tmp_path / "few"
    few.mkdir()
    for path in many[:2]:
        shutil.copy(path, few / path.name)
    shown, in_app = spy_on_grids(monkeypatch, grid), spy_on_grids(monkeypatch, app_previewer)
    for seed in (1, 7):
        for folder in (few, tmp_path / "many"):
            argv = [str(folder), "--bank", bank, "--checkpoint", checkpoint, "--n-styles", "2", "--n-contents", "2"]
            out = tmp_path / f"{folder.name}{seed}.png"
            assert cli.main(["preview", *argv, "--seed", str(seed), "-o", str(out), "--cell-size", "32"]) == 0
        settings = Settings(contents=("he_tcia",), style_source=BANK_FILE, style_path=bank, n_styles=2, seed=seed)
        app_previewer.Previewer(small_stylizer, cell_size=32).render(settings)
        few_shows, many_shows = _bank_indices(shown)[-2:]
        assert few_shows == many_shows == _bank_indices(in_app)[-1]
    drawn = _bank_indices(shown)
    assert drawn[0] != drawn[-1]  # the seed does pick: 1 and 7 show other styles of the bank
