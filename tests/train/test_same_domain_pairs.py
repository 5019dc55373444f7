"""``--pairing other_domain`` gives a sample whose micro-batch holds only its own domain a style of
that domain (the roll): counted in log.jsonl (``same_domain_pairs``) and said once per run, never
silent. The validation preview that pairs across domains counts its fallbacks too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import ARCH, options, parse, read_train_log, write_image
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.train.data import pair_styles, style_pairs
from stylizing_vit_aug.train.trainer import Trainer

TRAINING_SAID = "took a style of their own domain, because their micro-batches held one domain only"
VALIDATION_SAID = "the validation preview pairs each crop with a style of another domain"


def _data(root: Path, counts: dict[str, int]) -> Path:
    for d, (domain, count) in enumerate(counts.items()):
        for i in range(count):
            write_image(root / domain / f"{i}.png", size=(48, 48), seed=10 * d + i)
    return root


def _one_domain_rows(trainer: Trainer) -> list[int]:
    """Per optimizer step, the rows of micro-batches that hold one domain (read from the epoch order)."""
    steps = []
    for epoch in range(trainer.epochs):
        batches = list(trainer.batches.epoch(epoch))  # every whole micro-batch trains
        lonely = [
            len(keys) if len({int(trainer.dataset.domain_ids[i]) for i, _ in keys}) == 1 else 0 for keys in batches
        ]
        steps += [
            sum(lonely[k : k + trainer.config.accumulate]) for k in range(0, len(lonely), trainer.config.accumulate)
        ]
    return steps[: trainer.total_steps]


def _run(data: Path, out: Path, caplog, *extra: str) -> tuple[Trainer, list[str]]:
    args = ["-o", str(out), "--init", "tiny", *ARCH, *extra]
    trainer = Trainer(config_from_args(parse(str(data), *args)))
    with caplog.at_level("WARNING"):
        trainer.fit()
    return trainer, [r.getMessage() for r in caplog.records]


def test_style_pairs_counts_other_domain_rows_that_fell_back():
    generator = torch.Generator().manual_seed(0)
    mixed = style_pairs(torch.tensor([0, 0, 1, 1]), "other_domain", generator)
    assert mixed.same_domain == 0 and all(mixed.index.tolist()[i] >= 2 for i in (0, 1))
    lonely = style_pairs(torch.tensor([1, 1, 1]), "other-domain", torch.Generator().manual_seed(0))
    assert lonely.same_domain == 3 and torch.equal(lonely.index, pair_styles(torch.tensor([1, 1, 1]), "roll"))
    assert style_pairs(torch.tensor([0, 1]), "roll").same_domain is None
    assert style_pairs(torch.tensor([0, 0, 1]), "same_domain", generator).same_domain is None


def test_micro_batches_of_one_domain_are_counted_per_step_and_said_once(tmp_path, caplog):
    data = _data(tmp_path / "data", {"a": 6, "b": 2})  # 75/25: of four batches of 2, two at least hold "a" only
    run = tmp_path / "run"
    trainer, said = _run(data, run, caplog, *options(validate_every="0"), "--pairing", "other_domain")
    expected = _one_domain_rows(trainer)
    assert sum(expected) > 0
    assert [row["same_domain_pairs"] for row in read_train_log(run)] == expected
    warned = [message for message in said if TRAINING_SAID in message]
    assert len(warned) == 1
    first = next(step for step, rows in enumerate(expected, 1) if rows)
    assert f"{expected[first - 1]} of the 2 samples of step {first}" in warned[0]
    assert "--batch-size" in warned[0] and "balanced domains" in warned[0]
    caplog.clear()  # once per run, not per process: a second run in this process (a notebook) is told too
    _, said = _run(data, tmp_path / "again", caplog, *options(validate_every="0"), "--pairing", "other_domain")
    assert len([message for message in said if TRAINING_SAID in message]) == 1


def test_micro_batches_holding_both_domains_record_zero_and_say_nothing(tmp_path, caplog):
    data = _data(tmp_path / "data", {"a": 2, "b": 2})
    run = tmp_path / "run"
    _, said = _run(data, run, caplog, *options(batch_size="4", samples_per_epoch="4"), "--pairing", "other_domain")
    log = read_train_log(run)
    assert log and all(row["same_domain_pairs"] == 0 for row in log)
    assert not [message for message in said if TRAINING_SAID in message or VALIDATION_SAID in message]
    validations = [json.loads(line) for line in (run / "validation.jsonl").read_text().splitlines()]
    assert validations and all(row["val_same_domain_pairs"] == 0 for row in validations)


@pytest.mark.parametrize("pairing", ["roll", "same-domain"])
def test_pairings_that_ask_for_no_other_domain_record_no_count(tmp_path, caplog, pairing):
    data = _data(tmp_path / "data", {"a": 4})
    run = tmp_path / "run"
    _, said = _run(data, run, caplog, *options(validate_every="0", epochs="1"), "--pairing", pairing)
    assert all("same_domain_pairs" not in row for row in read_train_log(run))
    assert not [message for message in said if TRAINING_SAID in message]


def test_the_stain_preview_counts_crops_without_another_domain_and_says_once(tmp_path, caplog):
    data = _data(tmp_path / "data", {"a": 3})
    run = tmp_path / "run"
    _, said = _run(
        data, run, caplog, *options(validate_every="2", epochs="1"), "--objective", "stain", "--pairing", "same-domain"
    )
    validations = [json.loads(line) for line in (run / "validation.jsonl").read_text().splitlines()]
    assert len(validations) >= 2 and all(row["val_same_domain_pairs"] == 4 for row in validations)  # --val-samples 4
    warned = [message for message in said if VALIDATION_SAID in message]
    assert len(warned) == 1 and "4 of its 4 crops" in warned[0]


def test_domains_none_asks_for_no_other_domain_so_the_preview_says_nothing(tmp_path, caplog):
    """With --domains none (one domain asked for) and --pairing roll, the stain preview's fallback
    was warned as if other-domain pairs had been asked for, with advice (--val-dir) that cannot help."""
    data = _data(tmp_path / "data", {"a": 2, "b": 2})
    run = tmp_path / "run"
    stain_roll = [*options(validate_every="2", epochs="1"), "--objective", "stain", "--pairing", "roll"]
    _, said = _run(data, run, caplog, *stain_roll, "--domains", "none")
    validations = [json.loads(line) for line in (run / "validation.jsonl").read_text().splitlines()]
    assert validations and all(row["val_same_domain_pairs"] == 4 for row in validations)  # still counted
    assert not [message for message in said if VALIDATION_SAID in message]
    # with domains, the stain preview's warning says who pairs across them: not --pairing
    _, said = _run(_data(tmp_path / "one", {"a": 3}), tmp_path / "again", caplog, *stain_roll)
    warned = [message for message in said if VALIDATION_SAID in message]
    assert len(warned) == 1 and "the objective's preview does, whatever --pairing" in warned[0]
