"""``stylize``'s style count is checked in one place, once per run: not again for every input."""

from __future__ import annotations

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import _stylize_plan


def test_the_style_count_is_checked_once_per_run_not_per_input(tmp_path, checkpoint, monkeypatch):
    calls: list[tuple[int, int]] = []
    real = _stylize_plan.refuse_too_few_styles

    def counted(wanted: int, count: int, itself=None) -> None:
        calls.append((wanted, count))
        real(wanted, count, itself)

    monkeypatch.setattr(_stylize_plan, "refuse_too_few_styles", counted)
    write_images(tmp_path / "styles", 2, size=(32, 32), seed=3)
    per_run = []
    for inputs in (1, 3):
        write_images(tmp_path / f"in{inputs}", inputs)
        calls.clear()
        argv = [
            "stylize",
            str(tmp_path / f"in{inputs}"),
            "-o",
            str(tmp_path / f"out{inputs}"),
            "--styles-dir",
            str(tmp_path / "styles"),
            "--checkpoint",
            checkpoint,
            "--styles-per-image",
            "2",
        ]
        assert cli.main(argv) == 0
        per_run.append(len(calls))
    # the same checks for 1 input as for 3 (it grew by one per input); and some at all, or the spy saw none
    assert per_run[0] > 0 and per_run[1] == per_run[0], per_run
