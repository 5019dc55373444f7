"""Issue 11, one test per finding: no silent corruption, one bad file never sinks a run, every
file-reading error names the file, statistics in the wrong units are refused."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

import stylizing_vit_aug as sva
from conftest import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug import cli, hub, images
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.images import ImageReadError, read_image
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.tta import StyleTTA

UNITS_HINT = "0–1 units, e.g. ImageNet's (0.485, 0.456, 0.406)"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("ckpt") / "small"
    hub.save_pretrained(make_small_model(), directory, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    return str(directory)


def _rgb(seed: int, size=(40, 48)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _good_pngs(folder: Path, count: int, size=(40, 48)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img{i:02d}.png" for i in range(count)]
    for i, path in enumerate(paths):
        Image.fromarray(_rgb(i, size)).save(path)
    return paths


def _truncated_jpeg(path: Path, size=(40, 48)) -> Path:
    """A JPEG cut in half: its header reads, its pixels do not (PIL: 'image file is truncated')."""
    buffer = io.BytesIO()
    Image.fromarray(_rgb(99, size)).save(buffer, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def _log(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# -- 1. one reader: 8/16-bit, grayscale/RGB, EXIF orientation; 16-bit written back as 16-bit ----
def test_one_image_reader_and_one_extension_list_for_the_whole_package():
    from stylizing_vit_aug.bank import IMAGE_EXTENSIONS as bank_extensions
    from stylizing_vit_aug.train import data

    assert data.IMAGE_EXTENSIONS is images.IMAGE_EXTENSIONS is bank_extensions
    assert not hasattr(data, "_scan") or "os.walk" not in Path(data.__file__).read_text()


def test_the_reader_keeps_16_bits_and_names_unreadable_files(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    gray16 = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g.png")
    Image.fromarray(gray16).save(tmp_path / "g.tif")
    cv2.imwrite(str(tmp_path / "c.png"), rgb16[..., ::-1])
    cv2.imwrite(str(tmp_path / "c.tif"), rgb16[..., ::-1])
    for name, expected in (("g.png", gray16), ("g.tif", gray16), ("c.png", rgb16), ("c.tif", rgb16)):
        pixels = read_image(tmp_path / name)
        assert pixels.dtype == np.uint16 and np.array_equal(pixels, expected), name
    bad = _truncated_jpeg(tmp_path / "bad.jpg")
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_reader_applies_exif_orientation(tmp_path, orientation):
    pixels = _rgb(orientation, (12, 20))
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    assert np.array_equal(read_image(tmp_path / "o.png"), expected)
    assert images.image_size(tmp_path / "o.png") == expected.shape[:2]


def test_pil_16_bit_input_is_kept_and_32_bit_advice_is_not_destructive(small_stylizer):
    gray16 = np.random.default_rng(1).integers(0, 65536, (24, 28), dtype=np.uint16)
    image = Image.fromarray(gray16)
    assert image.mode == "I;16"
    out = small_stylizer(image, image, strength=1.0)
    assert out.mode == "I;16" and out.size == image.size
    assert np.array_equal(np.asarray(small_stylizer(image, image, strength=0.0)), gray16)
    with pytest.raises(ValueError) as info:
        small_stylizer(Image.fromarray(gray16.astype(np.int32)), image)  # mode "I"
    assert "convert('RGB')" not in str(info.value) and "uint16" in str(info.value)


def test_stylize_keeps_the_bit_depth_and_strength_0_is_bit_identical(tmp_path, checkpoint):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(2)
    folder = tmp_path / "in"
    folder.mkdir()
    gray16 = rng.integers(0, 65536, (40, 48), dtype=np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")
    Image.fromarray(gray16).save(folder / "gray16.tif")
    cv2.imwrite(str(folder / "rgb16.png"), rng.integers(0, 65536, (40, 48, 3), dtype=np.uint16))
    cv2.imwrite(str(folder / "rgb16.tif"), rng.integers(0, 65536, (40, 48, 3), dtype=np.uint16))
    Image.fromarray(_rgb(3)).save(folder / "rgb8.png")
    Image.fromarray(_rgb(4)[..., 0]).save(folder / "gray8.tif")
    style = _good_pngs(tmp_path / "style", 1)[0]
    common = ["--style", str(style), "--checkpoint", checkpoint]
    assert cli.main(["stylize", str(folder), "-o", str(tmp_path / "same"), "--strength", "0", *common]) == 0
    for path in folder.iterdir():
        ours = cv2.imread(str(tmp_path / "same" / path.name), cv2.IMREAD_UNCHANGED)
        theirs = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), path.name
    with Image.open(tmp_path / "same" / "gray16.png") as written:
        assert written.mode == "I;16"

    assert cli.main(["stylize", str(folder), "-o", str(tmp_path / "styled"), *common]) == 0
    for name in ("gray16.png", "gray16.tif", "rgb16.png", "rgb16.tif"):
        out = cv2.imread(str(tmp_path / "styled" / name), cv2.IMREAD_UNCHANGED)
        assert out.dtype == np.uint16, name
        assert float((out == 65535).mean()) < 0.05, name  # not saturated (it was 99.6 %)


# -- 2. one unreadable file never sinks a run -------------------------------------------------
def test_stylize_skips_an_unreadable_file_writes_the_good_ones_and_says_so(tmp_path, checkpoint, capsys):
    folder = tmp_path / "in"
    good = _good_pngs(folder, 6)
    bad = _truncated_jpeg(folder / "broken.jpg")
    style = _good_pngs(tmp_path / "style", 1)[0]
    out = tmp_path / "out"
    argv = ["stylize", str(folder), "-o", str(out), "--style", str(style), "--batch-size", "8",
            "--checkpoint", checkpoint]
    assert cli.main(argv) == cli.EXIT_SKIPPED
    assert sorted(p.name for p in out.glob("*.png")) == [p.name for p in good]
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "truncated" in err
    errors = [row for row in _log(out / "stylize_log.csv") if row["error"]]
    assert [row["input"] for row in errors] == ["broken.jpg"] and "truncated" in errors[0]["error"]

    assert cli.main(argv) == cli.EXIT_SKIPPED  # a rerun retries only the bad file
    rows = _log(out / "stylize_log.csv")
    assert sorted(r["output"] for r in rows if not r["error"]) == [p.name for p in good]
    assert len([r for r in rows if r["error"]]) == 1

    assert cli.main([*argv[:3], str(tmp_path / "stopped"), *argv[4:], "--on-error", "stop"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_bank_build_and_from_folder_skip_unreadable_files(tmp_path, checkpoint, small_stylizer, capsys):
    styles = tmp_path / "styles"
    _good_pngs(styles / "lab_a", 2)
    _good_pngs(styles / "lab_b", 1)
    bad = _truncated_jpeg(styles / "lab_b" / "broken.jpg")
    bank = StyleBank.from_folder(styles, small_stylizer)
    assert len(bank) == 3 and bank.domains == ["lab_a", "lab_a", "lab_b"]
    assert [path for path, _ in bank.skipped] == [bad] and "truncated" in bank.skipped[0][1]
    with pytest.raises(ImageReadError, match="truncated") as info:
        StyleBank.from_folder(styles, small_stylizer, on_error="stop")
    assert str(bad) in str(info.value)
    with pytest.raises(ValueError, match="on_error"):
        StyleBank.from_folder(styles, small_stylizer, on_error="ignore")

    out = tmp_path / "bank.safetensors"
    argv = ["bank", "build", str(styles), "-o", str(out), "--checkpoint", checkpoint]
    assert cli.main(argv) == cli.EXIT_SKIPPED
    assert len(StyleBank.load(out, small_stylizer, on_mismatch="reencode")) == 3
    assert str(bad) in capsys.readouterr().err
    assert cli.main([*argv, "--on-error", "stop", "-o", str(tmp_path / "stopped.safetensors")]) == 2
    assert str(bad) in capsys.readouterr().err and not (tmp_path / "stopped.safetensors").exists()


def test_training_dataset_skips_and_counts_unreadable_files(tmp_path):
    from stylizing_vit_aug.train.data import ImageFolderDataset

    _good_pngs(tmp_path / "he", 3)
    truncated = _truncated_jpeg(tmp_path / "he" / "late.jpg")  # the header reads: fails in an epoch
    fake = tmp_path / "he" / "fake.png"
    fake.write_text("not an image")  # fails at the scan
    dataset = ImageFolderDataset(tmp_path, 32)
    assert len(dataset) == 4 and [p for p, _ in dataset.skipped] == [fake]
    items = [dataset[(i, 7)] for i in range(len(dataset))]  # never raises
    assert all(item["image"].shape == (3, 32, 32) for item in items)
    assert truncated in [p for p, _ in dataset.skipped] and len(dataset.skipped) == 2
    assert torch.equal(dataset[(3, 7)]["image"], items[3]["image"])  # the stand-in is seeded


# -- 3. every file-reading error names the file; the CLI exits 2 ------------------------------
def test_a_truncated_style_image_is_named_and_is_a_user_error(tmp_path, checkpoint, small_stylizer, capsys):
    good = _good_pngs(tmp_path / "styles", 2)
    bad = _truncated_jpeg(tmp_path / "styles" / "broken.jpg")
    with pytest.raises(ImageReadError) as info:
        StyleBank.from_images([*good, bad], small_stylizer)
    assert str(bad) in str(info.value)
    inputs = _good_pngs(tmp_path / "in", 3)
    argv = ["stylize", str(inputs[0].parent), "--styles-dir", str(tmp_path / "styles"), "--checkpoint", checkpoint]
    assert cli.main([*argv, "-o", str(tmp_path / "stop"), "--on-error", "stop"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "truncated" in err
    assert cli.main([*argv, "-o", str(tmp_path / "skip")]) == cli.EXIT_SKIPPED
    assert len(list((tmp_path / "skip").glob("*.png"))) == 3
    rows = _log(tmp_path / "skip" / "stylize_log.csv")
    assert all(row["style"] != str(bad) for row in rows if not row["error"])
    assert [row["style"] for row in rows if row["error"]] == [str(bad)]


# -- 4. statistics in the wrong units ----------------------------------------------------------
BAD_STATS = [
    ((127.0,) * 3, (60.0,) * 3),  # 0-255 units
    ((0.5, 0.5), (0.2, 0.2)),  # two values for three channels
    ((0.5,) * 3, (0.0,) * 3),
    ((float("nan"),) * 3, (0.2,) * 3),
    ((0.5,) * 3, (1.5,) * 3),
    ((-0.1,) * 3, (0.2,) * 3),
    (("a", "b", "c"), (0.2,) * 3),
]


def _front_ends(stylizer, bank, checkpoint):
    return {
        "Stylizer": lambda m, s: sva.Stylizer(make_small_model(), m, s, device="cpu"),
        "load_stylizer": lambda m, s: sva.load_stylizer(checkpoint, mean=m, std=s, device="cpu"),
        "StylizeTransform": lambda m, s: sva.StylizeTransform(stylizer, bank, mean=m, std=s),
        "BatchStylize": lambda m, s: BatchStylize(stylizer, bank, mean=m, std=s),
        "StyleTTA": lambda m, s: StyleTTA(torch.nn.Identity(), stylizer, bank, input_mean=m, input_std=s),
    }


@pytest.mark.parametrize("mean, std", BAD_STATS)
def test_statistics_in_wrong_units_are_refused_everywhere(small_stylizer, bank, checkpoint, mean, std):
    for name, make in _front_ends(small_stylizer, bank, checkpoint).items():
        with pytest.raises(ValueError) as info:
            make(mean, std)
        assert UNITS_HINT in str(info.value), name


def test_statistics_for_3_channels_on_1_channel_images_are_an_error(small_stylizer, bank):
    gray = torch.rand(2, 1, 32, 32)
    stats = dict(mean=(0.5, 0.4, 0.6), std=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="3 values.*1 channel"):
        BatchStylize(small_stylizer, bank, p=1.0, **stats)(gray)
    with pytest.raises(ValueError, match="3 values.*1 channel"):
        sva.StylizeTransform(small_stylizer, bank, p=1.0, **stats)(gray[0])


def test_a_bad_mean_in_config_json_names_the_file(tmp_path, small_stylizer):
    directory = small_stylizer.save_pretrained(tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    config["mean"] = [127, 127, 127]
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(hub.CheckpointError) as info:
        sva.load_stylizer(directory)
    assert str(directory / "config.json") in str(info.value) and UNITS_HINT in str(info.value)
    config["mean"] = "0.5"
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(hub.CheckpointError, match="config.json"):
        sva.load_stylizer(directory)


# -- 5. a batch of one is not styled by itself -------------------------------------------------
def test_batch_of_one_with_in_batch_styles_is_left_alone_and_says_why(small_stylizer):
    image = torch.rand(1, 3, 32, 32)
    out, info = BatchStylize(small_stylizer, p=1.0)(image, return_info=True)
    assert torch.equal(out, image)
    assert info.applied.tolist() == [False] and info.style_index.tolist() == [-1]
    assert info.no_style.tolist() == [True]
    two = torch.rand(2, 3, 32, 32)
    _, info = BatchStylize(small_stylizer, p=1.0)(two, return_info=True)
    assert info.applied.tolist() == [True, True] and info.no_style.tolist() == [False, False]


# -- 6. a missing local path is not a Hub id ---------------------------------------------------
@pytest.mark.parametrize(
    "source", ["./runs/absent", "/nonexistent/ckpt", "~/surely-not-here-sva", "runs/a/b", "absent.safetensors"]
)
def test_a_missing_path_fails_fast_without_asking_the_hub(source, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the Hub was asked for a local path")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", forbidden)
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        sva.load_stylizer(source)
    assert time.perf_counter() - start < 2


def test_an_owner_name_neither_local_nor_cached_says_both(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("someone/absent-model", cache_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("'someone/absent-model': no local file or directory")
    assert "Hugging Face" in message


# -- 7. minor ----------------------------------------------------------------------------------
@pytest.mark.parametrize("strength", ["0.5", None, True, [0.5, "x"]])
def test_a_strength_of_the_wrong_type_is_a_clear_error(small_stylizer, bank, strength):
    image = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="strength"):
        small_stylizer(image, image, strength=strength)
    with pytest.raises(ValueError, match="strength"):
        StyleTTA(torch.nn.Identity(), small_stylizer, bank, strength=strength)


def test_the_hint_for_values_just_above_1_does_not_mention_negatives(small_stylizer):
    image = torch.full((3, 16, 16), 1.01)
    with pytest.raises(ValueError) as info:
        small_stylizer(image, image)
    assert "negative" not in str(info.value) and "1.01" in str(info.value)


def test_non_finite_weights_are_refused_at_load_naming_the_tensors(tmp_path, small_stylizer):
    from safetensors.torch import load_file, save_file

    directory = small_stylizer.save_pretrained(tmp_path / "ckpt")
    state = load_file(str(directory / "model.safetensors"))
    state["encoder.cls_token"][..., 0] = float("nan")
    state["encoder.pos_embed"][..., 1] = float("inf")
    save_file(state, str(directory / "model.safetensors"))
    with pytest.raises(hub.CorruptCheckpoint) as info:
        sva.load_stylizer(directory)
    assert "encoder.cls_token" in str(info.value) and "encoder.pos_embed" in str(info.value)
