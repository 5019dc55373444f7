"""What a user relies on when loading a checkpoint: our own saved checkpoints always load, whatever
their header length; pickles are refused without being opened; a damaged or forged header or
config.json is refused *before* anything is allocated, with a CheckpointError naming the file
(and the field); and a fuzzer over headers and configs finds nothing else (no allocator error,
no bare ValueError, no gigabytes)."""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import resource
import struct
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, examples
from stylizing_vit_aug import cli
from stylizing_vit_aug import model as model_module
from stylizing_vit_aug.bank.storage import FILE_FORMAT, BankFileError, read_bank_info
from stylizing_vit_aug.checkpoints import (
    MAX_PARAMETERS,
    CheckpointError,
    CorruptCheckpoint,
    StateDictMismatch,
    UnsafeCheckpointFormat,
    expected_shapes,
    parameter_count,
    read_state_dict,
)
from stylizing_vit_aug.model import ModelConfig, count_parameters
from stylizing_vit_aug.train import training_state

TINY = {"img_size": 16, "patch_size": 8, "in_chans": 3, "embed_dim": 12, "depth": 1, "num_heads": 3, "mlp_ratio": 2.0}
GIB = 2**30


@pytest.fixture(autouse=True)
def _quiet_models(caplog):
    """Tiny test models cannot decode; their construction warning is noise here."""
    caplog.set_level(logging.ERROR, logger="stylizing_vit_aug.model")


@st.composite
def architectures(draw, max_depth: int = 12) -> dict:
    """Small but varied architectures (every field moves the header length)."""
    patch = draw(st.sampled_from([4, 8]))
    heads = draw(st.integers(1, 4))
    return {
        "img_size": patch * draw(st.integers(1, 4)),
        "patch_size": patch,
        "in_chans": draw(st.sampled_from([1, 3])),  # the channel counts a Stylizer runs (test_model_channels.py)
        "embed_dim": heads * draw(st.sampled_from([4, 8, 16])),
        "depth": draw(st.integers(1, max_depth)),
        "num_heads": heads,
        "mlp_ratio": draw(st.sampled_from([1.0, 2.0, 2.5, 4.0])),
    }


def safetensors_bytes(
    entries: dict[str, tuple[str, list[int]]], data: bytes, metadata: dict | None = None,
    header_length: int | None = None, offsets: dict[str, list] | None = None,
) -> bytes:
    """A safetensors file built by hand, so that headers can be padded, forged and broken."""
    header: dict = {"__metadata__": metadata} if metadata is not None else {}
    position = 0
    for name, (dtype, shape) in entries.items():
        size = math.prod(shape) * {"F32": 4, "F16": 2, "U8": 1, "I64": 8}.get(dtype, 4)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [position, position + size]}
        position += size
    for name, value in (offsets or {}).items():
        header.setdefault(name, {})["data_offsets"] = value
    text = json.dumps(header).encode()
    if header_length is not None:
        text = text.ljust(header_length)  # JSON allows trailing spaces; safetensors pads the same way
    return struct.pack("<Q", len(text)) + text + data


def state_entries(state: dict[str, torch.Tensor]) -> tuple[dict[str, tuple[str, list[int]]], bytes]:
    entries = {k: ("F32", list(v.shape)) for k, v in state.items()}
    data = b"".join(v.contiguous().numpy().tobytes() for v in state.values())
    return entries, data


def save_checkpoint(directory: Path, **arch) -> sva.Stylizer:
    torch.manual_seed(0)
    model = sva.StylizingViT(**arch)
    channels = arch.get("in_chans", 3)
    stylizer = sva.Stylizer(model, (0.5,) * channels, (0.25,) * channels)
    stylizer.save_pretrained(directory)
    return stylizer


def assert_same(loaded: sva.Stylizer, saved: sva.Stylizer) -> None:
    assert loaded.config == saved.config
    expected = saved.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.model.state_dict().items())


# -- 1. our own checkpoints load, pickles do not ------------------------------------------------
def test_the_reported_depth_5_checkpoint_loads(tmp_path):
    # its header length, 0x80 = pickle's first byte, was refused; the file now records more in its
    # header (test_a_header_length_that_starts_like_a_pickle_is_still_safetensors keeps that case)
    saved = save_checkpoint(tmp_path / "d5", img_size=112, patch_size=8, embed_dim=192, depth=5, num_heads=3)
    assert_same(sva.load_stylizer(tmp_path / "d5"), saved)


@settings(max_examples=examples(25))
@given(arch=architectures())
def test_our_saved_checkpoints_load_for_any_architecture(tmp_path_factory, arch):
    directory = tmp_path_factory.mktemp("saved")
    saved = save_checkpoint(directory, **arch)
    assert_same(sva.load_stylizer(directory), saved)


@pytest.mark.parametrize("length", [0x80, 0x280, 0x380, 0x480, 0x580, 0x1380, 0x8080])
def test_a_header_length_that_starts_like_a_pickle_is_still_safetensors(tmp_path, length):
    """0x80 followed by 2..5 is how pickle protocols 2-5 open: a valid header decides, not a byte."""
    tensors = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    entries, data = state_entries(tensors)
    path = tmp_path / "padded.safetensors"
    path.write_bytes(safetensors_bytes(entries, data, header_length=length))
    assert path.read_bytes()[:2] == struct.pack("<Q", length)[:2]
    assert torch.equal(read_state_dict(path)["w"], tensors["w"])


@pytest.mark.parametrize("length", [0x128, 0x15D, 0x17D, 0x163, 0x280, 0x580])
def test_a_truncated_safetensors_file_that_starts_like_a_pickle_is_corrupt_not_unsafe(tmp_path, length):
    """A header length whose first byte is a protocol-0/1 pickle opener (``(``, ``]``, ``}``, ``c``) or whose first
    two are protocol 2-5's: cut short, the file was refused as a pickle and the user told it could run code."""
    tensors = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    entries, data = state_entries(tensors)
    path = tmp_path / "cut.safetensors"
    path.write_bytes(safetensors_bytes(entries, data, header_length=length)[: length // 2])
    with pytest.raises(CorruptCheckpoint, match="truncated") as info:
        read_state_dict(path)
    assert str(path) in str(info.value)


def _pickles(tmp_path: Path) -> dict[str, bytes]:
    state = {"w": torch.zeros(2)}
    zipped, legacy = tmp_path / "zip.pt", tmp_path / "legacy.pt"
    torch.save(state, zipped)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    files = {"torch-zip": zipped.read_bytes(), "torch-legacy": legacy.read_bytes()}
    files.update({f"pickle-{p}": pickle.dumps({"w": [0.0, 1.0]}, protocol=p) for p in range(6)})
    return files


def test_pickles_and_torch_save_archives_are_refused_unopened(tmp_path, monkeypatch):
    files = _pickles(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("a checkpoint must never be unpickled")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    for name, content in files.items():
        directory = tmp_path / name
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(content)
        with pytest.raises(UnsafeCheckpointFormat, match="arbitrary code") as info:
            sva.load_stylizer(directory, mean=CAMELYON_MEAN, std=CAMELYON_STD)
        assert str(directory / "model.safetensors") in str(info.value), name


def test_garbage_that_is_no_pickle_is_called_corrupt_not_unsafe(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(b"\x80\x13" + bytes(range(200)))  # 0x80 but no pickle protocol, no valid header
    with pytest.raises(CorruptCheckpoint, match="not a safetensors file") as info:
        read_state_dict(path)
    assert str(path) in str(info.value)


# -- 2. nothing is allocated before the header and config are checked ----------------------------
@pytest.fixture
def no_model_is_built(monkeypatch):
    """Fails the test if a StylizingViT is constructed: the error must come before."""
    def forbidden(self, *args, **kwargs):
        raise AssertionError("the model was built before the checkpoint was validated")

    monkeypatch.setattr(model_module.StylizingViT, "__init__", forbidden)


def edit_config(directory: Path, **architecture) -> Path:
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config["architecture"].update(architecture)
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("depth", 1_000_000, "depth"),
        ("embed_dim", 10**9, "embed_dim"),
        ("img_size", 10**6, "img_size"),
        ("mlp_ratio", 1e7, "parameters"),
        ("mlp_ratio", float("nan"), "mlp_ratio"),
        ("mlp_ratio", float("inf"), "mlp_ratio"),
        ("mlp_ratio", 1e308, "mlp_ratio"),  # finite, but embed_dim times it is not
        ("mlp_ratio", 0.001, "mlp_ratio"),  # no hidden unit
        ("depth", 0, "depth"),
        ("depth", 4.0, "depth"),
        ("num_heads", True, "num_heads"),
        ("patch_size", "8", "patch_size"),
    ],
)
def test_absurd_config_values_are_refused_before_anything_is_built(tmp_path, no_model_is_built, field, value, says):
    save_dir = tmp_path / "ckpt"
    write_tiny_checkpoint(save_dir)
    config = edit_config(save_dir, **{field: value})
    start = time.perf_counter()
    with pytest.raises(CorruptCheckpoint, match=says) as info:
        sva.load_stylizer(save_dir)
    assert str(config) in str(info.value)
    assert time.perf_counter() - start < 2


def test_a_config_of_ours_without_its_architecture_is_corrupt_not_foreign(tmp_path, no_model_is_built, caplog):
    write_tiny_checkpoint(tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "config.json"
    config = json.loads(path.read_text())
    del config["architecture"]
    path.write_text(json.dumps(config))
    with pytest.raises(CorruptCheckpoint, match="has no architecture") as info:
        sva.load_stylizer(tmp_path / "ckpt")
    assert str(path) in str(info.value) and "was not written by" not in caplog.text


@pytest.mark.parametrize("dtype", ["float128", "int8", None])
def test_a_config_naming_a_dtype_we_never_save_is_corrupt(tmp_path, no_model_is_built, dtype):
    write_tiny_checkpoint(tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "dtype": dtype}))
    with pytest.raises(CorruptCheckpoint, match=f"says its weights are {dtype!r}") as info:
        sva.load_stylizer(tmp_path / "ckpt")
    assert str(path) in str(info.value)


def test_a_config_whose_dtype_is_not_what_its_weights_hold_is_corrupt(tmp_path, no_model_is_built):
    """config.json's dtype says what the file holds: float16 beside float32 weights was loaded
    without a word (an edited config.json, or one beside other weights)."""
    write_tiny_checkpoint(tmp_path / "ckpt")  # float32 weights
    path = tmp_path / "ckpt" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "dtype": "float16"}))
    with pytest.raises(CorruptCheckpoint, match=r"says its weights are 'float16' \(F16\).*holds F32 tensors") as info:
        sva.load_stylizer(tmp_path / "ckpt")
    assert str(path) in str(info.value) and str(tmp_path / "ckpt" / "model.safetensors") in str(info.value)
    assert "move config.json away" in str(info.value)


def test_a_half_checkpoint_whose_config_says_float32_is_corrupt(tmp_path, small_stylizer):
    small_stylizer.save_pretrained(tmp_path / "half", half=True)
    path = tmp_path / "half" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "dtype": "float32"}))
    with pytest.raises(CorruptCheckpoint, match=r"says its weights are 'float32' \(F32\).*holds F16 tensors"):
        sva.load_stylizer(tmp_path / "half")


def test_a_half_checkpoint_records_its_dtype_and_loads(tmp_path, small_stylizer):
    small_stylizer.save_pretrained(tmp_path / "half", half=True)
    assert json.loads((tmp_path / "half" / "config.json").read_text())["dtype"] == "float16"
    assert sva.load_stylizer(tmp_path / "half").model.config == small_stylizer.model.config


def write_tiny_checkpoint(directory: Path) -> None:
    """A saved checkpoint of the TINY architecture, written without building a model (so the
    tests that forbid building can make one)."""
    entries, data = state_entries(expected_state(ModelConfig(**TINY)))
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(safetensors_bytes(entries, data, metadata={"format": "pt"}))
    (directory / "config.json").write_text(json.dumps({
        "architecture": TINY, "mean": [0.5] * 3, "std": [0.25] * 3, "library": "stylizing-vit-aug",
        "format_version": 1,
    }))


def expected_state(config: ModelConfig) -> dict[str, torch.Tensor]:
    return {k: torch.full(shape, 0.01) for k, shape in expected_shapes(config).items()}


def test_a_plausible_config_that_the_weights_do_not_fit_is_refused_before_building(tmp_path, no_model_is_built):
    write_tiny_checkpoint(tmp_path / "ckpt")
    edit_config(tmp_path / "ckpt", depth=1000)  # within the limits, 0.15 M parameters: only the header can tell
    with pytest.raises(StateDictMismatch, match=r"missing keys \(15984\)") as info:
        sva.load_stylizer(tmp_path / "ckpt")
    assert str(tmp_path / "ckpt" / "model.safetensors") in str(info.value)


def test_a_header_claiming_huge_tensors_is_refused_without_reading_them(tmp_path, no_model_is_built):
    entries, data = state_entries(expected_state(ModelConfig(**TINY)))
    entries["encoder.pos_embed"] = ("F32", [1, 10**6, 10**6])
    path = tmp_path / "forged.safetensors"
    path.write_bytes(safetensors_bytes(entries, data))
    with pytest.raises(CorruptCheckpoint, match="needs|holds") as info:
        sva.load_stylizer(path, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert str(path) in str(info.value)


def test_the_parameter_limit_is_about_eight_gigabytes_and_the_presets_are_far_below():
    assert MAX_PARAMETERS * 4 <= 8 * 10**9
    assert parameter_count(ModelConfig(embed_dim=1024, depth=24, num_heads=16)) < MAX_PARAMETERS / 5


@settings(max_examples=examples(40))
@given(arch=architectures(max_depth=3))
def test_expected_shapes_and_parameter_count_are_the_model_s(arch):
    model = sva.StylizingViT(**arch)
    assert expected_shapes(model.config) == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert parameter_count(model.config) == count_parameters(model)


def training_checkpoint(path: Path, arch: dict = TINY) -> Path:
    torch.manual_seed(0)
    model = sva.StylizingViT(**arch)
    # an AdamW state by hand: importing torch.optim costs seconds (dynamo) on a loaded machine
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(1, 1, arch["embed_dim"])}},
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]}
    return training_state.write_training_checkpoint(
        path, model_state=model.state_dict(), optimizer_state=optimizer, scheduler_state={},
        trainer_state={"step": 3, "architecture": arch, "mean": [0.5] * 3, "std": [0.25] * 3},
    )


def with_record(content: bytes, edit) -> bytes:
    """A training checkpoint's bytes with its JSON record changed by ``edit``, tensors kept."""
    length = struct.unpack("<Q", content[:8])[0]
    header = json.loads(content[8 : 8 + length])
    document = json.loads(header["__metadata__"][training_state.META_KEY])
    edit(document)
    header["__metadata__"][training_state.META_KEY] = json.dumps(document)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + content[8 + length :]


def rewrite_record(path: Path, edit) -> None:
    path.write_bytes(with_record(path.read_bytes(), edit))


def test_training_checkpoints_round_trip_and_a_forged_depth_is_refused_before_building(tmp_path, monkeypatch):
    path = training_checkpoint(tmp_path / "last.safetensors")
    state = training_state.read_training_checkpoint(path)
    assert state["trainer"]["step"] == 3 and set(state["model"]) == set(expected_shapes(ModelConfig(**TINY)))
    rewrite_record(path, lambda doc: doc["trainer"]["architecture"].update(depth=1_000_000))
    monkeypatch.setattr(model_module.StylizingViT, "__init__", lambda *a, **k: pytest.fail("built"))
    start = time.perf_counter()
    with pytest.raises(training_state.TrainingCheckpointError, match="depth") as info:
        training_state.read_training_checkpoint(path)
    assert str(path) in str(info.value) and isinstance(info.value, CheckpointError)
    assert time.perf_counter() - start < 2
    rewrite_record(path, lambda doc: doc["trainer"]["architecture"].update(depth=2))
    with pytest.raises(training_state.TrainingCheckpointError, match="missing keys") as info:
        training_state.read_training_checkpoint(path)
    assert str(path) in str(info.value)


# -- 13. files that are not files, fields that are not numbers -----------------------------------
@pytest.mark.skipif(not os.path.exists("/dev/urandom"), reason="needs /dev/urandom")
def test_a_weights_file_linked_to_a_device_is_named_as_not_a_regular_file(tmp_path):
    directory = tmp_path / "ckpt"
    write_tiny_checkpoint(directory)
    (directory / "model.safetensors").unlink()
    (directory / "model.safetensors").symlink_to("/dev/urandom")
    with pytest.raises(CorruptCheckpoint, match="character device .*, not a regular file") as info:
        sva.load_stylizer(directory)
    assert str(directory / "model.safetensors") in str(info.value) and "/dev/urandom" in str(info.value)
    (tmp_path / "bare.safetensors").symlink_to("/dev/urandom")
    with pytest.raises(CorruptCheckpoint, match="not a valid safetensors file"):
        sva.load_stylizer(tmp_path / "bare.safetensors", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    (directory / "config.json").unlink()
    (directory / "config.json").symlink_to("/dev/zero")
    with pytest.raises(CorruptCheckpoint, match="not a regular file") as info:
        sva.load_stylizer(directory)
    assert str(directory / "config.json") in str(info.value)


def bank_bytes(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> bytes:
    entries = {}
    data = b""
    for name, tensor in tensors.items():
        entries[name] = ({torch.uint8: "U8", torch.float32: "F32"}[tensor.dtype], list(tensor.shape))
        data += tensor.contiguous().numpy().tobytes()
    return safetensors_bytes(entries, data, metadata={"format": FILE_FORMAT, "version": "1", **metadata})


IMAGES = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)


@pytest.mark.parametrize(
    ("metadata", "tensors", "says"),
    [
        ({}, {"pixels": IMAGES}, "no 'images' tensor"),
        ({}, {"images": torch.zeros(2, 4, 4, dtype=torch.uint8)}, "images are U8 [2, 4, 4]"),
        ({}, {"images": IMAGES.float()}, "images are F32"),
        ({"config": "{not json"}, {"images": IMAGES}, "'config' metadata is not JSON"),
        ({"domains": '[{"a": 1}, "b"]'}, {"images": IMAGES}, "'domains' metadata"),
        ({"domains": '["a"]'}, {"images": IMAGES}, "'domains' metadata is not 2 labels"),
    ],
)
def test_bank_info_on_a_malformed_bank_names_the_file_and_the_problem(tmp_path, capsys, metadata, tensors, says):
    path = tmp_path / "bank.safetensors"
    path.write_bytes(bank_bytes(metadata, tensors))
    assert cli.main(["bank", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and says in err, err


def test_bank_info_reads_a_well_formed_header_without_reading_tensors(tmp_path):
    path = tmp_path / "bank.safetensors"
    config = {"img_size": 4, "in_chans": 3}
    path.write_bytes(bank_bytes({"config": json.dumps(config), "domains": '["a", "b"]', "source": '"x"'},
                                {"images": IMAGES}))
    info = read_bank_info(path)
    assert info["images"] == [2, 3, 4, 4] and info["streams"] is None
    assert info["config"] == config and info["domains"] == ["a", "b"] and info["source"] == "x"
    with pytest.raises(BankFileError, match="not a style bank file"):
        path.write_bytes(safetensors_bytes({"images": ("U8", [1])}, b"\0"))
        read_bank_info(path)


# -- the fuzzer ---------------------------------------------------------------------------------
FIELDS = list(ModelConfig.__dataclass_fields__)
ODD_VALUES = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2, 3, 4, 8, 16, 1000, 10**6, 10**9, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.none(), st.booleans(),
    st.lists(st.integers(0, 4), max_size=2),
)
DTYPES = st.sampled_from(["F32", "F16", "BF16", "F64", "U8", "I64", "BOOL", "C64", "X9", 3, None])
SHAPES = st.one_of(
    st.lists(st.integers(0, 2**20), max_size=4),
    st.lists(st.sampled_from([0, 1, 10**6, 2**40, 2**64, -1]), max_size=3),
    st.sampled_from([None, "12", [1.5], [[1]]]),
)


@st.composite
def damaged_checkpoints(draw) -> tuple[bytes, str]:
    """(model.safetensors, config.json) of a tiny checkpoint with fuzzed header and config."""
    arch = dict(TINY, depth=draw(st.integers(1, 2)), in_chans=draw(st.sampled_from([1, 3])))
    config = {"architecture": dict(arch), "mean": [0.5] * arch["in_chans"], "std": [0.25] * arch["in_chans"],
              "library": "stylizing-vit-aug", "format_version": 1}
    for _ in range(draw(st.integers(0, 2))):
        config["architecture"][draw(st.sampled_from(FIELDS))] = draw(ODD_VALUES)
    shapes = expected_shapes(ModelConfig(**arch))
    entries: dict[str, tuple] = {k: ("F32", list(v)) for k, v in shapes.items()}
    names = sorted(entries)
    for name in draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        kind = draw(st.sampled_from(["shape", "dtype", "drop", "extra", "entry"]))
        if kind == "shape":
            entries[name] = (entries[name][0], draw(SHAPES))
        elif kind == "dtype":
            entries[name] = (draw(DTYPES), entries[name][1])
        elif kind == "drop":
            entries.pop(name, None)
        elif kind == "extra":
            entries[draw(st.sampled_from(["encoder.blocks.7.x", "module.x", "x" * 300, "__metadata__"]))] = ("F32", [1])
        else:
            entries[name] = draw(st.sampled_from([None, 7, "F32", []]))
    # the data the (possibly changed) entries need, when that is small; else the original size
    header, needed = _header_json(entries, draw(st.booleans()))
    original = 4 * sum(math.prod(s) for s in shapes.values())
    data_size = needed if needed is not None and needed <= 2**20 else original
    data_size = max(0, data_size + draw(st.sampled_from([0, 0, 0, -4, 4, -1])))
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.binary(max_size=40))
    elif draw(st.integers(0, 9)) == 0:
        header = header[: draw(st.integers(0, len(header)))]
    length = len(header)
    if draw(st.integers(0, 5)) == 0:
        length = draw(st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0x80, 0x280, 2**24, len(header) + 1])))
    weights = struct.pack("<Q", length) + header + bytes(data_size)
    if draw(st.integers(0, 9)) == 0:
        weights = weights[: draw(st.integers(0, len(weights)))]
    text = json.dumps(config) if draw(st.integers(0, 19)) else draw(st.text(max_size=20))
    return weights, text


def _nbytes(entry) -> int | None:
    """The bytes a (dtype, shape) entry needs, or None when it is not a valid entry."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "U8": 1, "I64": 8, "BOOL": 1, "C64": 8}
    if not isinstance(entry, tuple) or entry[0] not in sizes or not isinstance(entry[1], list):
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in entry[1]):
        return None
    return math.prod(entry[1]) * sizes[entry[0]]


def _header_json(entries: dict, with_metadata: bool) -> tuple[bytes, int | None]:
    """The JSON header of ``entries`` (invalid ones written as they are, with empty offsets) and
    the data bytes the valid ones need (None when any is invalid)."""
    header: dict = {"__metadata__": {"format": "pt"}} if with_metadata else {}
    position, valid = 0, True
    for name, entry in entries.items():
        size = _nbytes(entry)
        if size is None:
            valid = False
            if isinstance(entry, tuple):
                entry = {"dtype": entry[0], "shape": entry[1], "data_offsets": [0, 0]}
            header[name] = entry
            continue
        header[name] = {"dtype": entry[0], "shape": entry[1], "data_offsets": [position, position + size]}
        position += size
    return json.dumps(header).encode(), position if valid else None


@pytest.fixture(scope="module")
def peak_before_fuzzing() -> int:
    """This process's peak resident size before the fuzzers (bytes; Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture(scope="module")
def build_spy(peak_before_fuzzing):
    """Records the parameter count of every model the loader builds."""
    built: list[int] = []
    original = model_module.StylizingViT.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(count_parameters(self))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_module.StylizingViT, "__init__", spy)
        yield built


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "ckpt"


@settings(max_examples=examples(600))
@given(case=damaged_checkpoints())
def test_fuzzed_checkpoint_headers_load_or_raise_a_checkpoint_error_naming_the_file(fuzz_dir, build_spy, case):
    weights, config = case
    fuzz_dir.mkdir(exist_ok=True)
    (fuzz_dir / "model.safetensors").write_bytes(weights)
    (fuzz_dir / "config.json").write_text(config)
    try:
        sva.load_stylizer(fuzz_dir)
    except CheckpointError as error:
        assert str(fuzz_dir) in str(error), f"{type(error).__name__} without the file: {error}"
    assert all(count * 4 < GIB for count in build_spy)


@st.composite
def damaged_training_records(draw) -> dict:
    arch = dict(TINY)
    for _ in range(draw(st.integers(0, 2))):
        arch[draw(st.sampled_from(FIELDS))] = draw(ODD_VALUES)
    step = draw(st.sampled_from([3, -1, "3", None, 2**70]))
    trainer = {"step": step, "architecture": arch, "mean": [0.5] * 3, "std": [0.25] * 3}
    if draw(st.integers(0, 5)) == 0:
        trainer.pop(draw(st.sampled_from(sorted(trainer))))
    return {"trainer": trainer, "scheduler": draw(st.sampled_from([{}, None, [1]])),
            "optimizer_groups": draw(st.sampled_from(["keep", None, [1], "drop"]))}


@pytest.fixture(scope="module")
def training_file(tmp_path_factory) -> tuple[Path, bytes]:
    path = training_checkpoint(tmp_path_factory.mktemp("train") / "last.safetensors")
    return path, path.read_bytes()


@settings(max_examples=examples(300))
@given(record=damaged_training_records())
def test_fuzzed_training_records_load_or_raise_a_checkpoint_error_naming_the_file(training_file, build_spy, record):
    path, pristine = training_file

    def edit(document: dict) -> None:
        document["trainer"] = record["trainer"]
        document["scheduler"] = record["scheduler"]
        groups = record["optimizer_groups"]
        if groups == "drop":
            document.pop("optimizer")
        elif groups != "keep":
            document["optimizer"]["param_groups"] = groups

    path.write_bytes(with_record(pristine, edit))
    built = len(build_spy)
    try:
        training_state.read_training_checkpoint(path)
    except CheckpointError as error:
        assert str(path) in str(error), f"{type(error).__name__} without the file: {error}"
    assert len(build_spy) == built  # reading a training checkpoint builds no model


def test_the_fuzzers_never_grew_the_process_by_a_gigabyte(peak_before_fuzzing):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak - peak_before_fuzzing < GIB


def test_float8_weights_are_refused_as_float8_not_as_not_floating_point(tmp_path, small_stylizer):
    """float8 is floating point: "tensor(s) that are not floating point" sent the user looking for integers."""
    from safetensors.torch import save_file

    from stylizing_vit_aug.checkpoints.reading import load_model_file

    state = {k: v.contiguous() for k, v in small_stylizer.model.state_dict().items()}
    name = sorted(state)[0]
    state[name] = state[name].to(torch.float8_e4m3fn)
    save_file(state, str(tmp_path / "eight.safetensors"))
    with pytest.raises(CorruptCheckpoint, match=r"1 tensor\(s\) of F8_E4M3, not float16.*float8 is for inference"):
        load_model_file(tmp_path / "eight.safetensors", small_stylizer.model.config)
