"""Checkpoint loading, saving and pushing: Hub cache offline, files on disk, every error path.

No test touches the network: Hub checkpoints come from a cache folder the tests build, with
huggingface_hub in offline mode, and push_to_hub talks to a recording fake HfApi.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import pytest
import torch
import yaml
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from stylizing_vit_aug import hub
from stylizing_vit_aug.checkpoints import (
    CorruptCheckpoint,
    StateDictMismatch,
    UnsafeCheckpointFormat,
    bundled,
    infer_config,
    read_state_dict,
)

from conftest import CAMELYON_MEAN, CAMELYON_STD, make_small_model

MAIN_SHA = "a" * 40
PINNED_SHA = "0123456789abcdef0123456789abcdef01234567"
DDI_MEAN, DDI_STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def state_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def assert_same_weights(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert set(got) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(got[key].cpu(), tensor), key


def add_snapshot(cache: Path, repo_id: str, sha: str, files: dict[str, Path | dict], main: bool) -> Path:
    """The Hub cache layout huggingface_hub reads: refs/<branch> -> snapshots/<sha>/<file>."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, dict):
            save_file(content, str(snapshot / name))
        else:
            os.link(content, snapshot / name)
    if main:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(sha)
    return snapshot


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> dict:
    """A Hub cache with a full-size random tiny model as tiny-camelyon17wilds (main) and a
    second version pinned by commit, plus the same weights as tiny-ddi."""
    cache = tmp_path_factory.mktemp("hub-cache")
    torch.manual_seed(1)
    main_state = state_of(sva.create_model("tiny"))
    snapshot = add_snapshot(
        cache, "sdoerrich97/stylizing_vit_tiny_camelyon17wilds", MAIN_SHA,
        {"model.safetensors": main_state}, main=True,
    )
    pinned_state = {**main_state, "encoder.cls_token": torch.full_like(main_state["encoder.cls_token"], 0.5)}
    add_snapshot(
        cache, "sdoerrich97/stylizing_vit_tiny_camelyon17wilds", PINNED_SHA,
        {"model.safetensors": pinned_state}, main=False,
    )
    add_snapshot(
        cache, "sdoerrich97/stylizing_vit_tiny_ddi_12_34_56", MAIN_SHA,
        {"model.safetensors": snapshot / "model.safetensors"}, main=True,
    )
    return {"cache": cache, "main": main_state, "pinned": pinned_state}


@pytest.fixture
def offline(monkeypatch, tmp_path) -> dict:
    """HF_HUB_OFFLINE=1 in the environment and in huggingface_hub (it reads it at import), and a
    spy on hf_hub_download. Any HTTP attempt would raise OfflineModeIsEnabled."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(empty))
    calls: list[dict] = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    return {"calls": calls, "empty": empty}


def use_cache(monkeypatch, cache: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))


# -- official checkpoints from the Hub cache ---------------------------------------------------
def test_official_alias_loads_from_offline_cache_with_registry_architecture_and_stats(
    tiny_cache, offline, monkeypatch
):
    use_cache(monkeypatch, tiny_cache["cache"])
    stylizer = sva.load_stylizer("tiny-camelyon17wilds", device="cpu", dtype=torch.float32)

    assert stylizer.config == sva.create_model("tiny").config
    assert_same_weights(stylizer.model, tiny_cache["main"])
    assert torch.allclose(stylizer.mean, torch.tensor(CAMELYON_MEAN))
    assert torch.allclose(stylizer.std, torch.tensor(CAMELYON_STD))
    assert stylizer.source == "sdoerrich97/stylizing_vit_tiny_camelyon17wilds"
    assert stylizer.revision == MAIN_SHA  # the commit refs/main resolved to
    assert offline["calls"] and all(c["local_files_only"] for c in offline["calls"])
    # the official weights really stylise: a 224-px output of the right kind comes back
    image = torch.randint(0, 256, (3, 224, 224), dtype=torch.uint8)
    out = stylizer(image, image.flip(-1))
    assert out.dtype == torch.uint8 and out.shape == image.shape


def test_revision_pin_and_cache_dir_select_that_commit(tiny_cache, offline):
    # HF_HUB_CACHE points at an empty folder: only cache_dir= can find the files
    stylizer = sva.load_stylizer(
        "sdoerrich97/stylizing_vit_tiny_camelyon17wilds", revision=PINNED_SHA,
        cache_dir=tiny_cache["cache"], device="cpu",
    )
    assert stylizer.revision == PINNED_SHA
    assert_same_weights(stylizer.model, tiny_cache["pinned"])


def test_short_dataset_alias_requires_and_uses_given_statistics(tiny_cache, offline):
    with pytest.raises(hub.MissingStatistics, match=r"mean and std=") as info:
        sva.load_stylizer("tiny-ddi", cache_dir=tiny_cache["cache"])
    assert "stylizing_vit_tiny_ddi_12_34_56" in str(info.value)
    assert offline["calls"] == []  # refused before any download attempt

    stylizer = sva.load_stylizer("tiny-ddi", cache_dir=tiny_cache["cache"], mean=DDI_MEAN, std=DDI_STD, device="cpu")
    assert stylizer.source == "sdoerrich97/stylizing_vit_tiny_ddi_12_34_56"
    assert torch.allclose(stylizer.mean, torch.tensor(DDI_MEAN))
    assert_same_weights(stylizer.model, tiny_cache["main"])


def test_infer_config_recovers_the_tiny_preset(tiny_cache):
    assert infer_config(tiny_cache["main"]) == sva.create_model("tiny").config


def test_offline_and_not_cached_names_the_repo_and_the_fix(offline):
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("small-epistr")
    message = str(info.value)
    assert "sdoerrich97/stylizing_vit_small_epistr" in message
    assert "HF_HUB_OFFLINE" in message and "online" in message and ".safetensors" in message
    assert isinstance(info.value, FileNotFoundError)


def test_local_files_only_never_downloads(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(hub.CheckpointNotCached, match="stylizing_vit_base_cholec80"):
        sva.load_stylizer("base-cholec80", cache_dir=tmp_path, local_files_only=True, mean=DDI_MEAN, std=DDI_STD)


def test_unknown_ids_suggest_close_matches(offline):
    with pytest.raises(hub.UnknownCheckpoint, match="tiny-camelyon17wilds"):
        sva.load_stylizer("tiny-camelyon")
    with pytest.raises(hub.UnknownCheckpoint, match="sdoerrich97/stylizing_vit_small_epistr"):
        sva.load_stylizer("sdoerrich97/stylizing_vit_small_epistrr")
    assert offline["calls"] == []


def test_pushed_repo_of_another_owner_loads_from_cache(tmp_path, offline):
    stylizer = sva.Stylizer(make_small_model(3), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    saved = hub.save_pretrained(stylizer, tmp_path / "ours")
    cache = tmp_path / "cache"
    add_snapshot(
        cache, "someone/my-stylizer", MAIN_SHA,
        {n: saved / n for n in ("model.safetensors", "config.json")}, main=True,
    )
    loaded = sva.load_stylizer("someone/my-stylizer", cache_dir=cache, device="cpu")
    assert loaded.source == "someone/my-stylizer" and loaded.revision == MAIN_SHA
    assert_same_weights(loaded.model, state_of(stylizer.model))
    with pytest.raises(hub.CheckpointNotCached, match="no local file or directory"):
        sva.load_stylizer("runs/not-there", cache_dir=cache)


def test_default_checkpoint_missing_then_bundled(monkeypatch, tmp_path, small_stylizer):
    monkeypatch.setattr(hub, "BUNDLED_WEIGHTS_DIR", tmp_path / "weights")  # where it is loaded from
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS_DIR", tmp_path / "weights")  # what the card says of it
    with pytest.raises(hub.DefaultCheckpointMissing, match="not shipped in this version") as info:
        sva.load_stylizer()
    assert "tiny-camelyon17wilds" in str(info.value)
    hub.save_pretrained(small_stylizer, tmp_path / "weights")
    assert "load_stylizer('default')" in (tmp_path / "weights" / "README.md").read_text()
    loaded = sva.load_stylizer(device="cpu")
    assert loaded.source == "default"
    assert_same_weights(loaded.model, state_of(small_stylizer.model))


def folder_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("where", ["a folder", "the bundled folder"])
def test_every_save_path_writes_byte_identical_folders(monkeypatch, tmp_path, small_stylizer, where):
    """One save path: the method, the function on a Stylizer and on its bare model (with its
    statistics) write the same bytes, the card's load line included ('default' in the bundled folder)."""
    target = tmp_path / "ckpt"
    if where == "the bundled folder":
        monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS_DIR", target)
    small_stylizer.save_pretrained(target, metrics={"ssim": 0.9})
    by_method = folder_bytes(target)
    hub.save_pretrained(small_stylizer, target, metrics={"ssim": 0.9})
    assert folder_bytes(target) == by_method
    mean, std = small_stylizer.mean.tolist(), small_stylizer.std.tolist()
    hub.save_pretrained(small_stylizer.model, target, mean=mean, std=std, metrics={"ssim": 0.9})
    assert folder_bytes(target) == by_method
    hint = "'default'" if where == "the bundled folder" else repr(str(target))
    assert f"load_stylizer({hint})" in by_method["README.md"].decode()


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
    small_stylizer.source, small_stylizer.revision = "sdoerrich97/stylizing_vit_tiny_epistr", MAIN_SHA
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
        "source": "sdoerrich97/stylizing_vit_tiny_epistr", "revision": MAIN_SHA,
        "base_model": "sdoerrich97/stylizing_vit_tiny_epistr",
        "training": {"epochs": 3, "lr": pytest.approx(1e-3)}, "metrics": {"ssim": 0.91},
    }
    plain = hub.save_pretrained(make_small_model(), tmp_path / "plain", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert "base_model" not in front_matter((plain / "README.md").read_text())


def test_push_to_hub_uploads_one_saved_folder(tmp_path, monkeypatch, small_stylizer):
    calls: list[tuple] = []

    class RecordingApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def create_branch(self, repo_id, **kwargs):
            calls.append(("create_branch", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            folder = Path(kwargs["folder_path"])
            files = {p.name: p.read_bytes() for p in folder.iterdir()}
            calls.append(("upload_folder", kwargs, files))
            return "commit-info"

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    result = sva.push_to_hub(
        small_stylizer, "me/stylizer", private=True, token="tok", revision="v1",
        commit_message="first", metrics={"ssim": 0.9},
    )
    assert result == "commit-info"
    assert calls[0] == ("init", "tok")
    assert calls[1] == ("create_repo", "me/stylizer", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls[2][0] == "create_branch" and calls[2][2]["branch"] == "v1"
    _, upload, files = calls[3]
    assert upload["repo_id"] == "me/stylizer" and upload["revision"] == "v1"
    assert upload["commit_message"] == "first"
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert "load_stylizer('me/stylizer')" in files["README.md"].decode()
    assert json.loads(files["config.json"])["provenance"]["metrics"] == {"ssim": 0.9}

    calls.clear()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(hub.CheckpointError, match="offline"):
        sva.push_to_hub(small_stylizer, "me/stylizer")
    assert calls == []


def test_list_checkpoints_names_what_load_stylizer_knows():
    names = sva.list_checkpoints()
    assert names[0] == "default" and len(names) == 22 and "tiny-camelyon17wilds" in names
    assert sva.list_checkpoints("tiny-*") == [n for n in names if n.startswith("tiny-")] and len(sva.list_checkpoints("tiny-*")) == 7
    repos = sva.list_checkpoints("*epistr", repo_ids=True)
    assert repos == [f"sdoerrich97/stylizing_vit_{p}_epistr" for p in ("tiny", "small", "base")]
    assert all(hub.resolve_official(name) is not None for name in names[1:])
