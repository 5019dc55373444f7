"""Checkpoint sources a user can make by accident, each refused with a checkpoint error that says
what is wrong and what to do (or loaded, where the intent is plain): a symbolic link that loops (the
source's own, or a folder's on its way, a training run's export or a training checkpoint's folder),
a folder named like a weights file, a config.json saved with a BOM, a repo id with a trailing slash,
and a bare third-party file whose head count only the user knows (``num_heads=``)."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, assert_same_weights, make_small_model, state_of
from stylizing_vit_aug import cli, hub
from stylizing_vit_aug.checkpoints import CheckpointError, StateDictMismatch
from stylizing_vit_aug.local_checkpoint import RUN_EXPORT
from stylizing_vit_aug.train.training_state import TrainingCheckpointError, read_training_checkpoint

STATS = {"mean": CAMELYON_MEAN, "std": CAMELYON_STD}


def _loop_weights_in_folder(tmp_path, stylizer):
    folder = stylizer.save_pretrained(tmp_path / "ckpt")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to("model.safetensors")
    return folder, folder / "model.safetensors"


def _loop_source(tmp_path, name):
    link = tmp_path / name
    link.symlink_to(name)
    return link, link


LAYOUTS = {
    "the weights file of a folder": lambda tmp_path, stylizer: _loop_weights_in_folder(tmp_path, stylizer),
    "that weights file given alone": lambda tmp_path, stylizer: (_loop_weights_in_folder(tmp_path, stylizer)[1],) * 2,
    "a source folder": lambda tmp_path, stylizer: _loop_source(tmp_path, "loopdir"),
    "a source .safetensors file": lambda tmp_path, stylizer: _loop_source(tmp_path, "loop.safetensors"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_symbolic_link_that_loops_is_a_checkpoint_error_naming_the_link(tmp_path, small_stylizer, layout):
    source, link = LAYOUTS[layout](tmp_path, small_stylizer)
    with pytest.raises(CheckpointError, match="symbolic link .*loops") as info:
        sva.load_stylizer(source, **STATS)
    assert str(link) in str(info.value) and "point the link at the real checkpoint" in str(info.value)
    # the command line refuses it as the input's problem (exit 2), before it makes any output
    out = tmp_path / "bank.safetensors"
    assert cli.main(["bank", "build", str(tmp_path), "-o", str(out), "--checkpoint", str(source)]) == 2
    assert not out.exists()


def _folder_linked_to_itself(tmp_path):
    (tmp_path / "self").symlink_to("self", target_is_directory=True)
    return tmp_path / "self", "(it links to self)"


def _folder_links_past_the_limit(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").symlink_to(".", target_is_directory=True)  # a/b/b/... is a, past 64 links: ELOOP
    return tmp_path.joinpath("a", *["b"] * 64), "(it links to .)"


PARENT_LOOPS = {
    "a folder linked to itself": _folder_linked_to_itself,
    "links past the limit": _folder_links_past_the_limit,
}


@pytest.mark.parametrize("name", ["model.safetensors", "ckpt"])
@pytest.mark.parametrize("layout", list(PARENT_LOOPS))
def test_a_folder_on_the_way_that_loops_is_said_to_loop_not_to_be_missing(tmp_path, capsys, layout, name):
    folder, target = PARENT_LOOPS[layout](tmp_path)
    source = folder / name
    with pytest.raises(CheckpointError, match=r"too many levels of symbolic links \(ELOOP\) in ") as info:
        sva.load_stylizer(source, **STATS)
    message = str(info.value)
    assert str(source) in message and target in message and "point that link at a real folder" in message
    out, styles = tmp_path / "bank.safetensors", tmp_path / "styles"
    styles.mkdir()
    argv = ["bank", "build", str(styles), "-o", str(out), "--checkpoint", str(source)]
    assert cli.main(argv) == 2 and not out.exists()
    error = capsys.readouterr().err
    assert "too many levels of symbolic links (ELOOP)" in error and "no such file" not in error


def test_a_training_run_whose_export_folder_loops_is_said_to_loop_not_to_hold_no_weights(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / RUN_EXPORT).symlink_to(RUN_EXPORT, target_is_directory=True)
    with pytest.raises(CheckpointError, match=r"too many levels of symbolic links \(ELOOP\) in ") as info:
        sva.load_stylizer(run, **STATS)
    message = str(info.value)
    assert str(run / RUN_EXPORT) in message and f"(it links to {RUN_EXPORT})" in message
    assert "holds no model.safetensors" not in message


@pytest.mark.parametrize("layout", list(PARENT_LOOPS))
def test_a_training_checkpoint_behind_a_looping_folder_is_said_to_loop_not_to_be_missing(tmp_path, layout):
    folder, target = PARENT_LOOPS[layout](tmp_path)
    path = folder / "last.safetensors"
    with pytest.raises(TrainingCheckpointError, match=r"too many levels of symbolic links \(ELOOP\) in ") as info:
        read_training_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and target in message and "does not exist" not in message


def test_a_looping_folder_in_a_path_that_reads_as_a_hub_id_is_said_to_loop(tmp_path, monkeypatch, offline):
    _folder_linked_to_itself(tmp_path)
    monkeypatch.chdir(tmp_path)  # "self/ckpt" is also an owner/name: the local path, looked up first, loops
    with pytest.raises(CheckpointError, match=r"too many levels of symbolic links \(ELOOP\) in self/ckpt"):
        sva.load_stylizer("self/ckpt", **STATS)
    assert offline["calls"] == []


def test_a_config_json_saved_with_a_bom_loads(tmp_path, small_stylizer):
    folder = small_stylizer.save_pretrained(tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    text = (folder / "config.json").read_text(encoding="utf-8")
    (folder / "config.json").write_text(text, encoding="utf-8-sig")  # as Windows Notepad saves it
    loaded = sva.load_stylizer(folder, device="cpu")
    assert loaded.mean.tolist() == pytest.approx(json.loads(text)["mean"])
    assert loaded.config == small_stylizer.config


def test_a_folder_named_like_a_weights_file_is_said_to_be_a_folder(tmp_path, small_stylizer):
    empty = tmp_path / "model.safetensors"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="is a folder, not a .safetensors weights file") as info:
        sva.load_stylizer(empty, **STATS)
    assert str(empty) in str(info.value)
    folder = small_stylizer.save_pretrained(tmp_path / "saved")  # a checkpoint folder so named loads as one
    shutil.move(folder, tmp_path / "named.safetensors")
    assert sva.load_stylizer(tmp_path / "named.safetensors", device="cpu").config == small_stylizer.config


def test_a_repo_id_with_a_trailing_slash_says_how_to_name_the_repo(offline):
    with pytest.raises(FileNotFoundError, match="If you meant the Hub repo 'me/my-stylizer', drop the trailing"):
        sva.load_stylizer("me/my-stylizer/")
    assert offline["calls"] == []  # a folder path: the Hub is not asked


def test_a_bare_file_whose_head_count_cannot_be_inferred_loads_with_the_advised_num_heads(tmp_path):
    model = make_small_model(3)  # embed_dim 48: no preset width, not a multiple of 64-wide heads
    path = tmp_path / "third_party.safetensors"
    save_file(state_of(model), str(path))
    with pytest.raises(StateDictMismatch, match=r"load_stylizer\(path, num_heads=N"):
        sva.load_stylizer(path, **STATS)
    loaded = sva.load_stylizer(path, num_heads=model.config.num_heads, device="cpu", **STATS)
    assert loaded.config == model.config
    assert_same_weights(loaded.model, state_of(model))
    with pytest.raises(StateDictMismatch, match="num_heads=5 .* does not divide .*embed_dim=48"):
        sva.load_stylizer(path, num_heads=5, **STATS)


def test_num_heads_replaces_the_rule_for_a_bare_file_of_a_preset_width(tmp_path):
    model = make_small_model(4, embed_dim=192, num_heads=6, depth=1, mlp_ratio=1.0)  # the rule: 3 (tiny preset)
    path = tmp_path / "w.safetensors"
    save_file(state_of(model), str(path))
    assert sva.load_stylizer(path, device="cpu", **STATS).config.num_heads != model.config.num_heads
    assert sva.load_stylizer(path, num_heads=6, device="cpu", **STATS).config == model.config


def test_num_heads_that_contradicts_a_recorded_architecture_is_refused(tmp_path, small_stylizer):
    heads = small_stylizer.config.num_heads
    folder = small_stylizer.save_pretrained(tmp_path / "ckpt")
    for source in (folder, folder / "model.safetensors"):  # config.json; the weights file's own record
        with pytest.raises(ValueError, match=f"num_heads={heads * 2} was passed.*records.*num_heads={heads}"):
            sva.load_stylizer(source, num_heads=heads * 2)
        assert sva.load_stylizer(source, num_heads=heads, device="cpu").config == small_stylizer.config


@pytest.mark.parametrize(("value", "error"), [(True, TypeError), (3.0, TypeError), ("3", TypeError), (0, ValueError)])
def test_a_num_heads_that_is_not_a_head_count_is_refused_before_any_source_is_looked_at(value, error, monkeypatch):
    monkeypatch.setattr(hub, "matching_source", lambda request: pytest.fail("a source was looked at"))
    with pytest.raises(error, match="num_heads must be"):
        sva.load_stylizer("no/such/folder/", num_heads=value)
