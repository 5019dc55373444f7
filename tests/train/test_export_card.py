"""The card of a run's export (``RUN/final/README.md``) is read in two places: beside the files, and
on the Hub once ``hf upload REPO RUN/final`` (what a failed ``--push-to-hub`` advises) put it there.
It named only the local folder, a path that means nothing on the Hub; it now shows the Hub form
(the run's ``--push-to-hub`` repo, else a placeholder to replace) and the folder form."""

from __future__ import annotations

import re

import huggingface_hub
import pytest

import stylizing_vit_aug as sva
from helpers import loading_code
from stylizing_vit_aug import hub

TRAINED = {"steps": 4, "objective": {"name": "stain"}}  # a trainer's record, less what the card does not read


@pytest.mark.parametrize("repo", [None, "me/stain-model"])
def test_an_exports_card_says_how_to_load_it_from_the_hub_and_from_the_folder(small_stylizer, tmp_path, repo):
    final = tmp_path / "run" / "final"
    hub.save_pretrained(small_stylizer, final, training={**TRAINED, "hub_repo": repo})
    code = loading_code((final / "README.md").read_text(encoding="utf-8"))
    on_the_hub = repo or "<user>/<repo>"
    assert f"load_stylizer({on_the_hub!r})" in code and f"hf upload {on_the_hub} {final}" in code
    assert f"load_stylizer({str(final)!r})" in code  # and beside the files
    assert ("# your repo's id" in code) == (repo is None)  # a placeholder says what to put there


def test_the_copy_pushed_to_the_hub_names_the_repo_only(small_stylizer, monkeypatch):
    uploaded = {}

    class Api:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            pass

        def upload_folder(self, folder_path, **kwargs):
            uploaded["README.md"] = (folder_path / "README.md").read_text(encoding="utf-8")

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    sva.push_to_hub(small_stylizer, "me/stain-model", training={**TRAINED, "hub_repo": "me/stain-model"})
    code = loading_code(uploaded["README.md"])
    assert re.findall(r"load_stylizer\((.*?)\)", code) == ["'me/stain-model'"]


def test_a_folder_saved_outside_train_says_how_to_load_it_from_the_hub_and_from_the_folder(small_stylizer, tmp_path):
    hub.save_pretrained(small_stylizer, tmp_path / "mine", training={"steps": 4})
    code = loading_code((tmp_path / "mine" / "README.md").read_text(encoding="utf-8"))
    assert re.findall(r"load_stylizer\((.*?)\)", code) == ["'<user>/<repo>'", repr(str(tmp_path / "mine"))]
