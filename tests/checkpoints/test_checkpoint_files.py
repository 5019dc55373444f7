"""Checkpoint folders and files on disk: a saved folder loads back to the same outputs, half
precision, bare safetensors files (architecture inferred), wrapper prefixes, missing and
unexpected keys and wrong shapes named, pickles and truncated or non-finite weights refused,
config.json's statistics checked, a failed save that leaves the previous folder intact, and the
model card.

Loading through the Hub cache and the one save path: tests/test_hub.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import huggingface_hub
import pytest
import torch
import yaml
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, UNITS_HINT, assert_same_weights, make_small_model, state_of
from stylizing_vit_aug import hub
from stylizing_vit_aug.checkpoints import (
    CorruptCheckpoint,
    StateDictMismatch,
    UnsafeCheckpointFormat,
    infer_config,
    read_state_dict,
)

REVISION = "a" * 40


# -- our own files -------------------------------------------------------------------------------
def test_save_load_round_trip_gives_identical_outputs(tmp_path, histology_crops):
    stylizer = sva.Stylizer(make_small_model(5), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    directory = stylizer.save_pretrained(tmp_path / "ckpt")
    assert directory == tmp_path / "ckpt"
    assert sorted(p.name for p in Path(directory).iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["architecture"] == stylizer.config.to_dict()
    assert config["mean"] == list(CAMELYON_MEAN) and config["std"] == list(CAMELYON_STD)
    assert config["library"] == "stylizing-vit-aug" and config["format_version"] == 1

    loaded = sva.load_stylizer(tmp_path / "ckpt", device="cpu", dtype=torch.float32)
    images, styles = histology_crops[:2], histology_crops[2]
    assert all((a == b).all() for a, b in zip(stylizer(images, styles), loaded(images, styles)))
    assert loaded.source == str((tmp_path / "ckpt").resolve())


def test_half_precision_save_is_smaller_and_close(tmp_path):
    model = make_small_model(6)
    hub.save_pretrained(model, tmp_path / "full", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    hub.save_pretrained(model, tmp_path / "half", mean=CAMELYON_MEAN, std=CAMELYON_STD, half=True)
    full_size = (tmp_path / "full" / "model.safetensors").stat().st_size
    half_size = (tmp_path / "half" / "model.safetensors").stat().st_size
    assert half_size < 0.6 * full_size
    assert read_state_dict(tmp_path / "half" / "model.safetensors")["encoder.pos_embed"].dtype == torch.float16
    loaded = sva.load_stylizer(tmp_path / "half", device="cpu")
    assert loaded.model.encoder.pos_embed.dtype == torch.float32
    for key, tensor in model.state_dict().items():
        assert torch.allclose(loaded.model.state_dict()[key], tensor, atol=1e-2, rtol=1e-3), key


def test_bare_model_needs_statistics_to_save(tmp_path):
    with pytest.raises(hub.MissingStatistics):
        hub.save_pretrained(make_small_model(), tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        dict(embed_dim=192, num_heads=3, depth=1, mlp_ratio=2.0),  # a preset width: its heads
        dict(embed_dim=128, num_heads=2, in_chans=1, img_size=48),  # 64-wide heads rule
    ],
)
def test_bare_safetensors_infers_the_architecture(tmp_path, overrides):
    model = make_small_model(7, **overrides)
    save_file(state_of(model), str(tmp_path / "w.safetensors"))
    mean, std = (0.5,) * model.config.in_chans, (0.25,) * model.config.in_chans
    loaded = sva.load_stylizer(tmp_path / "w.safetensors", mean=mean, std=std, device="cpu")
    assert loaded.config == model.config
    assert_same_weights(loaded.model, state_of(model))


def test_bare_safetensors_errors(tmp_path):
    model = make_small_model(8)  # embed_dim 48, 3 heads: the head count is not in the shapes
    save_file(state_of(model), str(tmp_path / "w.safetensors"))
    with pytest.raises(hub.MissingStatistics, match="bare weights file"):
        sva.load_stylizer(tmp_path / "w.safetensors")
    with pytest.raises(StateDictMismatch, match="num_heads"):
        sva.load_stylizer(tmp_path / "w.safetensors", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert infer_config(state_of(model), num_heads=3) == model.config
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        sva.load_stylizer(tmp_path / "missing.safetensors", mean=CAMELYON_MEAN, std=CAMELYON_STD)


@pytest.mark.parametrize("prefix", ["module.", "model.", "state_dict.", "state_dict.model.", "module._orig_mod."])
def test_wrapper_prefixes_and_vgg_keys_are_accepted(tmp_path, prefix):
    model = make_small_model(9)
    state = {prefix + k: v for k, v in state_of(model).items()}
    state[prefix + "vgg_encoder.features.0.weight"] = torch.randn(64, 3, 3, 3)
    if prefix.startswith("state_dict."):
        state["optimizer.exp_avg.0"] = torch.zeros(3)  # a training file's neighbour of the state dict
    save_file(state, str(tmp_path / "model.safetensors"))
    hub.save_pretrained(model, tmp_path / "dir", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    os.replace(tmp_path / "model.safetensors", tmp_path / "dir" / "model.safetensors")
    loaded = sva.load_stylizer(tmp_path / "dir", device="cpu")
    assert_same_weights(loaded.model, state_of(model))


def save_dir_with_state(tmp_path: Path, state: dict, config_edit=None) -> Path:
    directory = hub.save_pretrained(make_small_model(10), tmp_path / "dir", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    save_file(state, str(directory / "model.safetensors"))
    if config_edit:
        config = json.loads((directory / "config.json").read_text())
        config_edit(config)
        (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = state_of(make_small_model(10))
    del state["bottleneck.fc1.bias"]
    state["encoder.extra_token"] = torch.zeros(1, 1, 48)
    directory = save_dir_with_state(tmp_path, state)
    with pytest.raises(StateDictMismatch) as info:
        sva.load_stylizer(directory)
    message = str(info.value)
    assert "missing keys (1): bottleneck.fc1.bias" in message
    assert "unexpected keys (1): encoder.extra_token" in message


def test_wrong_shapes_are_named_with_expected_and_got(tmp_path):
    directory = save_dir_with_state(
        tmp_path, state_of(make_small_model(10)),
        config_edit=lambda c: c["architecture"].update(img_size=64),
    )
    with pytest.raises(StateDictMismatch) as info:
        sva.load_stylizer(directory)
    assert "encoder.pos_embed (expected (1, 65, 48), got (1, 17, 48))" in str(info.value)


def test_pickled_checkpoints_are_refused_without_unpickling(tmp_path, monkeypatch):
    torch.save(state_of(make_small_model()), tmp_path / "model.pth")
    os.link(tmp_path / "model.pth", tmp_path / "disguised.safetensors")

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load must never run on a checkpoint")

    monkeypatch.setattr(torch, "load", forbidden)
    for name in ("model.pth", "missing.bin", "also.pt", "disguised.safetensors"):
        with pytest.raises(UnsafeCheckpointFormat, match="arbitrary code") as info:
            sva.load_stylizer(tmp_path / name, mean=CAMELYON_MEAN, std=CAMELYON_STD)
        assert "safetensors" in str(info.value) and name in str(info.value)


def test_truncated_safetensors_is_a_clear_error(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(state_of(make_small_model()), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpoint, match="truncated") as info:
        sva.load_stylizer(path, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert str(path) in str(info.value)


def test_foreign_config_json_falls_back_to_inference(tmp_path):
    model = make_small_model(11, embed_dim=128, num_heads=2)
    (tmp_path / "official").mkdir()
    save_file(state_of(model), str(tmp_path / "official" / "model.safetensors"))
    (tmp_path / "official" / "config.json").write_text(json.dumps({"encoder_embed_dim": 128}))
    with pytest.raises(hub.MissingStatistics):
        sva.load_stylizer(tmp_path / "official")
    loaded = sva.load_stylizer(tmp_path / "official", mean=CAMELYON_MEAN, std=CAMELYON_STD, device="cpu")
    assert loaded.config == model.config


# -- atomic saving and the model card ------------------------------------------------------------
def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    first = make_small_model(12)
    target = hub.save_pretrained(first, tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    (target / "train_log.txt").write_text("epoch 1")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    import safetensors.torch

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half-written")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        hub.save_pretrained(make_small_model(13), target, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary leftovers
    assert_same_weights(sva.load_stylizer(target, device="cpu").model, state_of(first))

    monkeypatch.undo()
    second = make_small_model(13)
    hub.save_pretrained(second, target, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert_same_weights(sva.load_stylizer(target, device="cpu").model, state_of(second))
    assert (target / "train_log.txt").read_text() == "epoch 1"  # other files are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_model_card_front_matter_and_provenance(tmp_path, small_stylizer):
    small_stylizer.source, small_stylizer.revision = "sdoerrich97/stylizing_vit_tiny_epistr", REVISION
    directory = hub.save_pretrained(
        small_stylizer, tmp_path / "ft", base_model="sdoerrich97/stylizing_vit_tiny_epistr",
        training={"epochs": 3, "lr": torch.tensor(1e-3)}, metrics={"ssim": 0.91},
    )
    card = (directory / "README.md").read_text()
    meta = front_matter(card)
    assert meta["license"] == "apache-2.0"
    assert meta["library_name"] == "stylizing-vit-aug"
    assert meta["pipeline_tag"] == "image-to-image"
    assert {"style-transfer", "data-augmentation", "medical-imaging"} <= set(meta["tags"])
    assert meta["base_model"] == "sdoerrich97/stylizing_vit_tiny_epistr"
    assert huggingface_hub.ModelCard.load(directory / "README.md").data.license == "apache-2.0"
    for section in ("## Architecture", "## Normalisation", "## How to load", "## Training", "## Metrics"):
        assert section in card
    assert "ssim" in card and "0.744" in card
    provenance = json.loads((directory / "config.json").read_text())["provenance"]
    assert provenance == {
        "source": "sdoerrich97/stylizing_vit_tiny_epistr", "revision": REVISION,
        "base_model": "sdoerrich97/stylizing_vit_tiny_epistr",
        "training": {"epochs": 3, "lr": pytest.approx(1e-3)}, "metrics": {"ssim": 0.91},
    }
    plain = hub.save_pretrained(make_small_model(), tmp_path / "plain", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert "base_model" not in front_matter((plain / "README.md").read_text())


# -- statistics and weights a checkpoint must not carry --------------------------------------------
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


def test_a_weights_file_of_ours_loads_alone_as_what_it_is(tmp_path, small_stylizer):
    # 3 heads of width 16: not visible in the shapes, and no preset has width 48; read from the file
    saved = small_stylizer.save_pretrained(tmp_path / "ckpt")
    alone = hub.load_stylizer(saved / "model.safetensors", device="cpu")  # no config.json, no mean=/std=
    assert alone.model.config == small_stylizer.model.config
    assert alone.mean.tolist() == pytest.approx(list(CAMELYON_MEAN)) and alone.std.tolist() == pytest.approx(
        list(CAMELYON_STD))
    assert_same_weights(alone.model, state_of(small_stylizer.model))


@pytest.mark.parametrize("kind", ["ours", "another tool's"])
def test_a_bare_weights_file_has_its_header_read_once(tmp_path, small_stylizer, monkeypatch, kind):
    """The record (statistics, architecture) and the check of the tensors' shapes and dtypes come
    from one read of the header (it was read twice); safetensors' own reader still parses it
    once more when it reads the tensors."""
    from stylizing_vit_aug.checkpoints import header as header_module

    if kind == "ours":
        path = small_stylizer.save_pretrained(tmp_path / "ckpt") / "model.safetensors"
        stats = {}
    else:
        path = tmp_path / "w.safetensors"
        save_file(state_of(make_small_model(embed_dim=64, num_heads=1)), str(path))
        stats = {"mean": CAMELYON_MEAN, "std": CAMELYON_STD}
    reads = []
    real = header_module._parse
    monkeypatch.setattr(header_module, "_parse", lambda *args: reads.append(args) or real(*args))
    hub.load_stylizer(path, device="cpu", **stats)
    assert len(reads) == 1


def test_a_folder_without_its_config_json_loads_from_what_its_weights_file_records(tmp_path, small_stylizer):
    saved = small_stylizer.save_pretrained(tmp_path / "ckpt")
    (saved / "config.json").unlink()  # a folder copied without it: the weights file still says what it is
    loaded = hub.load_stylizer(saved, device="cpu")
    assert loaded.model.config == small_stylizer.model.config
    assert loaded.mean.tolist() == pytest.approx(list(CAMELYON_MEAN))


def test_a_config_json_that_does_not_describe_its_weights_is_refused(tmp_path, small_stylizer):
    from helpers import write_images
    from stylizing_vit_aug import cli

    saved = small_stylizer.save_pretrained(tmp_path / "ckpt")
    config = json.loads((saved / "config.json").read_text())
    config["architecture"]["num_heads"] = 6  # fits every tensor shape: only the file's record tells
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CorruptCheckpoint, match=r"records the architecture .*num_heads=3.*num_heads=6.*config\.json"):
        hub.load_stylizer(saved, device="cpu")
    write_images(tmp_path / "in", 1, size=(32, 32))
    code = cli.main(["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style",
                     str(tmp_path / "in" / "img00.png"), "--checkpoint", str(saved), "--device", "cpu"])
    assert code == 2 and not (tmp_path / "out" / "img00.png").exists()


@pytest.mark.parametrize("record", ["{not json", "[" * 100_000 + "]" * 100_000], ids=["malformed", "nested too deep"])
def test_a_record_that_is_not_json_is_a_corrupt_checkpoint(tmp_path, record):
    """JSON nested deeper than the parser follows (a crafted file) is malformed JSON like any other: it was a raw
    RecursionError, which the command line printed as an internal failure (exit 1)."""
    from stylizing_vit_aug.checkpoints import RECORD_KEY
    from stylizing_vit_aug.commands._exits import failure

    path = tmp_path / "ckpt" / "model.safetensors"
    path.parent.mkdir()
    save_file(state_of(make_small_model()), str(path), metadata={RECORD_KEY: record})
    for source in (path, path.parent):  # the file alone, and a folder without its config.json
        with pytest.raises(CorruptCheckpoint, match=f"'{RECORD_KEY}' metadata of .*model.safetensors is not JSON"):
            hub.load_stylizer(source, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    with pytest.raises(CorruptCheckpoint) as info:
        hub.load_stylizer(path, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert failure(info.value) == (str(info.value), 2)  # the command line: the message alone, a usage error
