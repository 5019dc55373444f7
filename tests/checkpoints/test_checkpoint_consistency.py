"""A checkpoint says one thing, or it is refused naming the file: an architecture lacking a field
is not filled from defaults; a config.json and its weights file that disagree on the statistics
are refused as they are on the architecture; a file holding two copies of the model is not read
as either; config.json's format_version and dtype say what the file is; and a config.json that
is not a file says so once.

The architecture's other checks and the fuzzers: test_checkpoint_validation.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, assert_same_weights, examples, make_small_model, state_of
from stylizing_vit_aug import hub
from stylizing_vit_aug.checkpoints import CheckpointError, CorruptCheckpoint, StateDictMismatch
from stylizing_vit_aug.model import ModelConfig

FIELDS = sorted(ModelConfig.__dataclass_fields__)
SIX_HEADS = dict(num_heads=6)  # 48 wide: the default num_heads (3) fits every tensor shape too
INFERABLE = dict(embed_dim=64, num_heads=1)  # a bare file's head count follows the 64-wide rule
FIXTURE_SETTINGS = settings(max_examples=examples(15), deadline=None,
                            suppress_health_check=[HealthCheck.function_scoped_fixture])


def save_without_record(directory: Path, model: sva.StylizingViT) -> Path:
    """A folder of ours whose weights file has no record of its own (an older save, another tool)."""
    hub.save_pretrained(model, directory, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    save_file(state_of(model), str(directory / "model.safetensors"))
    return directory


def rewrite_config(directory: Path, edit) -> Path:
    path = directory / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def six_heads(tmp_path_factory) -> tuple[Path, dict]:
    directory = save_without_record(tmp_path_factory.mktemp("six") / "ckpt", make_small_model(3, **SIX_HEADS))
    return directory, json.loads((directory / "config.json").read_text())


# -- 1: every architecture field is recorded, none defaulted ----------------------------------------
@FIXTURE_SETTINGS
@given(missing=st.sets(st.sampled_from(FIELDS), min_size=1))
def test_an_architecture_lacking_fields_is_corrupt_naming_the_file_and_every_field(six_heads, missing):
    directory, original = six_heads
    path = rewrite_config(directory, lambda c: c.update(
        architecture={k: v for k, v in original["architecture"].items() if k not in missing}))
    with pytest.raises(CorruptCheckpoint) as info:
        sva.load_stylizer(directory)
    message = str(info.value)
    assert str(path) in message and "lacks" in message
    assert all(name in message for name in missing)


def test_the_whole_architecture_still_loads_with_its_head_count(six_heads):
    directory, original = six_heads
    rewrite_config(directory, lambda c: c.update(original))
    assert sva.load_stylizer(directory).model.config.num_heads == 6


# -- 2: config.json and the weights file agree on the statistics --------------------------------------
@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory) -> tuple[Path, dict]:
    directory = hub.save_pretrained(make_small_model(4), tmp_path_factory.mktemp("stats") / "ckpt",
                                    mean=CAMELYON_MEAN, std=CAMELYON_STD)
    return directory, json.loads((directory / "config.json").read_text())


def float32s(values) -> list:
    return np.asarray(values, dtype=np.float32).tolist()


@FIXTURE_SETTINGS
@given(
    which=st.sampled_from(["mean", "std"]),
    channel=st.integers(0, 2),
    nudge=st.sampled_from([0.0, 1e-9, -1e-9, 1e-6, -1e-3, 0.01]),
)
def test_config_json_and_its_weights_file_must_agree_on_the_statistics_in_float32(saved_folder, which, channel,
                                                                                   nudge):
    directory, original = saved_folder
    edited = list(original[which])
    edited[channel] += nudge  # 1e-9 is below float32's resolution here: the same statistics
    path = rewrite_config(directory, lambda c: c.update({**original, which: edited}))
    if float32s(edited) == float32s(original[which]):
        loaded = sva.load_stylizer(directory)
        assert getattr(loaded, which).tolist() == float32s(original[which])
        return
    with pytest.raises(CorruptCheckpoint) as info:
        sva.load_stylizer(directory)
    message = str(info.value)
    assert str(directory / "model.safetensors") in message and "config.json" in message
    assert f"{which}=" in message and "statistics" in message
    # passing both chooses, so nothing recorded is used; the file alone loads as what it records
    chosen = sva.load_stylizer(directory, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert chosen.mean.tolist() == float32s(CAMELYON_MEAN)
    assert sva.load_stylizer(path.parent / "model.safetensors").mean.tolist() == float32s(original["mean"])


@pytest.mark.parametrize("lacking", ["mean", "std"])
def test_a_config_json_recording_one_statistic_loads_with_the_other_passed(tmp_path, lacking):
    """What config.json records is read once, by one rule: a config that lacks one statistic is no
    contradiction of its weights (it was refused as saying ``std=None``); the passed one fills it in,
    and the source records no statistics of its own, so a pipeline carries what was passed."""
    directory = hub.save_pretrained(make_small_model(4), tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    rewrite_config(directory, lambda c: c.pop(lacking))
    passed = {"mean": CAMELYON_MEAN, "std": CAMELYON_STD}[lacking]
    loaded = sva.load_stylizer(directory, **{lacking: passed})
    assert getattr(loaded, lacking).tolist() == float32s(passed)
    assert loaded.source_settings[lacking] is None  # not recorded by the source: what was passed is carried


def _record_of(directory: Path, channels: int, mean: list, std: list) -> None:
    """The folder's weights file again, its own record holding ``mean``/``std`` (config.json left as it is)."""
    from stylizing_vit_aug.checkpoints import record_metadata

    model = make_small_model(4, in_chans=channels)
    save_file(state_of(model), str(directory / "model.safetensors"), metadata=record_metadata(model.config, mean, std))


@pytest.mark.parametrize(
    ("config_json", "record"),
    [(([0.5], [0.25]), ([0.5] * 3, [0.25] * 3)), (([0.5] * 3, [0.25] * 3), ([0.5], [0.25])),
     (([0.5], [0.25, 0.25, 0.25]), ([0.5, 0.5, 0.5], [0.25]))],
    ids=["config one value", "record one value", "mixed"],
)
def test_one_value_agrees_with_a_record_of_it_for_every_channel(tmp_path, caplog, config_json, record):
    """One value is every channel's, as the Stylizer uses it (docs: compared as the float32 values the Stylizer
    uses): it was refused against three as statistics that differ, though it loaded without the record."""
    directory = hub.save_pretrained(make_small_model(4), tmp_path / "ckpt", mean=[0.5] * 3, std=[0.25] * 3)
    _record_of(directory, 3, *record)
    rewrite_config(directory, lambda c: c.update(mean=config_json[0], std=config_json[1]))
    loaded = sva.load_stylizer(directory, device="cpu")
    assert loaded.mean.tolist() == [0.5] * 3 and loaded.std.tolist() == [0.25] * 3
    with caplog.at_level("WARNING"):  # passing them as one value replaces nothing either
        sva.load_stylizer(directory / "model.safetensors", device="cpu", mean=[0.5], std=[0.25])
    assert "replace the statistics" not in caplog.text


def test_one_value_still_differs_from_another_or_from_more_than_the_model_has(tmp_path):
    directory = hub.save_pretrained(make_small_model(4), tmp_path / "rgb", mean=[0.5] * 3, std=[0.25] * 3)
    rewrite_config(directory, lambda c: c.update(mean=[0.4], std=[0.25]))
    with pytest.raises(CorruptCheckpoint) as info:
        sva.load_stylizer(directory, device="cpu")
    message = str(info.value)
    assert "records the statistics mean=[0.5, 0.5, 0.5]" in message and "mean=[0.4]" in message
    assert "which was edited or belongs to other weights, says" in message
    gray = hub.save_pretrained(make_small_model(4, in_chans=1), tmp_path / "gray", mean=[0.5], std=[0.25])
    _record_of(gray, 1, [0.5] * 3, [0.25] * 3)  # three values are no 1-channel model's: not one broadcast
    with pytest.raises(CorruptCheckpoint, match="records the statistics mean=.0.5, 0.5, 0.5.*says mean=.0.5."):
        sva.load_stylizer(gray, device="cpu")


# -- 3: one copy of the model per file ----------------------------------------------------------------
@pytest.mark.parametrize(("first", "second"), [("module.", "model."), ("", "model."), ("model.", "model._orig_mod.")])
def test_a_file_with_two_copies_of_the_model_is_refused_naming_the_prefixes(tmp_path, first, second):
    one, other = state_of(make_small_model(5)), state_of(make_small_model(6))
    path = tmp_path / "two.safetensors"
    save_file({**{first + k: v for k, v in one.items()}, **{second + k: v for k, v in other.items()}}, str(path))
    with pytest.raises(StateDictMismatch) as info:
        sva.load_stylizer(path, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    message = str(info.value)
    assert str(path) in message and "2 copies" in message
    assert repr(second) in message and (repr(first) if first else "no prefix") in message


def test_one_wrapped_copy_beside_other_tensors_still_loads(tmp_path):
    model = make_small_model(7, **INFERABLE)
    state = {f"state_dict.{k}": v for k, v in state_of(model).items()}
    state["optimizer.state.0.exp_avg"] = torch.zeros(3)
    save_file(state, str(tmp_path / "one.safetensors"))
    loaded = sva.load_stylizer(tmp_path / "one.safetensors", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert_same_weights(loaded.model, state_of(model))


# -- 6c, 6d: config.json's format_version, and one piece of advice ------------------------------------
@pytest.mark.parametrize("version", [1.0, "1", -3, 0, True, None])
def test_a_format_version_that_is_no_whole_number_from_1_is_corrupt_saying_what_it_is(saved_folder, version):
    directory, original = saved_folder
    path = rewrite_config(directory, lambda c: c.update({**original, "format_version": version}))
    with pytest.raises(CorruptCheckpoint) as info:
        sva.load_stylizer(directory)
    message = str(info.value)
    assert str(path) in message and f"format_version {version!r}" in message and "newer" not in message


def test_a_newer_format_version_asks_for_an_upgrade(saved_folder):
    directory, original = saved_folder
    rewrite_config(directory, lambda c: c.update({**original, "format_version": 2}))
    with pytest.raises(CheckpointError, match="newer than this library reads") as info:
        sva.load_stylizer(directory)
    assert not isinstance(info.value, CorruptCheckpoint)
    rewrite_config(directory, lambda c: c.update(original))


@pytest.mark.parametrize("kind", ["folder", "pipe"])
def test_a_config_json_that_is_not_a_file_says_so_and_gives_its_advice_once(tmp_path, kind):
    directory = hub.save_pretrained(make_small_model(8), tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    path = directory / "config.json"
    path.unlink()
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    with pytest.raises(CorruptCheckpoint) as info:
        sva.load_stylizer(directory)
    message = str(info.value)
    assert str(path) in message and "not a regular file" in message
    assert message.lower().count("save the checkpoint again") == 1


# -- 7: the dtype config.json records is the one written ------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("half", [False, True])
def test_the_dtype_config_json_records_is_the_dtype_of_every_tensor_written(tmp_path, dtype, half):
    model = make_small_model(9).to(dtype)
    directory = hub.save_pretrained(model, tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD, half=half)
    recorded = json.loads((directory / "config.json").read_text())["dtype"]
    with safe_open(str(directory / "model.safetensors"), framework="pt") as handle:
        written = {handle.get_slice(key).get_dtype() for key in handle.keys()}  # noqa: SIM118
    assert written == {"F16" if half else "F32"} and recorded == ("float16" if half else "float32")
    loaded = sva.load_stylizer(directory).model
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor.to(torch.float16 if half else torch.float32).float())


def test_float64_weights_beyond_float32_are_refused_not_loaded_as_inf(tmp_path):
    state = {k: v.double() for k, v in state_of(make_small_model(10, **INFERABLE)).items()}
    state["encoder.cls_token"][..., 0] = 1e300  # finite in float64, Inf in the float32 model
    save_file(state, str(tmp_path / "f64.safetensors"))
    with pytest.raises(CorruptCheckpoint) as info:
        sva.load_stylizer(tmp_path / "f64.safetensors", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert str(tmp_path / "f64.safetensors") in str(info.value) and "encoder.cls_token" in str(info.value)


def test_a_model_whose_weights_overflow_the_saved_dtype_is_not_saved(tmp_path):
    model = make_small_model(11).double()
    with torch.no_grad():
        model.encoder.cls_token.fill_(1e300)
    with pytest.raises(ValueError, match="encoder.cls_token"):
        hub.save_pretrained(model, tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert not (tmp_path / "ckpt").exists()
