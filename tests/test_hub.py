"""Loading through the Hugging Face Hub and saving: official checkpoints and pushed repos from
the Hub cache offline, revisions, the bundled default, a missing local path that never asks the
Hub, every save path writing the same folder, push_to_hub, the official list.

No test touches the network: Hub checkpoints come from a cache folder the tests build, with
huggingface_hub in offline mode, and push_to_hub talks to a recording fake HfApi. Checkpoint
files on disk (their formats and every error): tests/checkpoints/test_checkpoint_files.py.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, assert_same_weights, loading_code, make_small_model, state_of
from stylizing_vit_aug import hub
from stylizing_vit_aug.checkpoints import RECORD_KEY, bundled, infer_config, read_header

MAIN_SHA = "a" * 40
PINNED_SHA = "0123456789abcdef0123456789abcdef01234567"
DDI_MEAN, DDI_STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


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
    with pytest.raises(hub.MissingStatistics, match=r"mean= and std=") as info:
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


BAD_OPTIONS = {
    "mode": ({"mode": "bad"}, ValueError, "mode must be one of"),
    "background": ({"background": "Keep"}, ValueError, "background must be one of"),
    "colour_match": ({"colour_match": "False"}, TypeError, "colour_match must be True or False"),
    "compile": ({"compile": 1}, ValueError, "compile must be True, False or a torch.compile mode"),
    "dtype": ({"dtype": "float8"}, ValueError, "dtype must be torch.float32"),
}


@pytest.mark.parametrize("option", list(BAD_OPTIONS))
def test_a_bad_option_is_refused_before_the_checkpoint_is_looked_for(offline, option):
    kwargs, error, message = BAD_OPTIONS[option]
    with pytest.raises(error, match=message) as info:
        sva.load_stylizer("small-epistr", **kwargs)  # not cached: looking for it would be CheckpointNotCached
    assert not isinstance(info.value, hub.CheckpointNotCached)
    assert offline["calls"] == []  # the Hub (its cache included) was never asked


def test_a_dtype_name_loads_as_that_dtype(tmp_path, small_stylizer):
    folder = small_stylizer.save_pretrained(tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert sva.load_stylizer(folder, dtype="bf16").dtype == torch.bfloat16


def test_local_files_only_never_downloads(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(hub.CheckpointNotCached, match="stylizing_vit_base_cholec80"):
        sva.load_stylizer("base-cholec80", cache_dir=tmp_path, local_files_only=True, mean=DDI_MEAN, std=DDI_STD)


@pytest.fixture
def online(monkeypatch) -> list[dict]:
    """Offline mode off, as on a user's machine; every hf_hub_download call's arguments recorded."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    calls: list[dict] = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append(kwargs)
        assert kwargs["local_files_only"], "a test must never download"
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    return calls


def test_a_hub_that_does_not_resolve_is_not_retried_the_cache_is_read_at_once(tiny_cache, online, monkeypatch,
                                                                            caplog):
    """Without a network huggingface_hub retries each file for about 20 s before it falls back to
    its cache; a host that does not resolve sends every download to the cache at once."""
    lookups = []

    def no_network(host, *args):
        lookups.append(host)
        raise OSError("Name or service not known")

    monkeypatch.setattr(hub, "getaddrinfo", no_network)
    use_cache(monkeypatch, tiny_cache["cache"])
    start = time.perf_counter()
    stylizer = sva.load_stylizer("tiny-camelyon17wilds", device="cpu")
    sva.load_stylizer("tiny-camelyon17wilds", device="cpu")
    assert time.perf_counter() - start < 20
    assert_same_weights(stylizer.model, tiny_cache["main"])
    assert online and all(call["local_files_only"] for call in online)
    assert lookups == ["huggingface.co"]  # a failed lookup is trusted for a while, not repeated per file
    assert caplog.text.count("cannot be resolved from here") == 1
    monkeypatch.setattr(hub, "HOST_RECHECK_SECONDS", 0.0)
    sva.load_stylizer("tiny-camelyon17wilds", device="cpu")
    assert len(lookups) == 2  # and looked up again once that while is over


def test_not_cached_and_unresolvable_says_so(online, tmp_path):
    with pytest.raises(hub.CheckpointNotCached, match=r"the Hub \(huggingface.co\) cannot be resolved"):
        sva.load_stylizer("small-epistr", cache_dir=tmp_path)


def test_a_host_that_resolves_again_is_downloaded_from_again(monkeypatch):
    """A process that was offline finds the Hub again once the failed lookup has aged."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "getaddrinfo", lambda *a: [("resolved",)])
    hub._unresolved_hosts["huggingface.co"] = time.monotonic()  # just failed: still trusted
    assert hub.why_cache_only(None) is not None
    hub._unresolved_hosts["huggingface.co"] = time.monotonic() - hub.HOST_RECHECK_SECONDS - 1
    assert hub.why_cache_only(None) is None and "huggingface.co" not in hub._unresolved_hosts


def test_behind_a_proxy_the_host_is_not_looked_up(monkeypatch, tmp_path):
    """A proxy resolves names itself: a failed local lookup would say nothing, so none is made."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setattr(hub, "getaddrinfo", lambda *a: pytest.fail("looked up the host behind a proxy"))
    assert hub.unresolvable_hub_host() is None
    assert hub.why_cache_only(None) is None and "HF_HUB_OFFLINE" in hub.why_cache_only(True)


def test_unknown_ids_suggest_close_matches(offline):
    with pytest.raises(hub.UnknownCheckpoint, match="tiny-camelyon17wilds"):
        sva.load_stylizer("tiny-camelyon")
    with pytest.raises(hub.UnknownCheckpoint, match="sdoerrich97/stylizing_vit_small_epistr"):
        sva.load_stylizer("sdoerrich97/stylizing_vit_small_epistrr")
    assert offline["calls"] == []


def test_pushed_repo_of_another_owner_loads_from_cache_with_its_settings(tmp_path, offline):
    stylizer = sva.Stylizer(make_small_model(3), CAMELYON_MEAN, CAMELYON_STD, device="cpu", background="style")
    saved = hub.save_pretrained(stylizer, tmp_path / "ours")
    cache = tmp_path / "cache"
    add_snapshot(
        cache, "someone/my-stylizer", MAIN_SHA,
        {n: saved / n for n in ("model.safetensors", "config.json")}, main=True,
    )
    loaded = sva.load_stylizer("someone/my-stylizer", cache_dir=cache, device="cpu")
    assert loaded.source == "someone/my-stylizer" and loaded.revision == MAIN_SHA
    assert_same_weights(loaded.model, state_of(stylizer.model))
    assert loaded.background == "style"  # a radiograph checkpoint keeps stylising white where it was saved so
    with pytest.raises(hub.CheckpointNotCached, match="no local file or directory"):
        sva.load_stylizer("runs/not-there", cache_dir=cache)


def test_not_cached_names_the_cache_it_read_not_a_default(offline, monkeypatch, tmp_path):
    use_cache(monkeypatch, tmp_path / "elsewhere")  # HF_HUB_CACHE (or HF_HOME) pointing away from the default
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("small-epistr")
    assert f"cache at {tmp_path / 'elsewhere'} " in str(info.value) and "HF_HUB_CACHE)" not in str(info.value)
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("small-epistr", cache_dir=tmp_path / "given")
    assert f"cache at {tmp_path / 'given'} " in str(info.value)


def record_absent(cache: Path, repo_id: str, filename: str) -> None:
    """What huggingface_hub leaves in its cache when the Hub answered 404 for a file at MAIN_SHA."""
    absent = cache / f"models--{repo_id.replace('/', '--')}" / ".no_exist" / MAIN_SHA
    absent.mkdir(parents=True, exist_ok=True)
    (absent / filename).touch()


def test_a_file_the_cache_records_as_absent_is_named_absent_not_uncached(tmp_path, offline, small_stylizer):
    saved = hub.save_pretrained(small_stylizer, tmp_path / "ours")
    cache = tmp_path / "cache"
    add_snapshot(cache, "someone/config-only", MAIN_SHA, {"config.json": saved / "config.json"}, main=True)
    record_absent(cache, "someone/config-only", "model.safetensors")
    with pytest.raises(hub.CheckpointError) as info:
        sva.load_stylizer("someone/config-only", cache_dir=cache)
    message = str(info.value)
    assert not isinstance(info.value, hub.CheckpointNotCached)
    assert "someone/config-only at revision 'main' has no model.safetensors" in message and str(cache) in message
    assert "hf download" not in message  # it would fail: there is nothing to download


# -- a Hub repo that holds only model.safetensors (uploaded by hand) -----------------------------
def test_a_repo_of_bare_weights_needs_the_statistics_and_loads_like_a_bare_file(tmp_path, offline):
    """Weights saved by other code and uploaded alone: no config.json, no record of ours. The
    architecture comes from the tensor shapes; the statistics must be passed, and the error says so."""
    model = make_small_model(embed_dim=64, num_heads=1)  # 64-wide heads: what the shapes let us infer
    cache = tmp_path / "cache"
    add_snapshot(cache, "someone/hand-uploaded", MAIN_SHA, {"model.safetensors": state_of(model)}, main=True)
    record_absent(cache, "someone/hand-uploaded", "config.json")
    with pytest.raises(hub.MissingStatistics) as info:
        sva.load_stylizer("someone/hand-uploaded", cache_dir=cache)
    message = str(info.value)
    assert "the Hub repo someone/hand-uploaded (a model.safetensors without a config.json)" in message
    assert "pass mean= and std=" in message
    loaded = sva.load_stylizer("someone/hand-uploaded", cache_dir=cache, mean=DDI_MEAN, std=DDI_STD, device="cpu")
    assert loaded.config == model.config
    assert_same_weights(loaded.model, state_of(model))
    assert torch.allclose(loaded.mean, torch.tensor(DDI_MEAN)) and torch.allclose(loaded.std, torch.tensor(DDI_STD))
    assert (loaded.source, loaded.revision) == ("someone/hand-uploaded", MAIN_SHA)
    assert loaded.settings == hub.LIBRARY_SETTINGS
    assert offline["calls"] and all(call["local_files_only"] for call in offline["calls"])


def test_a_repo_of_our_weights_file_alone_loads_with_what_the_file_records(tmp_path, offline, small_stylizer):
    """Our model.safetensors uploaded without its config.json records its architecture (the head
    count included, which no shape shows), statistics and Stylizer settings: nothing need be passed."""
    stylizer = sva.Stylizer(small_stylizer.model, small_stylizer.mean.tolist(), small_stylizer.std.tolist(),
                            device="cpu", mode="detail", background="style", colour_match=False)
    saved = hub.save_pretrained(stylizer, tmp_path / "ours")
    cache = tmp_path / "cache"
    add_snapshot(cache, "someone/weights-only", MAIN_SHA, {"model.safetensors": saved / "model.safetensors"}, main=True)
    record_absent(cache, "someone/weights-only", "config.json")
    loaded = sva.load_stylizer("someone/weights-only", cache_dir=cache, device="cpu", dtype=torch.float32)
    assert loaded.fingerprint == small_stylizer.fingerprint and loaded.config == small_stylizer.config
    assert loaded.revision == MAIN_SHA
    assert loaded.settings == stylizer.settings == {"mode": "detail", "background": "style", "colour_match": False}


def test_a_config_json_merely_not_cached_is_not_taken_for_absent(tmp_path, offline, small_stylizer):
    """Offline, a config.json the cache knows nothing of may exist on the Hub (with the statistics
    and settings to load by): the weights are not loaded without it, and the error says how to fetch it."""
    saved = hub.save_pretrained(small_stylizer, tmp_path / "ours")
    cache = tmp_path / "cache"
    add_snapshot(cache, "someone/half-cached", MAIN_SHA, {"model.safetensors": saved / "model.safetensors"}, main=True)
    with pytest.raises(hub.CheckpointNotCached, match="config.json of someone/half-cached"):
        sva.load_stylizer("someone/half-cached", cache_dir=cache)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [({"std": [0, 0, 0]}, "std must be positive"), ({"mean": [190, 150, 184]}, "0–255 units"),
     ({"mean": [0.5, 0.5]}, "mean has 2 values")],
)
def test_a_hub_repos_bad_statistics_are_refused_at_load_as_a_local_folders_are(
    tmp_path, offline, small_stylizer, edit, problem
):
    """A repo's recorded statistics are checked when it is loaded, by the local folder's check, so
    the error names the file that holds them and not a Stylizer argument at first use."""
    saved = hub.save_pretrained(small_stylizer, tmp_path / "ours")
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, **edit}))
    cache = tmp_path / "cache"
    snapshot = add_snapshot(
        cache, "someone/edited", MAIN_SHA, {n: saved / n for n in ("model.safetensors", "config.json")}, main=True
    )
    for source, named in ((saved, saved / "config.json"), ("someone/edited", snapshot / "config.json")):
        with pytest.raises(hub.CorruptCheckpoint, match=problem) as info:
            sva.load_stylizer(source, cache_dir=cache)
        assert str(named) in str(info.value) and "Fix the file, or pass mean= and std=" in str(info.value)


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
    """One save path: the method and the function on a Stylizer write the same bytes, the card's
    load line included ('default' in the bundled folder); its bare model (with its statistics)
    writes the same weights and config, less the Stylizer's settings (in config.json and in the
    weights file's own record), which a bare model has not."""
    target = tmp_path / "ckpt"
    if where == "the bundled folder":
        monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS_DIR", target)
    small_stylizer.save_pretrained(target, metrics={"ssim": 0.9})
    by_method = folder_bytes(target)
    stylizer_record = read_header(target / "model.safetensors").metadata
    hub.save_pretrained(small_stylizer, target, metrics={"ssim": 0.9})
    assert folder_bytes(target) == by_method
    mean, std = small_stylizer.mean.tolist(), small_stylizer.std.tolist()
    hub.save_pretrained(small_stylizer.model, target, mean=mean, std=std, metrics={"ssim": 0.9})
    bare = folder_bytes(target)
    bare_record = read_header(target / "model.safetensors").metadata
    assert_same_weights(small_stylizer.model, hub.read_state_dict(target / "model.safetensors"))
    settings = {name: getattr(small_stylizer, name) for name in ("mode", "background", "colour_match")}
    with_settings = json.loads(by_method["config.json"])
    assert with_settings.pop("stylizer") == settings
    assert json.loads(bare["config.json"]) == with_settings
    recorded = json.loads(stylizer_record.pop(RECORD_KEY))
    assert recorded.pop("stylizer") == settings
    assert {**bare_record, RECORD_KEY: json.loads(bare_record[RECORD_KEY])} == {**stylizer_record, RECORD_KEY: recorded}
    hint = "'default'" if where == "the bundled folder" else repr(str(target))
    assert f"load_stylizer({hint})" in by_method["README.md"].decode()


def card_of(directory: Path) -> tuple[huggingface_hub.ModelCard, str]:
    """A folder's card as the Hub reads it, and its How to load code (which must parse as Python)."""
    card = huggingface_hub.ModelCard.load(directory / "README.md")
    return card, loading_code(card.text)


def test_a_saved_folders_card_says_how_to_load_it_from_the_hub_once_uploaded(tmp_path, small_stylizer):
    """A folder saved with save_pretrained is uploaded as it is (``hf upload``): its card shows the
    Hub form (a placeholder to replace) beside the folder's path, which means nothing on the Hub."""
    folder = hub.save_pretrained(small_stylizer, tmp_path / "mine")
    card, code = card_of(folder)
    assert "sva.load_stylizer('<user>/<repo>')  # your repo's id" in code
    assert f"hf upload <user>/<repo> {folder}" in code and f"sva.load_stylizer({str(folder)!r})" in code
    assert card.data.library_name == "stylizing-vit-aug" and card.data.license == "apache-2.0"
    assert "| 0 | 0.744 | 0.1787 |" in card.text and "| num_heads | 3 |" in card.text  # stats, architecture


def test_a_preset_checkpoints_card_is_tagged_with_its_preset(tmp_path):
    folder = hub.save_pretrained(sva.create_model("tiny"), tmp_path / "tiny", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    card, _ = card_of(folder)
    assert "stylizing-vit-tiny" in card.data.tags and card.text.lstrip().startswith("# Stylizing ViT (tiny)")


# -- pushing and the official list --------------------------------------------------------------
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
    assert "load_stylizer('me/stylizer', revision='v1')" in files["README.md"].decode()  # the branch pushed to
    assert json.loads(files["config.json"])["provenance"]["metrics"] == {"ssim": 0.9}

    calls.clear()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(hub.CheckpointError, match="offline"):
        sva.push_to_hub(small_stylizer, "me/stylizer")
    assert calls == []


def test_a_push_that_cannot_reach_the_hub_names_the_repo_and_what_to_do(monkeypatch, small_stylizer):
    class Unreachable:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            raise ConnectionError("[Errno -2] Name or service not known")  # as huggingface_hub's client raises

    monkeypatch.setattr(huggingface_hub, "HfApi", Unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(hub.PushFailed, match=r"cannot push to the Hub repo me/stylizer: ConnectionError.*push again"):
        sva.push_to_hub(small_stylizer, "me/stylizer")


def test_list_checkpoints_names_what_load_stylizer_knows():
    names = sva.list_checkpoints()
    assert names[0] == "default" and len(names) == 22 and "tiny-camelyon17wilds" in names
    tiny = sva.list_checkpoints("tiny-*")
    assert tiny == [n for n in names if n.startswith("tiny-")] and len(tiny) == 7
    repos = sva.list_checkpoints("*epistr", repo_ids=True)
    assert repos == [f"sdoerrich97/stylizing_vit_{p}_epistr" for p in ("tiny", "small", "base")]
    assert all(hub.resolve_official(name) is not None for name in names[1:])


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


@pytest.mark.parametrize("source", ["", "  "])
def test_an_empty_source_is_refused_not_read_as_the_current_folder(source, tmp_path, monkeypatch, small_stylizer):
    small_stylizer.save_pretrained(tmp_path)  # a checkpoint in the current folder, which "" would load silently
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"source is '\s*': pass None \(or 'default'\)"):
        sva.load_stylizer(source)
    assert sva.load_stylizer(".", device="cpu").model.config == small_stylizer.model.config  # said plainly: loads


def test_a_training_run_folder_loads_its_export(tmp_path, small_stylizer):
    run = tmp_path / "runs" / "mine"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="training run without its export.*--resume"):
        sva.load_stylizer(str(run), device="cpu")
    small_stylizer.save_pretrained(run / hub.RUN_EXPORT)
    loaded = sva.load_stylizer(str(run), device="cpu", dtype=torch.float32)
    assert loaded.fingerprint == small_stylizer.fingerprint


@pytest.mark.parametrize("kind", ["folder", "bare safetensors file"])
def test_loading_a_checkpoint_leaves_the_global_generator_where_it_was(tmp_path, kind):
    """A transform loads its stylizer at its first sample: that must not shift the styles that
    torch.manual_seed (or DataLoader worker seeding) draws."""
    model = make_small_model(embed_dim=64, num_heads=1)  # 64-wide heads: a bare file's are inferred
    if kind == "folder":
        source = sva.save_pretrained(model, tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
        load = lambda: sva.load_stylizer(str(source))  # noqa: E731
    else:
        save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
        load = lambda: sva.load_stylizer(str(tmp_path / "w.safetensors"), mean=CAMELYON_MEAN, std=CAMELYON_STD)  # noqa: E731
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    stylizer = load()
    assert torch.equal(torch.rand(4), expected)
    assert_same_weights(stylizer.model, model.state_dict())


def test_a_revision_for_a_local_checkpoint_is_said_to_be_ignored(tmp_path, small_stylizer, caplog):
    folder = small_stylizer.save_pretrained(tmp_path / "ckpt")
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.hub"):
        sva.load_stylizer(folder, revision="v1")
    assert "revision='v1' is ignored" in caplog.text and "local (the local directory)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.hub"):
        sva.load_stylizer(folder)
    assert "is ignored" not in caplog.text


# -- a Hub source checked when a transform is made ----------------------------------------------
def _edited_repo(tmp_path: Path, stylizer, repo_id: str, edit: dict) -> tuple[Path, Path]:
    """A repo pushed by push_to_hub whose config.json was then edited, in a Hub cache: (cache, snapshot)."""
    saved = hub.save_pretrained(stylizer, tmp_path / "saved")
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, **edit}))
    cache = tmp_path / "cache"
    files = {n: saved / n for n in ("model.safetensors", "config.json")}
    return cache, add_snapshot(cache, repo_id, MAIN_SHA, files, main=True)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [({"std": [0, 0, 0]}, "std must be positive"), ({"mean": [0.5, 0.5]}, "mean has 2 values"),
     ({"architecture": {"img_size": 32}}, "architecture"), ({"stylizer": {"mode": "loud"}}, "stylizer.mode")],
)
def test_a_cached_hub_repos_bad_config_is_refused_when_a_transform_is_made(
    tmp_path, offline, monkeypatch, small_stylizer, edit, problem
):
    """It was refused only at first use, in a DataLoader worker, after the pipeline was built."""
    from stylizing_vit_aug.transforms import StylizeTransform

    cache, snapshot = _edited_repo(tmp_path, small_stylizer, "someone/edited", edit)
    use_cache(monkeypatch, cache)
    with pytest.raises(hub.CorruptCheckpoint, match=problem) as info:
        StylizeTransform("someone/edited", p=0.01)
    assert str(snapshot / "config.json") in str(info.value)


def test_online_a_hub_repo_is_checked_by_its_config_json_alone_and_its_weights_load_at_first_use(
    tmp_path, monkeypatch, small_stylizer
):
    """Online, making a transform downloads config.json only (never the weights) and refuses a bad one."""
    from stylizing_vit_aug.transforms import StylizeTransform

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "unresolvable_hub_host", lambda: None)  # the Hub answers (the fake below)
    use_cache(monkeypatch, tmp_path / "empty")
    _, good = _edited_repo(tmp_path / "good", small_stylizer, "someone/good", {})
    _, bad = _edited_repo(tmp_path / "bad", small_stylizer, "someone/bad", {"std": [0, 0, 0]})
    asked: list[tuple[str, str]] = []

    def fake_download(repo_id, filename, **kwargs):
        assert not kwargs["local_files_only"]
        asked.append((repo_id, filename))
        return str((good if repo_id == "someone/good" else bad) / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    transform = StylizeTransform("someone/good", p=1.0)
    assert asked == [("someone/good", "config.json")]
    with pytest.raises(hub.CorruptCheckpoint, match="std must be positive"):
        StylizeTransform("someone/bad", p=0.01)
    assert asked[1:] == [("someone/bad", "config.json")]
    image = torch.rand(3, 32, 32)
    assert transform(image).shape == image.shape  # the weights at first use
    assert ("someone/good", "model.safetensors") in asked


def test_a_repo_without_statistics_is_told_apart_from_a_bad_one_before_any_weights_are_read(
    tmp_path, offline, monkeypatch, small_stylizer
):
    """check_hub_source answers False (the caller's advice follows) where nothing records them, True
    where mean=/std= are passed, and an official checkpoint's come from the registry."""
    config = json.loads((hub.save_pretrained(small_stylizer, tmp_path / "s") / "config.json").read_text())
    cache, _ = _edited_repo(tmp_path, small_stylizer, "someone/unrecorded", {"mean": None, "std": None})
    use_cache(monkeypatch, cache)
    assert config["mean"] is not None
    assert hub.check_hub_source(hub.CheckpointRequest("someone/unrecorded")) is False
    assert hub.check_hub_source(hub.CheckpointRequest("someone/unrecorded", mean=DDI_MEAN, std=DDI_STD)) is True
    assert hub.check_hub_source(hub.CheckpointRequest("tiny-ddi")) is False
    assert hub.check_hub_source(hub.CheckpointRequest("tiny-camelyon17wilds")) is True


def test_loaded_is_said_at_debug_level_inside_a_dataloader_worker(checkpoint, monkeypatch, caplog):
    """Every worker loads its own stylizer, again each epoch without persistent_workers: "loaded ..." at INFO
    there would repeat workers x epochs times in a training script's log; the main process says it at INFO."""
    with caplog.at_level(logging.DEBUG, logger="stylizing_vit_aug.hub"):
        sva.load_stylizer(checkpoint)
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # as in a worker
        sva.load_stylizer(checkpoint)
    said = [r.levelno for r in caplog.records if r.getMessage().startswith("loaded Stylizer(")]
    assert said == [logging.INFO, logging.DEBUG]


def test_hf_home_set_to_a_file_is_said_with_the_way_out(tmp_path):
    """``HF_HOME`` pointing at a file gave a bare "[Errno 20] Not a directory: .../token" (a hostile probe): the
    settings are read when huggingface_hub is imported, so a fresh process shows it."""
    import os
    import subprocess
    import sys

    (tmp_path / "afile").write_text("not a folder")
    env = {**os.environ, "HF_HOME": str(tmp_path / "afile"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None), env.pop("HF_TOKEN_PATH", None)
    code = "import stylizing_vit_aug as sva; sva.load_stylizer('tiny-camelyon17wilds')"
    said = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300).stderr
    last = said.strip().splitlines()[-1]
    assert last.startswith("NotADirectoryError: cannot use the Hugging Face files for"), said
    assert f"HF_HOME={tmp_path / 'afile'}" in last and "point HF_HOME (and HF_HUB_CACHE) at a folder" in last
