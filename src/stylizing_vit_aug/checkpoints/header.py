"""The safetensors header of a file, read and checked before any tensor is made.

A safetensors file is an 8-byte little-endian header length, a JSON header (every tensor's dtype,
shape and byte range) and the tensor bytes. Checking the header first means a hostile or damaged
file is refused with an error naming it, instead of making the loader allocate what the header
claims, and lets a file's format be told by its structure: a pickle is refused only when the file
is *not* a valid safetensors file and starts like one (the zip magic of ``torch.save`` or a pickle
protocol opcode), never because of one byte that a valid header length can also start with.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, NamedTuple

from .._files import special_file
from .errors import CorruptCheckpoint, UnsafeCheckpointFormat

__all__ = [
    "DTYPE_BYTES",
    "FLOAT_DTYPES",
    "MAX_HEADER_BYTES",
    "SafetensorsHeader",
    "TensorInfo",
    "parse_json",
    "read_header",
    "refuse_pickle",
]

# The dtypes safetensors writes, with their sizes in bytes.
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E4M3FNUZ": 1, "F8_E5M2": 1, "F8_E5M2FNUZ": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
# Our largest header (a training checkpoint of the large preset) is well under 1 MiB; the cap
# keeps a forged length from making the reader hold gigabytes of JSON.
MAX_HEADER_BYTES = 16 * 2**20
MAX_DIMS = 8
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format is a zip archive
PICKLE_PROTO = 0x80  # pickle protocols 2-5 open with PROTO <n>
OLD_PICKLE_OPENERS = frozenset(b"(}]c")  # protocols 0-1: MARK, EMPTY_DICT, EMPTY_LIST, GLOBAL


class TensorInfo(NamedTuple):
    """One header entry: what the tensor would be, without making it."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class SafetensorsHeader(NamedTuple):
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]


class _Invalid(Exception):
    """Why the bytes are not a valid safetensors file (internal: becomes a CheckpointError)."""


def refuse_pickle(path: Path, why: str) -> UnsafeCheckpointFormat:
    return UnsafeCheckpointFormat(
        f"refusing to load {path}: {why}. Pickled checkpoints can execute arbitrary code when "
        "loaded, so only safetensors files are accepted. If you trust the file, convert it once: "
        "`from safetensors.torch import save_file; sd = torch.load(path, weights_only=True); "
        "save_file({k: v.contiguous() for k, v in sd.get('state_dict', sd).items()}, "
        "'model.safetensors')`, then load the .safetensors file with mean= and std="
    )


def _check_file(path: Path) -> int:
    """The file's size; refuses what is missing, a folder or not a regular file (a device such
    as /dev/urandom would never end, a pipe would block)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise FileNotFoundError(
                f"checkpoint file {path} is a broken symbolic link (to {os.readlink(path)})"
            ) from None
        raise FileNotFoundError(f"checkpoint file {path} does not exist") from None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise _looping(path) from None
    if stat.S_ISDIR(info.st_mode) and path.suffix.lower() == ".safetensors":  # inside a checkpoint folder, say
        raise IsADirectoryError(
            f"{path} is a folder, not the weights file its name says: a checkpoint's weights are one .safetensors "
            "file (save_pretrained writes model.safetensors); put that file in its place"
        )
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(
            f"{path} is a directory; pass it to load_stylizer(), or pass the model.safetensors "
            "file inside it to read_state_dict()"
        )
    if not stat.S_ISREG(info.st_mode):
        raise CorruptCheckpoint(
            f"{path} is {special_file(path)}, not a regular file, so it is not a valid "
            "safetensors file; point it at the .safetensors file written by save_pretrained"
        )
    return info.st_size


def _symlink_loop(path: Path) -> bool:
    """Whether looking ``path`` up meets too many symbolic links (ELOOP), in the path itself or in
    a folder on its way; ``Path.exists()`` says False then, as if nothing were there."""
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def _looping(path: Path) -> CorruptCheckpoint:
    """What is wrong with a path whose lookup meets too many symbolic links: the link it is loops,
    or one of the folders on its way does (named: the first whose own lookup fails)."""
    advice = "pass the checkpoint's real path"
    if path.is_symlink():  # False where a folder above it loops: the path itself cannot be looked at
        return CorruptCheckpoint(
            f"{path} is a symbolic link whose chain of links loops back on itself{_link_target(path)}, so it "
            "leads to no file or folder; point the link at the real checkpoint (a folder written by "
            f"save_pretrained, or its model.safetensors), or {advice}"
        )
    folder = next((folder for folder in reversed(path.parents) if _symlink_loop(folder)), None)
    where = "" if folder is None else f", at {folder}{_link_target(folder)}"
    return CorruptCheckpoint(
        f"too many levels of symbolic links (ELOOP) in {path}{where}: a symbolic link among the folders on its "
        "way loops back on itself, or the path passes through more links than the system follows, so it leads "
        f"to no file or folder; point that link at a real folder, or {advice}"
    )


def _link_target(path: Path) -> str:
    """`` (it links to ...)`` for a message, where ``path`` is a link (else nothing)."""
    try:
        return f" (it links to {os.readlink(path)})"
    except OSError:
        return ""


def _natural(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Invalid(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _entry(name: str, entry: Any) -> TensorInfo:
    if not isinstance(entry, dict):
        raise _Invalid(f"the header entry of {name!r} is {type(entry).__name__}, not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise _Invalid(f"tensor {name!r} has dtype {dtype!r}, not one of {sorted(DTYPE_BYTES)}")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS:
        raise _Invalid(f"tensor {name!r} has shape {shape!r}; expected a list of at most {MAX_DIMS} sizes")
    dims = tuple(_natural(size, f"every size in the shape of {name!r}") for size in shape)
    if not isinstance(offsets, list) or len(offsets) != 2:
        raise _Invalid(f"tensor {name!r} has data_offsets {offsets!r}; expected [begin, end]")
    begin, end = (_natural(offset, f"the data_offsets of {name!r}") for offset in offsets)
    expected = math.prod(dims) * DTYPE_BYTES[dtype]
    if end - begin != expected:
        raise _Invalid(
            f"tensor {name!r} ({dtype} {list(dims)}) needs {expected:,} bytes but its data_offsets "
            f"[{begin}, {end}] hold {end - begin:,}"
        )
    return TensorInfo(dtype, dims, begin, end)


def parse_json(text: str | bytes) -> Any:
    """``json.loads``, with nesting too deep for the parser (a crafted record: ``RecursionError``) raised as the
    ``ValueError`` any other malformed JSON is, so that one ``except ValueError`` of every reader of a file's JSON
    names the file, whatever is wrong in it."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("its JSON is nested too deeply to read") from None


def _parse(head: bytes, read: Any, size: int) -> SafetensorsHeader:
    if len(head) < 8:
        raise _Invalid(f"the file is only {size} bytes, shorter than the 8-byte header length (truncated)")
    length = int.from_bytes(head, "little")
    if not 2 <= length <= MAX_HEADER_BYTES:
        raise _Invalid(f"its header length {length:,} is not between 2 and {MAX_HEADER_BYTES:,} bytes")
    if 8 + length > size:
        raise _Invalid(f"its header needs {length:,} bytes but the file has {size - 8:,} after the length (truncated)")
    try:
        document = parse_json(read(length).decode("utf-8"))
    except ValueError as error:  # a JSON error or a UnicodeDecodeError
        raise _Invalid(f"its header is not JSON ({type(error).__name__}: {error})") from None
    if not isinstance(document, dict):
        raise _Invalid(f"its header is a JSON {type(document).__name__}, not an object")
    metadata = document.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _Invalid("its __metadata__ is not an object of strings")
    tensors = {name: _entry(name, entry) for name, entry in document.items()}
    position = 0
    for name, info in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if info.begin != position:
            raise _Invalid(f"tensor {name!r} starts at byte {info.begin:,} of the data, expected {position:,}")
        position = info.end
    if 8 + length + position != size:
        raise _Invalid(
            f"its header describes {position:,} bytes of tensor data but the file holds "
            f"{size - 8 - length:,} (truncated or padded)"
        )
    return SafetensorsHeader(tensors, metadata)


def _looks_pickled(head: bytes) -> bool:
    """Whether a file that is no valid safetensors opens as ``torch.save`` or a pickle does. Eight bytes that read
    as a header length safetensors allows are one, whatever its first byte: a truncated safetensors file whose
    length starts with ``(`` or ``0x80 0x02`` is damaged, not a pickle (a pickle's opening opcodes never read so)."""
    if len(head) == 8 and 2 <= int.from_bytes(head, "little") <= MAX_HEADER_BYTES:
        return False
    if head.startswith(ZIP_MAGIC):
        return True
    if len(head) >= 2 and head[0] == PICKLE_PROTO:
        return 2 <= head[1] <= 5
    return bool(head) and head[0] in OLD_PICKLE_OPENERS


def read_header(path: str | os.PathLike) -> SafetensorsHeader:
    """The checked header of a safetensors file: every entry's dtype, shape and byte range agree
    with each other and with the file's size, so reading the tensors allocates at most the file.

    Raises :class:`CorruptCheckpoint` (naming the file and what is wrong),
    :class:`UnsafeCheckpointFormat` for a pickle or ``torch.save`` archive, ``FileNotFoundError``
    or ``IsADirectoryError``. A symbolic link that loops (the file's, or a folder's on its way) is a
    :class:`CorruptCheckpoint` too: every checkpoint source reads its weights file here, so each says the same.
    """
    path = Path(path)
    size = _check_file(path)
    with path.open("rb") as handle:
        head = handle.read(8)
        try:
            return _parse(head, handle.read, size)
        except _Invalid as invalid:
            if _looks_pickled(head):
                raise refuse_pickle(path, "its content is a torch.save archive or a pickle, not safetensors") from None
            raise CorruptCheckpoint(
                f"cannot read {path} ({size:,} bytes) as safetensors: {invalid}. The file is "
                "truncated, corrupt or not a safetensors file; save or download it again"
            ) from None
