"""A saved Stylizer's mode, background and colour_match come back with its checkpoint: what
``load_stylizer`` is not told, the folder decides; what it is told wins; a folder without them
(older, or a bare model's) gets the library's defaults; a bad value names the file."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model, state_of
from stylizing_vit_aug import hub
from stylizing_vit_aug.commands.common import CheckpointChoice, add_checkpoint_arguments, joined_number_lists
from stylizing_vit_aug.stylizer_options import BACKGROUNDS, MODES, SETTINGS_0_1_0

CHOICES = {"mode": MODES, "background": BACKGROUNDS, "colour_match": (True, False)}  # every value a Stylizer takes
LIBRARY_DEFAULTS = {"mode": "relative", "background": "keep", "colour_match": True}


def _settings_of(stylizer: sva.Stylizer) -> dict:
    return {name: getattr(stylizer, name) for name in CHOICES}


def _saved(directory: Path, **settings) -> Path:
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", **settings)
    return stylizer.save_pretrained(directory)


def _edit_config(directory: Path, edit) -> None:
    path = directory / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    saved=st.fixed_dictionaries({name: st.sampled_from(values) for name, values in CHOICES.items()}),
    asked=st.fixed_dictionaries({name: st.sampled_from((None, *values)) for name, values in CHOICES.items()}),
)
def test_what_load_stylizer_is_not_told_the_checkpoint_decides(tmp_path_factory, saved, asked):
    directory = _saved(tmp_path_factory.mktemp("ckpt"), **saved)
    loaded = hub.load_stylizer(directory, device="cpu", **asked)
    assert _settings_of(loaded) == {name: saved[name] if asked[name] is None else asked[name] for name in CHOICES}


def test_a_folder_without_settings_loads_with_the_library_defaults(tmp_path):
    model = make_small_model()
    hub.save_pretrained(model, tmp_path / "bare", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert "stylizer" not in json.loads((tmp_path / "bare" / "config.json").read_text())
    assert _settings_of(hub.load_stylizer(tmp_path / "bare", device="cpu")) == LIBRARY_DEFAULTS
    assert _settings_of(sva.load_stylizer(device="cpu")) == LIBRARY_DEFAULTS  # the bundled default records none


def test_the_settings_survive_a_second_save_and_show_on_the_card(tmp_path):
    first = _saved(tmp_path / "first", mode="resize", colour_match=False)
    hub.load_stylizer(first, device="cpu").save_pretrained(tmp_path / "second")
    assert _settings_of(hub.load_stylizer(tmp_path / "second", device="cpu")) == {
        "mode": "resize",
        "background": "keep",
        "colour_match": False,
    }
    card = (tmp_path / "second" / "README.md").read_text()
    assert "`mode='resize'`" in card and "`colour_match=False`" in card


@pytest.mark.parametrize(
    ("name", "value"),
    [("mode", "fast"), ("background", "white"), ("colour_match", "yes"), ("colour_match", 1), ("mode", None)],
)
def test_a_bad_recorded_setting_names_the_file_and_the_fix(tmp_path, name, value):
    directory = _saved(tmp_path / "ckpt")
    _edit_config(directory, lambda config: config["stylizer"].update({name: value}))
    with pytest.raises(hub.CorruptCheckpoint, match=rf"'stylizer\.{name}' in .*config\.json is .*pass {name}="):
        hub.load_stylizer(directory, device="cpu")


def test_settings_that_are_not_a_mapping_are_refused(tmp_path):
    directory = _saved(tmp_path / "ckpt")
    _edit_config(directory, lambda config: config.update({"stylizer": ["detail"]}))
    with pytest.raises(hub.CorruptCheckpoint, match="not a mapping of settings"):
        hub.load_stylizer(directory, device="cpu")


def test_a_setting_a_newer_version_records_is_ignored_with_a_warning(tmp_path, caplog):
    directory = _saved(tmp_path / "ckpt", mode="detail")
    _edit_config(directory, lambda config: config["stylizer"].update({"sharpness": 2}))
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.hub"):
        loaded = hub.load_stylizer(directory, device="cpu")
    assert loaded.mode == "detail" and "'sharpness'" in caplog.text


@pytest.mark.parametrize(("name", "recorded", "given"), [("mode", "detail", "resize"), ("background", "dark", "style")])
@pytest.mark.parametrize("asked", [False, True], ids=["recorded", "given"])
def test_the_cli_uses_the_recorded_setting_unless_given_one(tmp_path, name, recorded, given, asked):
    directory = _saved(tmp_path / "ckpt", **{name: recorded})
    parser = argparse.ArgumentParser()
    add_checkpoint_arguments(parser)
    argv = [f"--{name}", given] if asked else []
    args = parser.parse_args(joined_number_lists(["--checkpoint", str(directory), "--device", "cpu", *argv]))
    assert getattr(CheckpointChoice.from_args(args).load(), name) == (given if asked else recorded)


def test_recorded_settings_change_what_a_loaded_stylizer_does(tmp_path):
    # not just attributes: a folder saved with background="style" stylises white glass
    directory = _saved(tmp_path / "ckpt", mode="detail", background="style", colour_match=False)
    white = torch.ones(1, 3, 32, 32)
    style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    as_saved = hub.load_stylizer(directory, device="cpu", dtype=torch.float32)(white, style)
    told_to_keep = hub.load_stylizer(directory, device="cpu", dtype=torch.float32, background="keep")(white, style)
    assert torch.equal(told_to_keep, white)
    assert not torch.equal(as_saved, white)


def test_statistics_that_replace_recorded_ones_are_said(tmp_path, caplog):
    directory = _saved(tmp_path / "ckpt")
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.hub"):
        hub.load_stylizer(directory, device="cpu", mean=CAMELYON_MEAN, std=CAMELYON_STD)  # the same: nothing to say
        assert not caplog.records
        loaded = hub.load_stylizer(directory, device="cpu", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert loaded.mean.tolist() == [0.5, 0.5, 0.5]
    (record,) = caplog.records
    assert "replace the statistics" in record.getMessage() and "config.json" in record.getMessage()


def _float32_neighbour(value: float) -> float:
    """The next float32 above ``value``'s float32: a difference the Stylizer does hold."""
    return float(np.nextafter(np.float32(value), np.float32(1)))


@pytest.mark.parametrize(
    ("nudge", "said"),
    [
        (lambda v: v + 1e-12, False),  # below float32 precision: the statistics the model holds are the same
        (_float32_neighbour, True),  # one float32 step: other statistics
    ],
)
def test_statistics_are_compared_as_the_stylizer_holds_them(tmp_path, caplog, nudge, said):
    directory = _saved(tmp_path / "ckpt")
    mean = [nudge(v) for v in CAMELYON_MEAN]
    assert mean != list(CAMELYON_MEAN)  # in float64 they all differ
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        loaded = hub.load_stylizer(directory, device="cpu", mean=mean, std=CAMELYON_STD)
    replaced = [r for r in caplog.records if "replace the statistics" in r.getMessage()]
    assert bool(replaced) is said
    assert torch.equal(loaded.mean.flatten().float(), torch.tensor(mean, dtype=torch.float32))  # passed ones win


@pytest.mark.parametrize("given", [["--mean", "0.5", "0.5", "0.5"], ["--std", "0.2", "0.2", "0.2"]])
def test_the_cli_refuses_half_of_the_statistics(tmp_path, given):
    from stylizing_vit_aug.commands.common import CLIError

    parser = argparse.ArgumentParser()
    add_checkpoint_arguments(parser)
    args = parser.parse_args(joined_number_lists(["--device", "cpu", *given]))
    with pytest.raises(CLIError, match="--(mean|std) needs --(std|mean) too"):
        CheckpointChoice.from_args(args)


@pytest.mark.parametrize("where", ["the file", "a folder without its config.json"])
def test_a_folders_weights_file_alone_loads_with_the_saved_settings(tmp_path, where):
    """The weights file records the settings as config.json does (docs: it "loads alone ... as
    what it is"); it used to load with the library's defaults, silently."""
    saved = {"mode": "detail", "background": "style", "colour_match": False}
    weights = _saved(tmp_path / "ckpt", **saved) / "model.safetensors"
    if where != "the file":
        (tmp_path / "ckpt" / "config.json").unlink()
    source = weights if where == "the file" else weights.parent
    assert _settings_of(hub.load_stylizer(source, device="cpu")) == saved
    assert _settings_of(hub.load_stylizer(source, device="cpu", mode="resize")) == {**saved, "mode": "resize"}


def test_a_bare_models_weights_file_alone_loads_with_the_library_defaults(tmp_path):
    hub.save_pretrained(make_small_model(), tmp_path / "bare", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert _settings_of(hub.load_stylizer(tmp_path / "bare" / "model.safetensors", device="cpu")) == LIBRARY_DEFAULTS


def test_a_bad_setting_in_a_weights_files_record_names_the_file(tmp_path):
    from safetensors.torch import save_file

    from stylizing_vit_aug.checkpoints import record_metadata

    model = make_small_model()
    path = tmp_path / "odd.safetensors"
    metadata = record_metadata(model.config, list(CAMELYON_MEAN), list(CAMELYON_STD), {"mode": "fast"})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=metadata)
    with pytest.raises(hub.CorruptCheckpoint, match=r"'stylizer\.mode' in the 'stylizing_vit_aug' metadata of .*odd"):
        hub.load_stylizer(path, device="cpu")


def _record_beside_config(directory: Path, settings) -> Path:
    """A saved folder whose weights file's own record holds ``settings`` (config.json left as saved)."""
    from stylizing_vit_aug.checkpoints import RECORD_KEY, record_metadata

    model = make_small_model()
    record = json.loads(record_metadata(model.config, list(CAMELYON_MEAN), list(CAMELYON_STD))[RECORD_KEY])
    metadata = {RECORD_KEY: json.dumps({**record, "stylizer": settings})}
    save_file(state_of(model), str(directory / "model.safetensors"), metadata=metadata)
    return directory / "model.safetensors"


@pytest.mark.parametrize(
    ("settings", "says"),
    [({"mode": "fast"}, r"'stylizer\.mode' in the 'stylizing_vit_aug' metadata of .*model\.safetensors is 'fast'"),
     (["detail"], r"'stylizer' in the 'stylizing_vit_aug' metadata of .*model\.safetensors .* not a mapping")],
    ids=["unknown mode", "not a mapping"],
)
def test_a_bad_setting_in_a_folders_weights_record_is_corrupt_as_in_the_file_alone(tmp_path, settings, says):
    """Inside a folder the record's statistics were checked against config.json but its settings were
    ignored, so the same weights file was corrupt alone and loaded in its folder."""
    from stylizing_vit_aug.transforms._common import checked_source

    directory = _saved(tmp_path / "ckpt", mode="detail")
    weights = _record_beside_config(directory, settings)
    for source in (directory, weights):
        with pytest.raises(hub.CorruptCheckpoint, match=says):
            hub.load_stylizer(source, device="cpu")
        with pytest.raises(hub.CorruptCheckpoint, match=says):
            checked_source(str(source))  # a front-end's early check, alike


def test_a_folders_weights_record_with_good_settings_still_loads_as_config_json_says(tmp_path):
    directory = _saved(tmp_path / "ckpt", mode="detail")
    _record_beside_config(directory, {"mode": "resize", "background": "dark"})
    assert hub.load_stylizer(directory, device="cpu").mode == "detail"  # config.json decides, as before


def _saved_by_0_1_0(directory: Path) -> Path:
    """A folder as 0.1.0 wrote it (its save, read from its source): config.json without ``"stylizer"``, and a
    weights file whose metadata is ``{"format": "pt"}``, no record of ours."""
    hub.save_pretrained(make_small_model(), directory, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    save_file(state_of(make_small_model()), str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def _said_of_0_1_0(caplog, load) -> tuple[sva.Stylizer, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stylizing_vit_aug"):
        loaded = load()
    return loaded, [r.getMessage() for r in caplog.records if "saved by stylizing-vit-aug 0.1.0" in r.getMessage()]


def test_a_folder_saved_by_0_1_0_loads_with_todays_defaults_and_says_once_how_to_get_0_1_0s(tmp_path, caplog):
    """A folder records its weights and what settings it records; the defaults fill the rest, as for any
    folder (a pickled 0.1.0 Stylizer keeps 0.1.0's: it is that Stylizer). The loader tells such a folder by its
    weights file, which records nothing of ours, and says what 0.1.0 did and the call that does it again."""
    folder = _saved_by_0_1_0(tmp_path / "old")
    loaded, said = _said_of_0_1_0(caplog, lambda: sva.load_stylizer(folder, device="cpu"))
    assert _settings_of(loaded) == LIBRARY_DEFAULTS
    assert len(said) == 1 and "--background style --colour-match off" in said[0]
    advised = re.search(r"(load_stylizer\(.*\)) \(on the command line", said[0]).group(1)
    as_0_1_0 = eval(advised, {"load_stylizer": functools.partial(sva.load_stylizer, device="cpu")})
    assert _settings_of(as_0_1_0) == {**LIBRARY_DEFAULTS, **SETTINGS_0_1_0}
    assert as_0_1_0.source == loaded.source  # the advice names the folder


def test_folders_saved_today_and_the_bundled_default_are_not_said_to_be_0_1_0s(tmp_path, caplog):
    bare = hub.save_pretrained(make_small_model(), tmp_path / "bare", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    for load in (lambda: sva.load_stylizer(bare), lambda: sva.load_stylizer(_saved(tmp_path / "s")), sva.load_stylizer):
        assert _said_of_0_1_0(caplog, load)[1] == []
