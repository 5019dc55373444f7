"""Validation crops with nothing to see (a fully transparent image, or one of blank glass) are
warned about, naming the folder and the share of glass crops, instead of validating on white in
silence; a training or validation image that holds no tissue at all is named."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from helpers import ARCH, options, parse, write_image
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.train.trainer import Trainer


def transparent(path, size=48):
    """An RGBA image of tissue-like colours under alpha 0 everywhere: white glass once read."""
    pixels = np.random.default_rng(0).integers(40, 200, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.dstack([pixels, np.zeros((size, size), np.uint8)]), "RGBA").save(path)
    return path


def glass(path, size=48):
    """Blank slide glass: near-white with a little noise."""
    pixels = np.random.default_rng(1).integers(236, 244, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def tissue(tmp_path_factory):
    root = tmp_path_factory.mktemp("tissue")
    for i in range(2):
        write_image(root / "a" / f"{i}.png", size=(48, 48), seed=i)
    return root


def trainer(tmp_path, data, *more):
    return Trainer(config_from_args(parse(str(data), "-o", str(tmp_path / "run"), *ARCH, *options(), *more)))


@pytest.mark.parametrize("blank", [transparent, glass])
def test_a_validation_folder_of_glass_is_warned_naming_it_and_its_share(tissue, tmp_path, caplog, blank):
    empty = blank(tmp_path / "val" / "v" / "x.png").parent.parent
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train"):
        trainer(tmp_path, tissue, "--val-dir", str(empty))
    said = [r.getMessage() for r in caplog.records if "validation crops" in r.getMessage()]
    assert len(said) == 1 and str(empty) in said[0] and "(100%)" in said[0] and "--val-dir" in said[0]
    assert any("holds no tissue" in r.getMessage() and "x.png" in r.getMessage() for r in caplog.records)


def test_validation_crops_of_tissue_say_nothing(tissue, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train"):
        trainer(tmp_path, tissue, "--val-dir", str(tissue))
    assert not [r for r in caplog.records if "validation crops" in r.getMessage() or "no tissue" in r.getMessage()]


def test_a_training_image_without_tissue_is_named(tissue, tmp_path, caplog):
    data = tmp_path / "data"
    for i in range(2):
        write_image(data / "a" / f"{i}.png", size=(48, 48), seed=i)
    empty = transparent(data / "a" / "empty.png")
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train"):
        trainer(tmp_path, data).fit()
    named = [r.getMessage() for r in caplog.records if "holds no tissue" in r.getMessage()]
    assert named and all(str(empty) in message for message in named)


def striped(path, level, size=48):
    """Four columns in five of background at ``level`` (0-255, a little noise), one of tissue colours: no crop is flat,
    and every one is about 80% background."""
    rng = np.random.default_rng(2)
    pixels = rng.integers(60, 200, (size, size, 3)).astype(np.uint8)
    background = np.clip(level + rng.integers(-4, 5, (size, size, 3)), 0, 255).astype(np.uint8)
    pixels[:, np.arange(size) % 5 != 0] = background[:, np.arange(size) % 5 != 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize(("level", "background", "warned"), [
    (6, "dark", True), (6, "keep", False), (245, "keep", True), (245, "dark", False), (245, "style", False),
])
def test_the_validation_glass_warning_reads_background_as_the_background_option_does(tissue, tmp_path, caplog, level,
                                                                                    background, warned):
    """Under --background dark it read white glass as background and black as tissue: a validation folder of
    vignette was not warned about, and one of tissue on white glass was."""
    folder = striped(tmp_path / "val" / "v" / "x.png", level).parent.parent
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train"):
        trainer(tmp_path, tissue, "--val-dir", str(folder), "--background", background)
    said = [r.getMessage() for r in caplog.records if "validation crops" in r.getMessage()]
    assert len(said) == warned
    if warned:
        assert str(folder) in said[0] and f"--background {background}" in said[0] and "--val-dir" in said[0]


@pytest.mark.parametrize(("level", "background", "said"), [
    (0, "keep", "nearly one flat colour throughout"),  # a black image is no glass
    (255, "dark", "nearly one flat colour throughout"),  # a white one is no dark background
    ("noise", "keep", "nearly one flat colour throughout"),  # dark noise (12-bit data read as 16-bit): not one colour
    (255, "keep", "glass or transparent throughout"),
    (0, "dark", "dark background throughout"),
])
def test_an_image_without_tissue_is_said_to_be_what_it_is(tmp_path, caplog, level, background, said):
    """A black image under --background keep was called "glass or transparent throughout", a white one under dark
    "dark background throughout": the setting's words, not the image's (a hostile probe)."""
    data = tmp_path / "data"
    for i in range(2):
        write_image(data / "a" / f"{i}.png", size=(48, 48), seed=i)
    flat = data / "a" / "flat.png"
    pixels = np.random.default_rng(0).integers(0, 9, (48, 48, 3)) if level == "noise" else np.full((48, 48, 3), level)
    Image.fromarray(pixels.astype(np.uint8)).save(flat)
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train"):
        trainer(tmp_path, data, "--background", background).fit()
    named = [r.getMessage() for r in caplog.records if "holds no tissue" in r.getMessage()]
    assert named and all(str(flat) in message and said in message for message in named)
