"""A Hub checkpoint that is not cached while offline: the error offers the ways out that work
offline — the bundled default, and pre-fetching the checkpoint once while online."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants  # a lazy attribute of the package until imported
import pytest

import stylizing_vit_aug as sva
from helpers import loading_code, make_small_model
from stylizing_vit_aug import hub


def test_not_cached_suggests_the_bundled_default_and_how_to_prefetch(offline, tmp_path):
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("tiny-camelyon17wilds", cache_dir=tmp_path)
    message = str(info.value)
    assert "sva.load_stylizer()" in message  # the bundled default, no download
    command = f"hf download sdoerrich97/stylizing_vit_tiny_camelyon17wilds model.safetensors --cache-dir {tmp_path}"
    assert command in message
    assert "huggingface-cli download" in message and "HF_HUB_OFFLINE=1" in message
    assert sva.load_stylizer(device="cpu") is not None  # the suggestion works offline


def test_without_cache_dir_the_download_command_has_no_cache_flag(offline, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("small-epistr")
    assert "`hf download sdoerrich97/stylizing_vit_small_epistr model.safetensors`" in str(info.value)


def test_an_owner_name_neither_local_nor_cached_says_both(offline, tmp_path):
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("someone/absent-model", cache_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("'someone/absent-model': no local file or directory")
    assert "Hugging Face" in message


# -- following the advice: the real `hf download` command line, against a stand-in for the Hub ------
def hub_with(repo_id: str, revisions: dict[str, Path]) -> Callable[..., str]:
    """What the hf CLI's downloads fetch from a Hub holding ``repo_id`` at those revisions (each a
    folder of its files): the files asked, laid out in the Hub cache as huggingface_hub lays them."""

    def fetch(*, repo_id: str, revision: str | None, cache_dir: str | None, **kwargs) -> str:
        folder = revisions[revision or "main"]
        asked = kwargs.get("allow_patterns") or [kwargs["filename"]]
        sha = hashlib.sha1(str(folder).encode()).hexdigest()
        cache = Path(cache_dir or huggingface_hub.constants.HF_HUB_CACHE)
        snapshot = cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / sha
        snapshot.mkdir(parents=True, exist_ok=True)
        for name in asked:
            if (folder / name).is_file():  # snapshot_download skips a pattern the repo has no file for
                shutil.copy(folder / name, snapshot / name)
        (snapshot.parents[1] / "refs").mkdir(exist_ok=True)
        (snapshot.parents[1] / "refs" / (revision or "main")).write_text(sha)
        return str(snapshot)

    return fetch


def follow(message: str, monkeypatch, hub: Callable[..., str]) -> None:
    """Run the message's `hf download ...` through huggingface_hub's own command-line parser."""
    import huggingface_hub.cli.download as cli_download
    from huggingface_hub.cli.hf import app

    command = re.search(r"`(hf download [^`]*)`", message).group(1)
    monkeypatch.setattr(cli_download, "snapshot_download", hub)
    monkeypatch.setattr(cli_download, "hf_hub_download", hub)
    app(shlex.split(command)[1:], standalone_mode=False)


@pytest.mark.parametrize("revision", [None, "v3"])
def test_following_the_advice_once_fetches_everything_the_load_reads_at_that_revision(
    offline, monkeypatch, tmp_path, small_stylizer, revision
):
    """It named one file at a time (a second failure on config.json) and dropped revision=: with main
    cached, a pinned load advised fetching main again, and failed again after that."""
    main = sva.Stylizer(make_small_model(1), (0.4,) * 3, (0.3,) * 3, device="cpu")
    folders = {
        "main": hub.save_pretrained(main, tmp_path / "main"),
        "v3": small_stylizer.save_pretrained(tmp_path / "v3"),
    }
    fake = hub_with("team/styl", folders)
    if revision:  # main is cached already: what the pinned load needs is not
        fake(repo_id="team/styl", revision=None, cache_dir=str(tmp_path / "c"), allow_patterns=list(hub.HUB_REPO_FILES))
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("team/styl", revision=revision, cache_dir=tmp_path / "c")
    message = str(info.value)
    assert "load_stylizer('team/styl'" + (f", revision={revision!r}" if revision else "") in message
    follow(message, monkeypatch, fake)
    loaded = sva.load_stylizer("team/styl", revision=revision, cache_dir=tmp_path / "c", device="cpu")
    assert loaded.fingerprint == (small_stylizer if revision else main).fingerprint


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        (["model-00001-of-00002.safetensors", "model.safetensors.index.json"], "sharded"),
        (["pytorch_model.bin"], "pickled"),
    ],
)
def test_weights_the_library_does_not_read_are_named_with_how_to_make_one_file(offline, tmp_path, files, kind):
    """A sharded or pickled repo got the error of a repo with no weights at all."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in files:
        (repo / name).write_bytes(b"{}")
    hub_with("team/other", {"main": repo})(repo_id="team/other", revision=None, cache_dir=None, allow_patterns=files)
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("team/other")
    message = str(info.value)
    assert f"Its weights are {kind}" in message and "does not read" in message
    assert "safetensors.torch.save_file(state_dict, 'model.safetensors')" in message


def test_a_repo_not_cached_is_refused_when_a_transform_is_made_where_the_hub_does_not_resolve(monkeypatch, tmp_path):
    """Without a network (and HF_HUB_OFFLINE unset) every load reads the cache only, so a repo not
    cached was accepted and then failed at the first draw, in every DataLoader worker."""
    from stylizing_vit_aug.transforms import StylizeTransform

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "unresolvable_hub_host", lambda: "huggingface.co")
    with pytest.raises(hub.CheckpointNotCached, match=r"cannot be resolved from here") as made:
        StylizeTransform("team/absent", p=1.0)
    with pytest.raises(hub.CheckpointNotCached) as loaded:
        sva.load_stylizer("team/absent")
    advice = [re.search(r"`hf download [^`]*`", str(error.value)).group() for error in (made, loaded)]
    assert advice[0] == advice[1]  # the construction check gives the load's own advice


def test_a_card_pushed_to_a_branch_loads_that_branch(monkeypatch, small_stylizer):
    """push_to_hub(revision="v2") uploaded a card whose load line loaded main, silently."""
    uploaded: dict[str | None, str] = {}

    class RecordingApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            pass

        def create_branch(self, repo_id, **kwargs):
            pass

        def upload_folder(self, *, folder_path, revision=None, **kwargs):
            uploaded[revision] = (Path(folder_path) / "README.md").read_text()

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for revision in (None, "v2"):
        sva.push_to_hub(small_stylizer, "team/styl", revision=revision)
    for revision, card in uploaded.items():
        pinned = f", revision={revision!r}" if revision else ""
        assert f"sva.load_stylizer('team/styl'{pinned})" in loading_code(card)
