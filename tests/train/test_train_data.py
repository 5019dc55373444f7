"""Training data: folders and domains, seeded crops, blank-crop skipping, epoch order, pairing,
real styles of other domains."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from helpers import ARCH, options, parse, read_train_log, truncated_jpeg, write_image, write_images
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train.data import (
    TISSUE_CROPS,
    EpochBatches,
    ImageFolderDataset,
    RealStyleItems,
    TrainBatch,
    collate_items,
    mix_seed,
    pair_styles,
    spread_indices,
)
from stylizing_vit_aug.train.doubts import say_data_doubts
from stylizing_vit_aug.train.trainer import Trainer


@pytest.fixture
def folder(tmp_path):
    for i in range(3):
        write_image(tmp_path / "he" / f"{i}.png", seed=i)
    for i in range(2):
        write_image(tmp_path / "ihc" / f"{i}.jpg", seed=10 + i)
    (tmp_path / "ihc" / "notes.txt").write_text("not an image")
    return tmp_path


def test_domains_come_from_subfolders(folder):
    dataset = ImageFolderDataset(folder, 32)
    assert len(dataset) == 5
    assert dataset.domain_names == ["he", "ihc"]
    assert dataset.domains == ["he"] * 3 + ["ihc"] * 2
    assert ImageFolderDataset(folder, 32, domains="none").domain_names == [folder.name]


def test_items_are_seeded_uint8_crops_with_augmentation(folder):
    dataset = ImageFolderDataset(folder, 32, skip_blank=False)
    item = dataset[(0, 123)]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.uint8
    assert torch.equal(item["image"], dataset[(0, 123)]["image"])  # same key, same crop
    crops = {dataset[(0, seed)]["image"].numpy().tobytes() for seed in range(20)}
    assert len(crops) > 10  # positions, flips and rotations vary with the seed
    gray = ImageFolderDataset(folder, 32, channels=1)[1]["image"]
    assert gray.shape == (1, 32, 32)


def test_blank_crops_are_skipped(tmp_path):
    write_image(tmp_path / "slide.png", size=(200, 40), white_fraction=0.6)

    def mostly_background(dataset) -> float:
        crops = torch.stack([dataset[(0, s)]["image"] for s in range(40)]).float()
        white = (crops.min(dim=1).values > 240).flatten(1).float().mean(dim=1)
        return float((white > 0.7).float().mean())

    keeping = mostly_background(ImageFolderDataset(tmp_path, 32, augment=False, skip_blank=False))
    skipping = mostly_background(ImageFolderDataset(tmp_path, 32, augment=False))
    assert keeping > 0.3 and skipping < 0.05


def test_clear_errors_for_bad_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        ImageFolderDataset(tmp_path / "empty", 32)
    small = write_image(tmp_path / "small" / "tiny.png", size=(24, 60))
    with pytest.raises(ValueError, match="smaller than the 32x32 crop") as info:
        ImageFolderDataset(tmp_path / "small", 32)
    assert str(small) in str(info.value) and "24x60" in str(info.value)
    assert len(ImageFolderDataset(tmp_path / "small", 32, scale=2.0)) == 1  # upscaled first


def test_an_image_smaller_than_the_crop_costs_only_itself(tmp_path, caplog):
    small = write_image(tmp_path / "mixed" / "tiny.png", size=(24, 60))
    write_image(tmp_path / "mixed" / "big.png", size=(40, 48))
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.train.data"):
        dataset = ImageFolderDataset(tmp_path / "mixed", 32)
    assert len(dataset) == 1 and [path for path, _ in dataset.skipped] == [small]
    assert "smaller than the 32x32 crop" in caplog.text and str(small) in caplog.text


def test_epoch_batches_are_seeded_sharded_and_resumable():
    batches = EpochBatches(5, 2, seed=3, samples_per_epoch=12)
    assert batches.batches_per_epoch == 6
    epoch = list(batches.epoch(0))
    assert epoch == list(EpochBatches(5, 2, seed=3, samples_per_epoch=12).epoch(0))
    assert list(batches.epoch(0, start_batch=4)) == epoch[4:]
    assert epoch != list(batches.epoch(1))
    counts = torch.bincount(torch.tensor([i for batch in epoch for i, _ in batch]), minlength=5)
    assert counts.min() >= 2  # 12 positions from full permutations of 5 items
    ranks = [list(EpochBatches(5, 2, seed=3, samples_per_epoch=12, rank=r, world_size=2).epoch(0)) for r in (0, 1)]
    assert len(ranks[0]) == 3
    global_order = [key for batch in epoch for key in batch]
    assert [k for b in range(3) for r in (0, 1) for k in ranks[r][b]] == global_order
    with pytest.raises(ValueError, match="cannot fill one batch"):
        EpochBatches(3, 4)


def test_style_pairing():
    domains = torch.tensor([0, 0, 1, 1, 2])
    assert pair_styles(domains, "roll").tolist() == [1, 2, 3, 4, 0]
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        index = pair_styles(domains, "other-domain", generator)
        assert (domains[index] != domains).all()
    assert pair_styles(torch.zeros(3, dtype=torch.long), "other-domain").tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="style pairing"):
        pair_styles(domains, "random")


def test_pairing_and_sampling_names_have_one_spelling():
    domains = torch.tensor([0, 0, 1, 1, 2])
    for spelling in ("other-domain", "other_domain"):
        index = pair_styles(domains, spelling, torch.Generator().manual_seed(0))
        assert (domains[index] != domains).all()
    same = pair_styles(domains, "same-domain", torch.Generator().manual_seed(0))
    assert torch.equal(same, pair_styles(domains, "same_domain", torch.Generator().manual_seed(0)))


@given(
    first=st.lists(st.integers(-(2**70), 2**70), min_size=1, max_size=5),
    second=st.lists(st.integers(-(2**70), 2**70), min_size=1, max_size=5),
)
def test_mixed_seeds_repeat_fit_a_generator_and_tell_inputs_apart(first, second):
    seed = mix_seed(*first)
    assert seed == mix_seed(*first) and 0 <= seed < 2**63
    torch.Generator().manual_seed(seed)  # a valid torch seed

    def words(values: list[int]) -> list[int]:
        return [v % 2**64 for v in values]  # what the hash sees

    if words(first) != words(second):
        assert mix_seed(*second) != seed
    for near in ([*first, 0], [v + 1 for v in first], [2**32 * v for v in first]):  # the known traps
        if words(near) != words(first):
            assert mix_seed(*near) != seed


def test_training_dataset_skips_and_counts_unreadable_files(tmp_path):
    from stylizing_vit_aug.train.data import ImageFolderDataset

    write_images(tmp_path / "he", 3)
    truncated = truncated_jpeg(tmp_path / "he" / "late.jpg")  # the header reads: fails in an epoch
    fake = tmp_path / "he" / "fake.png"
    fake.write_text("not an image")  # fails at the scan
    dataset = ImageFolderDataset(tmp_path, 32)
    assert len(dataset) == 4 and [p for p, _ in dataset.skipped] == [fake]
    items = [dataset[(i, 7)] for i in range(len(dataset))]  # never raises
    assert all(item["image"].shape == (3, 32, 32) for item in items)
    assert truncated in [p for p, _ in dataset.skipped] and len(dataset.skipped) == 2
    assert torch.equal(dataset[(3, 7)]["image"], items[3]["image"])  # the stand-in is seeded


@pytest.mark.parametrize("side", [20, 40])
def test_an_image_rewritten_after_the_listing_is_left_out_not_a_crash(tmp_path, side):
    """A file replaced by one of another size while a run trained crashed it with "random_ expects 'from' to be less
    than 'to'" where the new one was smaller than the crop (a probe): left out now, as an unreadable file is."""
    write_images(tmp_path / "he", 3, size=(64, 64))
    dataset = ImageFolderDataset(tmp_path, 32)
    changed = dataset.records[1].path
    write_image(changed, size=(side, side), seed=9)
    items = [dataset[(i, 7)] for i in range(len(dataset))]  # never raises
    assert all(item["image"].shape == (3, 32, 32) for item in items) and items[1]["index"] != 1
    ((path, reason),) = dataset.skipped
    assert path == changed and "changed since the folder was read" in reason and f"now {side}x{side}" in reason


def test_an_unreadable_image_is_warned_once_though_the_validation_crops_read_the_same_folder(tmp_path, caplog):
    write_images(tmp_path / "he", 3)
    (tmp_path / "he" / "text.png").write_text("not an image")
    with caplog.at_level("WARNING"):
        for augment in (True, False):  # the run's training data, then its validation crops
            dataset = ImageFolderDataset(tmp_path, 32, augment=augment)
            assert [path.name for path, _ in dataset.skipped] == ["text.png"]
    assert sum("text.png" in record.getMessage() for record in caplog.records) == 1


def test_images_beside_the_domain_folders_form_a_domain_named_after_the_data_folder(tmp_path):
    """As docs/fine-tuning.md says: the first-level subfolders are domains, and loose images one more."""
    write_images(tmp_path / "data" / "lab_a", 2)
    write_image(tmp_path / "data" / "loose.png", seed=9)
    dataset = ImageFolderDataset(tmp_path / "data", 32)
    assert sorted(dataset.domain_names) == ["data", "lab_a"]


def test_loose_images_of_a_data_folder_given_as_dot_are_named_after_the_folder(tmp_path, monkeypatch):
    write_images(tmp_path / "slides" / "lab_a", 2)
    write_image(tmp_path / "slides" / "loose.png", seed=9)
    monkeypatch.chdir(tmp_path / "slides")
    for root in (".", "lab_a/.."):  # named "" and ".." before
        assert sorted(ImageFolderDataset(root, 32).domain_names) == ["lab_a", "slides"]


@pytest.mark.skipif(sys.platform.startswith("win"), reason="symlinks need privileges on Windows")
def test_a_symlinked_image_is_trained_on_once_in_the_domain_of_the_file_it_links_to(tmp_path):
    write_images(tmp_path / "A", 2)
    write_images(tmp_path / "B", 1, seed=5)
    (tmp_path / "C").mkdir()
    (tmp_path / "C" / "link_to_A.png").symlink_to(tmp_path / "A" / "img00.png")
    dataset = ImageFolderDataset(tmp_path, 32)
    assert dataset.domains == ["A", "A", "B"] and dataset.domain_names == ["A", "B"]


def test_validation_crops_of_the_training_folder_read_it_once_and_warn_once_per_run(tmp_path, caplog, monkeypatch):
    """A run without --val-dir listed its folder and read every header twice (the training data,
    then the validation crops), saying each left-out image twice; the crops now come from the
    training records (the same crops as a dataset built for them), and a second run in the same
    process (a notebook, a sweep) is told again."""
    from stylizing_vit_aug.train import data

    write_images(tmp_path / "he", 2)
    write_images(tmp_path / "ihc", 2, seed=5)
    small = write_image(tmp_path / "he" / "tiny.png", size=(24, 60))
    headers, image_size = [], data.image_size
    monkeypatch.setattr(data, "image_size", lambda path: headers.append(path) or image_size(path))
    with caplog.at_level("WARNING"):
        for _ in range(2):  # two runs
            crops = ImageFolderDataset(tmp_path, 32, augment=True, seed=3).tissue_crops()
            assert [path for path, _ in crops.skipped] == [small]
    assert len(headers) == 2 * 5  # each file's header once per run
    assert sum(str(small) in record.getMessage() for record in caplog.records) == 2
    built = ImageFolderDataset(tmp_path, 32, augment=False, seed=3, **TISSUE_CROPS)
    for key in [(i, mix_seed(9, i)) for i in range(len(built))]:
        ours, theirs = crops[key], built[key]
        assert torch.equal(ours["image"], theirs["image"]) and ours["domain"] == theirs["domain"]


def test_a_domain_subfolder_without_an_image_is_warned_about_by_name(tmp_path, caplog):
    write_images(tmp_path / "data" / "he", 2)
    write_image(tmp_path / "data" / "ihc" / "tiny.png", size=(24, 24))  # left out, but said so by name already
    (tmp_path / "data" / "empty_lab").mkdir()
    (tmp_path / "data" / "notes_only").mkdir()
    (tmp_path / "data" / "notes_only" / "readme.txt").write_text("no image")
    config = config_from_args(parse(str(tmp_path / "data"), "-o", str(tmp_path / "run"), *options()))
    with caplog.at_level("WARNING"):
        say_data_doubts(config, ImageFolderDataset(tmp_path / "data", 32), None)
    warnings = [record.getMessage() for record in caplog.records if "empty_lab" in record.getMessage()]
    assert len(warnings) == 1 and "notes_only" in warnings[0] and "ihc" not in warnings[0]


COLOURS = {"blue": (60, 60, 200), "red": (200, 60, 60)}


def _coloured_domains(root, count: int = 3) -> None:
    """Two domains whose every crop tells its domain: red and blue tissue-like noise."""
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        for i in range(count):
            pixels = np.clip(np.array(colour) + rng.integers(-30, 30, (48, 56, 3)), 0, 255).astype(np.uint8)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def _colour(crop: torch.Tensor) -> str:
    return "red" if crop[0].float().mean() > crop[2].float().mean() else "blue"


def test_real_styles_are_of_another_domain_whatever_the_batch_holds(tmp_path):
    """They came from the micro-batch: one that held one domain gave styles of that domain."""
    _coloured_domains(tmp_path)
    truncated_jpeg(tmp_path / "blue" / "late.jpg")  # unreadable once read: never replaced by a red image
    dataset = ImageFolderDataset(tmp_path, 32)
    items = RealStyleItems(dataset)
    reds = [i for i in range(len(dataset)) if dataset.domains[i] == "red"]
    batch = collate_items([items[(i, seed)] for i in reds for seed in range(8)])  # a batch of one domain
    assert batch["real_rows"].tolist() == list(range(len(reds) * 8))
    assert {_colour(crop) for crop in batch["real"]} == {"blue"}
    for i in range(len(dataset)):  # the unreadable image's stand-in is red: its real style, blue
        item = items[(i, 3)]
        assert _colour(item["real"]) != dataset.domain_names[item["domain"]] == _colour(item["image"])
        assert torch.equal(items[(i, 3)]["real"], item["real"])  # seeded: a resume draws the same
    assert len({items[(reds[0], seed)]["real"].float().sum().item() for seed in range(8)}) > 1


def test_a_row_without_a_readable_image_of_another_domain_is_left_out_not_given_its_own(tmp_path):
    _coloured_domains(tmp_path)
    shutil.rmtree(tmp_path / "blue")
    truncated_jpeg(tmp_path / "green" / "late.jpg")  # another domain, unreadable once read
    for root in (tmp_path / "red", tmp_path):  # one domain; two, the other unreadable
        dataset = ImageFolderDataset(root, 32)
        batch = collate_items([RealStyleItems(dataset)[(i, 0)] for i in range(len(dataset))])
        assert batch["real_rows"].tolist() == [] and "real" not in batch


def test_a_run_whose_micro_batches_hold_one_domain_trains_on_real_styles_of_the_other(tmp_path, monkeypatch):
    """Batches of one sample hold one domain: the other-domain terms took the sample itself."""
    _coloured_domains(tmp_path / "data")
    seen: list[TrainBatch] = []
    original = Trainer._batch

    def spy(self, batch, generator):
        seen.append(original(self, batch, generator))
        return seen[-1]

    monkeypatch.setattr(Trainer, "_batch", spy)
    run = tmp_path / "run"
    args = [str(tmp_path / "data"), "-o", str(run), "--init", "tiny", *ARCH,
            *options(batch_size="1", samples_per_epoch="6", epochs="1", validate_every="0"), "--no-export",
            "--objective", "stain", "--pairing", "same-domain", "--stain-weights", "colour=1",
            "--mean", "0.5", "0.5", "0.5", "--std", "0.25", "0.25", "0.25"]  # the same per channel: colours keep
    assert run_train(parse(*args)) == 0
    assert len(seen) == 6 and {_colour(batch.content[0]) for batch in seen} == set(COLOURS)
    for batch in seen:
        assert batch.real_rows.tolist() == [0] and _colour(batch.real[0]) != _colour(batch.content[0])
    assert [record["no_real_style"] for record in read_train_log(run)] == [0] * 6


@given(st.integers(1, 300), st.integers(1, 300))
def test_spread_indices_reach_every_part_of_the_list(count, size):
    """The validation crops and the measured statistics took images 0..count-1 of a sorted list:
    with more images than that, only the first domains. Spread, they reach its end too."""
    picked = spread_indices(count, size)
    assert len(picked) == count and all(0 <= k < size for k in picked)
    if count >= size:
        assert set(picked) == set(range(size))
    else:
        assert len(set(picked)) == count and picked[0] == 0 and picked[-1] >= size - size // count - 1


def test_validation_crops_and_measured_statistics_come_from_every_domain(tmp_path):
    """Two domains of 12 images each, 4 validation crops: all four came from the first domain (and
    the statistics of a from-scratch run from its images alone)."""
    for domain, seed in (("a_lab", 0), ("b_lab", 100)):
        for i in range(12):
            write_image(tmp_path / "data" / domain / f"{i:02d}.png", seed=seed + i)
    argv = [str(tmp_path / "data"), "-o", str(tmp_path / "run"), "--init", "tiny", *ARCH,
            *options(val_samples="4")]
    trainer = Trainer(config_from_args(parse(*argv)))
    assert set(trainer.val_crops["domain"].tolist()) == {0, 1}
    picked = trainer.dataset.domain_ids[spread_indices(64, len(trainer.dataset))]  # estimate_stats' images
    assert set(picked.tolist()) == {0, 1}
