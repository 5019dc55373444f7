"""A resume compares the options the run records with the command line's, and warns that a trajectory option
changed. The weights of the objective the run does not use are no such option: a 0.1.0 run with ``--objective
paper`` recorded other defaults for ``stain_weights``, and resuming it warned "resuming with different
stain_weights ... will not continue exactly" though it continued bit for bit."""

from __future__ import annotations

import pytest

from stylizing_vit_aug.train.config import TrainConfig
from stylizing_vit_aug.train.start import changed_options


@pytest.mark.parametrize(
    ("objective", "unused", "used"),
    [("paper", "stain_weights", "loss_weights"), ("stain", "loss_weights", "stain_weights")],
)
def test_the_weights_an_objective_ignores_are_no_change_on_resume(tmp_path, objective, unused, used):
    now = TrainConfig(data=str(tmp_path), output=str(tmp_path / "run"), objective=objective).to_json()
    recorded = {**now, unused: {**now[unused], "extra_term": 9.0}}
    assert changed_options(recorded, now) == {}
    recorded = {**now, used: {**now[used], "extra_term": 9.0}}
    assert changed_options(recorded, now) == {used: [recorded[used], now[used]]}


def test_an_objective_changed_on_resume_is_one_and_its_weights_count(tmp_path):
    now = TrainConfig(data=str(tmp_path), output=str(tmp_path / "run"), objective="stain").to_json()
    recorded = {**now, "objective": "paper", "loss_weights": {**now["loss_weights"], "extra_term": 9.0}}
    assert set(changed_options(recorded, now)) == {"objective", "loss_weights"}
