"""The validation crops come from every domain, however small: evenly spaced images of a list
sorted domain by domain skipped a domain smaller than the spacing (95 + 5 images, 16 crops: all
from the large domain). A resumed run keeps the crops it validated on, including one started
before the change."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from helpers import ARCH, options, parse, write_image
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.train.spread import (
    SPREAD_OVER_LIST,
    VAL_PICKS,
    domain_spread_indices,
    spread_indices,
    validation_images,
    validation_picks,
)
from stylizing_vit_aug.train.trainer import Trainer

SIZES = st.lists(st.integers(1, 40), min_size=1, max_size=6)


def _labels(sizes: list[int]) -> list[int]:
    """One label per image, domain by domain, as a sorted folder lists them."""
    return [domain for domain, size in enumerate(sizes) for _ in range(size)]


@given(SIZES, st.integers(1, 120))
def test_every_domain_appears_once_count_reaches_the_domains(sizes, count):
    labels = _labels(sizes)
    picked = domain_spread_indices(count, labels)
    assert len(picked) == count and all(0 <= k < len(labels) for k in picked)
    assert picked == domain_spread_indices(count, labels)  # the same crops at every validation and resume
    if count >= len(sizes):
        assert {labels[k] for k in picked} == set(range(len(sizes)))
        # the first crops (the preview's rows) take the domains in turn
        assert [labels[k] for k in picked[: len(sizes)]] == list(range(len(sizes)))
    if count <= len(labels):
        assert len(set(picked)) == count  # no image twice while some are left
        shares = Counter(labels[k] for k in picked)
        open_domains = [shares[d] for d, size in enumerate(sizes) if shares[d] < size]
        assert not open_domains or max(shares.values()) <= min(open_domains) + 1  # fair shares
    else:
        assert set(picked) == set(range(len(labels)))  # every image


@given(st.integers(1, 300), st.integers(1, 300))
def test_one_domain_picks_what_it_picked_before(count, size):
    assert domain_spread_indices(count, [0] * size) == spread_indices(count, size)


def test_a_small_domain_at_the_end_of_the_list_is_validated_on():
    """The tester's folder: 95 images of one lab, 5 of another, the default 16 crops."""
    labels = [0] * 95 + [1] * 5
    assert {labels[k] for k in spread_indices(16, 100)} == {0}  # what the crops were
    assert Counter(labels[k] for k in domain_spread_indices(16, labels)) == {0: 11, 1: 5}


def test_a_resume_keeps_the_picks_its_checkpoint_records():
    legacy = {"trainer": {"step": 4}}  # a checkpoint written before the picks were recorded
    assert validation_picks(None) == VAL_PICKS
    assert validation_picks({"trainer": {"validation_picks": VAL_PICKS}}) == VAL_PICKS
    assert validation_picks(legacy) == SPREAD_OVER_LIST
    labels = [0] * 6 + [1] * 2
    assert validation_images(4, labels, SPREAD_OVER_LIST) == spread_indices(4, 8)
    assert validation_images(4, labels, VAL_PICKS) == domain_spread_indices(4, labels)


def _folder(root):
    for i in range(6):
        write_image(root / "a_lab" / f"{i}.png", seed=i)
    for i in range(2):
        write_image(root / "b_lab" / f"{i}.png", seed=50 + i)
    return root


def test_trainer_validates_on_every_domain_and_records_how(tmp_path):
    """6 + 2 images, 3 crops: evenly spaced they were images 0, 2 and 5, all of a_lab."""
    argv = [
        str(_folder(tmp_path / "data")),
        "-o",
        str(tmp_path / "run"),
        "--init",
        "tiny",
        *ARCH,
        *options(val_samples="3"),
    ]
    trainer = Trainer(config_from_args(parse(*argv)))
    assert set(trainer.val_crops["domain"].tolist()) == {0, 1}
    assert trainer.trainer_state()["validation_picks"] == VAL_PICKS


def test_a_run_from_before_the_change_resumes_on_its_own_crops(tmp_path, monkeypatch):
    """A checkpoint without ``validation_picks`` (an older version's) validated on evenly spaced images:
    its resume keeps them, so validation.jsonl goes on comparable, and records so for the next resume."""
    args = [str(_folder(tmp_path / "data")), "-o", str(tmp_path / "run"), *ARCH, *options(val_samples="3")]
    state = Trainer.trainer_state

    def older(self: Trainer) -> dict:
        return {key: value for key, value in state(self).items() if key != "validation_picks"}

    monkeypatch.setattr(Trainer, "trainer_state", older)
    Trainer(config_from_args(parse(*args))).save_checkpoint()
    monkeypatch.undo()
    resumed = Trainer(config_from_args(parse(*args, "--resume")))
    assert resumed.val_picks == SPREAD_OVER_LIST
    before = resumed.val_dataset.domain_ids[spread_indices(3, 8)]  # images 0, 2, 5 of 8: all of a_lab
    assert resumed.val_crops["domain"].tolist() == before.tolist() and set(before.tolist()) == {0}
    assert resumed.trainer_state()["validation_picks"] == SPREAD_OVER_LIST
