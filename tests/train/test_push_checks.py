"""``--push-to-hub`` that cannot succeed is refused before training when the machine says so
without a network call (offline mode, no token), and a push that fails at the end says how to
upload the export as it is (its training record kept), not how to re-save a copy that loses it."""

from __future__ import annotations

import json

import huggingface_hub
import pytest

from helpers import ARCH, options, parse
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.train import run as run_train

PUSH = [*ARCH, *options(epochs="1"), "--push-to-hub", "me/x"]


@pytest.fixture
def no_network_calls(monkeypatch):
    """Any Hub call fails the test: the checks read the environment and the token only."""

    def refuse(*args, **kwargs):
        raise AssertionError("a network call")

    for name in ("create_repo", "upload_folder", "whoami", "repo_info"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, refuse)


def test_offline_mode_refuses_the_push_before_training(data, tmp_path, capsys, monkeypatch, no_network_calls):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(out), *PUSH)) == 2
    err = capsys.readouterr().err
    assert "--push-to-hub me/x" in err and "offline" in err and f"hf upload me/x {out / 'final'}" in err
    assert not out.exists()  # nothing trained, nothing written


def test_no_token_refuses_the_push_before_training(data, tmp_path, capsys, monkeypatch, no_network_calls):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    out = tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(out), *PUSH)) == 2
    err = capsys.readouterr().err
    assert "no Hugging Face token" in err and "hf auth login" in err and not out.exists()


def test_a_push_that_fails_at_the_end_advises_uploading_the_export_as_it_is(data, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_token")

    def unreachable(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", unreachable)
    out = tmp_path / "run"
    assert cli.main(["train", str(data), "-o", str(out), *PUSH]) == 1
    err = capsys.readouterr().err
    final = out / "final"
    assert f"hf upload me/x {final}" in err and "load_stylizer" not in err
    # what the advice uploads is the export itself, whose record says how it was trained
    assert json.loads((final / "config.json").read_text())["provenance"]["training"]["steps"] > 0
    # and whose card, read on the Hub once uploaded, loads it from there (as well as from the folder)
    card = (final / "README.md").read_text()
    assert "load_stylizer('me/x')" in card and f"load_stylizer({str(final)!r})" in card
