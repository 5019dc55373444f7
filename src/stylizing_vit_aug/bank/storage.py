"""The bank file: safetensors with the images, optionally the streams, and metadata saying which
stylizer encoded them. Written atomically; anything truncated or inconsistent (header, metadata,
shapes, non-finite streams) is a :class:`BankFileError` that names the file. The tensor data has
no checksum (see the package docstring), so bytes flipped inside it are not detected."""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .._atomic import write_atomically
from .._files import bank_path_problem, open_safetensors, special_file, stamp_or_none
from .._state_cache import cached
from ..checkpoints import (
    BANK_FORMAT,
    FLOAT_DTYPES,
    PICKLE_SUFFIXES,
    RECORD_KEY,
    CheckpointError,
    CorruptCheckpoint,
    SafetensorsHeader,
    TensorInfo,
    float32_list,
    read_header,
    same_float32,
)
from ..checkpoints.header import MAX_HEADER_BYTES, parse_json
from ..checkpoints.recorded import recorded_settings
from ..image_ops import resize
from ..images import Normalization, to_batch, to_uint8
from ..local_checkpoint import SETTING_CHOICES
from ..option_choices import IMAGE_EXTENSIONS
from ..stylizer import Stylizer
from ..stylizer_options import check_chunk_size
from .sources import StyleFile, parse_sources, sources_metadata

__all__ = [
    "FILE_FORMAT",
    "FILE_VERSION",
    "BankFileError",
    "BankMismatch",
    "bank_metadata",
    "check_bank_output",
    "check_bank_path",
    "check_same_encoding",
    "check_same_stylizer",
    "check_stream_dtype",
    "dtype_name",
    "file_mismatch",
    "read_bank_file",
    "read_bank_info",
    "stylizer_record",
    "write_bank_file",
]

logger = logging.getLogger(__name__)

FILE_FORMAT = BANK_FORMAT  # defined with the checkpoint readers, which name a bank given as a checkpoint
FILE_VERSION = "1"
STREAM_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
STATS = ("mean", "std")  # the statistics a bank file records beside the fingerprint (None: saved before they were)
_INFOS: dict[str, tuple[Any, dict[str, Any]]] = {}  # bank path -> (its file stamp, read_bank_info's answer)


class BankMismatch(ValueError):
    """A bank (file or object) was encoded with another stylizer than the one it is used with."""


def check_same_stylizer(bank_stylizer: Stylizer, stylizer: Stylizer, user: str) -> None:
    """Refuse to use a bank whose styles ``bank_stylizer`` encoded with another ``stylizer``:
    its streams would style with the wrong network, silently (a file is checked when loaded), or
    under another background rule (:func:`check_same_encoding`)."""
    if bank_stylizer is stylizer or (
        bank_stylizer.fingerprint == stylizer.fingerprint and bank_stylizer.config == stylizer.config
    ):  # the config too: equal weights under another head count are another network
        check_same_encoding(bank_stylizer, stylizer, user)
        return
    raise BankMismatch(
        f"{user}: the bank's styles were encoded with another stylizer (fingerprint {bank_stylizer.fingerprint}, "
        f"source {bank_stylizer.source!r}) than the one given (fingerprint {stylizer.fingerprint}, source "
        f"{stylizer.source!r}): {stylizer_difference(stylizer_record(bank_stylizer), stylizer)}. Build the bank "
        "with this stylizer (StyleBank.from_images(images, stylizer)), load its file with StyleBank.load(path, "
        "stylizer, on_mismatch='reencode'), or use the bank's own stylizer (bank.stylizer)."
    )


def check_same_encoding(bank_stylizer: Stylizer, stylizer: Stylizer, user: str) -> None:
    """Refuse a stylizer of the bank's network that reads styles otherwise than the bank's encoded them:
    ``background="dark"`` hides a style's near-black background from the network, so its streams are not those of
    ``"keep"`` or ``"style"`` (a bank in memory served a "dark" stylizer "keep"'s streams, up to 98.7 levels apart:
    a hostile probe; a bank file is encoded again for it when loaded)."""
    if (bank_stylizer.background == "dark") == (stylizer.background == "dark"):
        return
    raise BankMismatch(
        f"{user}: the bank's styles were encoded by a stylizer with background={bank_stylizer.background!r}, and "
        f"the one given has background={stylizer.background!r}: 'dark' hides a style's dark background from the "
        "network, so the styles must be encoded for it. Make the bank with this stylizer, sva.StyleBank(bank.images, "
        "stylizer, domains=bank.domains, sources=bank.sources) (StyleBank.load(path, stylizer) encodes a file's again)"
    )


def stylizer_record(stylizer: Stylizer) -> dict[str, Any]:
    """What a bank file records of the stylizer that encoded it, parsed (as :func:`read_bank_info`
    gives it): the fingerprint, source, revision, architecture and statistics, to name what
    differs, and its settings (mode, background, colour_match), which a front-end given the file
    and no stylizer loads the source with; :func:`bank_metadata` writes it."""
    return {
        "fingerprint": stylizer.fingerprint,
        "source": stylizer.source,
        "revision": stylizer.revision,
        "config": stylizer.config.to_dict(),
        "mean": float32_list(stylizer.mean),
        "std": float32_list(stylizer.std),
        "settings": stylizer.settings,
    }


def stylizer_difference(theirs: Mapping[str, Any], stylizer: Stylizer) -> str:
    """What differs between the stylizer a bank was encoded with (``theirs``, a
    :func:`stylizer_record`) and ``stylizer``, in words: the fingerprints alone do not say, and
    two stylizers of one checkpoint differ only in their ``mean``/``std``; with what to do."""
    ours = stylizer_record(stylizer)
    config = theirs.get("config") or {}
    named = [
        f"{key} {value!r} (this stylizer: {ours['config'].get(key)!r})"
        for key, value in config.items()
        if value != ours["config"].get(key)
    ]
    if named:
        return "their architectures differ: the bank's has " + ", ".join(named)
    stats = [
        f"{name} {theirs[name]} (this stylizer: {ours[name]})"
        for name in STATS
        if theirs.get(name) is not None and not same_float32(theirs[name], ours[name])
    ]
    if stats:
        given = ", ".join(f"{name}={theirs[name]}" for name in STATS)
        return (
            f"the same architecture with other statistics: the bank's {' and '.join(stats)}; if its weights are "
            f"this checkpoint's, load the stylizer with the bank's statistics (load_stylizer(..., {given}); "
            "--mean/--std on the command line) to use the bank as it is"
        )
    if theirs.get("mean") is None:
        return "their weights or statistics differ (the bank records no statistics to tell which)"
    return "their weights differ (the architecture and statistics are the same)"


class BankFileError(ValueError):
    """A bank file that cannot be read: truncated, corrupt, or not written by StyleBank.save."""


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_stream_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype) and dtype in STREAM_DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in STREAM_DTYPES:
        return STREAM_DTYPES[dtype.removeprefix("torch.")]
    raise ValueError(f"stream_dtype must be one of {sorted(STREAM_DTYPES)} or None, got {dtype!r}")


def bank_metadata(
    stylizer: Stylizer,
    domains: list[str] | None,
    stream_dtype: torch.dtype | None,
    chunk_size: int,
    sources: list[StyleFile | None] | None = None,
    images_sha256: str | None = None,
) -> dict[str, str]:
    """What a bank file records about how it was made (safetensors metadata: strings only): the
    stylizer (its :func:`stylizer_record`; the fingerprint as it is, the rest as JSON), the
    domains, each style's source file and the digest of the images."""
    record = stylizer_record(stylizer)
    return {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "fingerprint": record.pop("fingerprint"),
        **{name: json.dumps(value) for name, value in record.items()},
        "domains": json.dumps(domains),
        "stream_dtype": json.dumps(dtype_name(stream_dtype) if stream_dtype else None),
        "chunk_size": str(chunk_size),
        "sources": sources_metadata(sources),
        **({"images_sha256": images_sha256} if images_sha256 else {}),
    }


def write_bank_file(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a bank atomically; a name that is a folder, or has a pickle suffix (which nothing of
    ours would read back), is refused before any work, naming the path the user gave. A symbolic
    link (``current.safetensors`` to a shared bank) stays: the file it points at is replaced, in its
    folder, as a checkpoint folder behind a link is, so every path to the bank reads the new one."""
    from safetensors.torch import save_file

    check_bank_output(path)
    target = Path(os.path.realpath(path))  # through links; one that loops stays as it is (and is replaced)
    write_atomically(target, lambda temporary: save_file(dict(tensors), str(temporary), metadata=metadata))


def check_bank_output(path: Path) -> None:
    """Refuse a bank name that would lose a file or not be read back as a bank: a folder; a pickle or image suffix
    (nothing of ours reads a pickle; a bank named ``.jpg`` in a style folder is read as a broken image); an existing
    file that is not a bank, such as a checkpoint's ``model.safetensors``, which it would replace for good. Only an
    earlier bank is replaced (a damaged one too, whose header still names the bank format), or an empty file."""
    if path.is_dir():
        raise IsADirectoryError(
            f"cannot write the bank to {path}: it is a folder; give a file name, e.g. {path / 'bank.safetensors'}"
        )
    if path.suffix.lower() in (*PICKLE_SUFFIXES, *IMAGE_EXTENSIONS):
        raise ValueError(f"a bank is a safetensors file: name it {path.with_suffix('.safetensors')}, not {path}")
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return
    what, error = "a file that cannot be read as a style bank", None
    if not path.is_file():  # a pipe or a device: never opened (a pipe's reading waits for a writer)
        what = f"{special_file(path) or 'not a regular file'}, not a style bank"
    else:
        try:
            header = read_header(path)
            if header.metadata.get("format") == FILE_FORMAT:
                return
            what = "a checkpoint's weights file (a Stylizing ViT)" if _looks_like_weights(header) else "no style bank"
        except CheckpointError:  # not readable as safetensors: a bank cut short still names its format in its header
            if _names_the_bank_format(path):
                return
        except OSError as unreadable:  # permission denied, say: named, not taken for another file's content
            what, error = f"a file that cannot be read ({unreadable.strerror or unreadable})", unreadable
    raise FileExistsError(
        f"cannot write the bank to {path}: it is {what}, and the bank would replace it for good; give the bank "
        "a file name of its own (or remove that file first)"
    ) from error


def _names_the_bank_format(path: Path) -> bool:
    """Whether the header of ``path`` (its length's worth, at most MAX_HEADER_BYTES) names the bank format: a bank's
    header holds its styles' sources first, and is larger than any fixed window for thousands of styles."""
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            return FILE_FORMAT.encode() in handle.read(min(length, MAX_HEADER_BYTES))
    except OSError:  # unreadable: nothing says it is a bank
        return False


def file_mismatch(path: Path, meta: Mapping[str, Any], stylizer: Stylizer, advice: str) -> BankMismatch:
    """The refusal of bank file ``path`` (its :func:`read_bank_info`, ``meta``) for ``stylizer``, which did not
    encode it: both named, what differs, and ``advice`` its reader can follow where they are (``StyleBank.load``'s
    caller has ``on_mismatch``; a front-end's user does not)."""
    theirs = f"fingerprint {meta['fingerprint']} (source {meta['source']!r})"
    ours = f"fingerprint {stylizer.fingerprint} (source {stylizer.source!r})"
    return BankMismatch(
        f"bank {path} was encoded with another stylizer: {theirs}; it is being loaded with {ours}: "
        f"{stylizer_difference(meta, stylizer)}. {advice}"
    )


def read_bank_file(
    path: Path, stylizer: Stylizer, on_mismatch: str
) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
    """Metadata (parsed), images at ``stylizer``'s size and, when ``stylizer`` made them, the
    saved streams. A file of another stylizer raises :class:`BankMismatch` (``"error"``) or
    gives its images resized for this one and no streams (``"reencode"``)."""
    meta, images, layers = _read(path, stylizer)
    if _same_network(meta, stylizer):
        return meta, images, layers
    if on_mismatch == "error":
        raise file_mismatch(
            path,
            meta,
            stylizer,
            "Load it with StyleBank.load(path, stylizer, on_mismatch='reencode') to re-encode its styles with this "
            "stylizer, or load the stylizer it was made with.",
        )
    _say_reencoding(path, meta, tuple(images.shape), stylizer)
    try:
        values, _ = to_batch(images, f"the images of bank file {path}")
    except ValueError as error:
        raise BankFileError(f"bank file {path} is corrupt: {error}") from None
    size = stylizer.img_size
    return meta, to_uint8(resize(stylizer.adapt_channels(values), size, size)).cpu(), None


def _say_reencoding(path: Path, meta: dict[str, Any], shape: tuple[int, ...], stylizer: Stylizer) -> None:
    """The one warning of a bank used with another stylizer than its own: what is done (its
    styles re-encoded with this one, its images resized to it) and what that costs."""
    count, _, size, _ = shape
    resized = (
        f"; its {size} px images are resized to this model's {stylizer.img_size} px"
        if size != stylizer.img_size
        else ""
    )
    unused = "its saved style streams are not used, and " if meta.get("stored_streams") else ""
    logger.warning(
        "bank %s was encoded with checkpoint %r (fingerprint %s), not with %r (fingerprint %s) that it is used with: "
        "%sits %d styles are re-encoded with %r, each when it is first drawn%s. That costs up to %d passes of "
        "the style encoder, what building the bank again costs; to skip it, build the bank with this checkpoint "
        "(`stylizing-vit-aug bank build STYLES/ -o bank.safetensors --checkpoint ...`, StyleBank.from_folder). "
        "What differs: %s",
        path,
        meta["source"],
        meta["fingerprint"],
        stylizer.source,
        stylizer.fingerprint,
        unused,
        count,
        stylizer.source,
        resized,
        count,
        stylizer_difference(meta, stylizer),
    )


def _looks_like_weights(header: SafetensorsHeader) -> bool:
    """Whether a safetensors file that is no bank holds a Stylizing ViT's weights (its record, or
    the patch embedding under any wrapper prefix)."""
    return RECORD_KEY in header.metadata or any(k.endswith("patch_embed.proj.weight") for k in header.tensors)


def check_bank_path(path: Path, reader: str) -> None:
    """The one check of a bank path before it is opened (``StyleBank.load``, ``bank info``): raises
    :func:`~.._files.bank_path_problem`'s error. ``reader``: who reads it, for the message."""
    if problem := bank_path_problem(path, reader, "(in Python: StyleBank.from_folder)"):
        raise problem


class _Entry(NamedTuple):
    """What safetensors' ``safe_open`` says of one tensor: the fields of our header reader's
    ``TensorInfo`` that the checks read (it gives no byte offsets)."""

    dtype: str  # as safetensors names it: "U8", "F32", ...
    shape: tuple[int, ...]


def _checked_header(path: Path, reader: str) -> tuple[dict[str, str], dict[str, TensorInfo | _Entry]]:
    """The metadata and tensor entries of a bank file, with its format and the shapes of its
    images and streams checked from the header, before a tensor is read."""
    check_bank_path(path, reader)
    try:
        header = read_header(path)
    except (CheckpointError, OSError) as error:
        message, ours = str(error), f"cannot read {path}"
        message = (
            message.replace(ours, f"cannot read bank file {path}", 1)
            if message.startswith(ours)
            else f"cannot read bank file {path}: {message}"
        )
        raise BankFileError(message) from error
    return _checked_contents(path, header)


def _opened_header(handle: Any) -> SafetensorsHeader:
    """The header of a bank file opened with safetensors' ``safe_open``: what :func:`_checked_header`
    reads, without opening the file again (safetensors checked the byte ranges against the file)."""
    entries = {}
    for name in handle.keys():
        entry = handle.get_slice(name)
        entries[name] = _Entry(entry.get_dtype(), tuple(entry.get_shape()))
    return SafetensorsHeader(entries, handle.metadata() or {})


def _checked_contents(path: Path, header: SafetensorsHeader) -> tuple[dict[str, str], dict[str, TensorInfo | _Entry]]:
    """A bank file's format and the shapes of its images and streams, checked from its header."""
    if header.metadata.get("format") != FILE_FORMAT and _looks_like_weights(header):
        raise BankFileError(
            f"{path} is a checkpoint's weights file (a Stylizing ViT), not a style bank: pass it as --checkpoint "
            "(in Python: load_stylizer(path)). A bank is built from style images with that checkpoint: "
            "`stylizing-vit-aug bank build STYLES/ -o bank.safetensors --checkpoint ...` (StyleBank.from_folder)"
        )
    if header.metadata.get("format") != FILE_FORMAT:
        raise BankFileError(
            f"{path} is not a style bank file (made by StyleBank.save / `stylizing-vit-aug bank build`)"
        )
    images, streams = header.tensors.get("images"), header.tensors.get("streams")
    problem = None
    if images is None:
        problem = f"it holds no 'images' tensor (it holds {sorted(header.tensors)[:12]})"
    elif images.dtype != "U8" or len(images.shape) != 4 or images.shape[0] == 0:
        problem = f"its images are {images.dtype} {list(images.shape)}, not uint8 [count > 0, channels, size, size]"
    elif streams is not None and (streams.dtype not in FLOAT_DTYPES or len(streams.shape) != 4):
        problem = (
            f"its style streams are {streams.dtype} {list(streams.shape)}, not floats [layers, count, tokens, dim]"
        )
    if problem:
        raise BankFileError(f"bank file {path} is corrupt: {problem}; build it again (`stylizing-vit-aug bank build`)")
    return header.metadata, header.tensors


def read_bank_info(path: Path | str, reader: str = "read_bank_info") -> dict[str, Any]:
    """What a bank file holds, from its header alone (no tensor is read, no stylizer needed):
    ``images`` and ``streams`` shapes, and the recorded source, revision, fingerprint, config,
    ``mean``, ``std`` and ``settings`` (None where not recorded), domains, stream dtype, chunk size,
    version, ``sources`` (None where not recorded) and ``images_sha256``
    (the bank's ``images_digest`` when saved; None before it was recorded). Anything missing or
    malformed is a :class:`BankFileError` naming the file and the field; a folder or a missing
    file is refused by :func:`check_bank_path` (``reader`` names who reads it).

    Read once per process and state of the file (its :func:`~stylizing_vit_aug._files.file_stamp`, one
    ``stat``): a command's checks and the stylizer a front-end loads with it, in each DataLoader worker, ask
    again for free. A deep copy each time: a caller that edits its answer changes no later reader's."""
    path = Path(path)  # a str, as the docs call it
    state = stamp_or_none(path)  # before the read: a save during it is seen next time
    if state is None:  # nothing to look at: the reader says what is wrong
        return _bank_info(path, *_checked_header(path, reader))
    key = os.path.abspath(path)
    return copy.deepcopy(cached(_INFOS, key, state, lambda: _bank_info(path, *_checked_header(path, reader))))


def _bank_info(path: Path, metadata: Mapping[str, str], tensors: Mapping[str, TensorInfo | _Entry]) -> dict[str, Any]:
    """:func:`read_bank_info` of a header already read and checked (:func:`_checked_contents`)."""
    info: dict[str, Any] = {"version": metadata.get("version"), "fingerprint": metadata.get("fingerprint")}
    if str(info["version"]).isdigit() and int(info["version"]) > int(FILE_VERSION):  # it loaded without a word
        raise BankFileError(
            f"bank file {path} is of format version {info['version']}, written by a newer stylizing-vit-aug; this one "
            f"reads version {FILE_VERSION}: upgrade it (pip install -U stylizing-vit-aug), or build the bank again"
        )
    for field, default in (
        ("source", "null"),
        ("revision", "null"),
        ("config", "{}"),
        ("domains", "null"),
        ("stream_dtype", "null"),
        ("mean", "null"),
        ("std", "null"),
        ("settings", "null"),
    ):
        try:
            info[field] = parse_json(metadata.get(field, default))
        except ValueError as error:  # parse_json's one error for any malformed JSON, too deep included
            raise BankFileError(f"bank file {path} is corrupt: its {field!r} metadata is not JSON ({error})") from None
    count = tensors["images"].shape[0]
    domains = info["domains"]
    if not isinstance(info["config"], dict):
        raise BankFileError(f"bank file {path} is corrupt: its 'config' metadata is {info['config']!r}, not a mapping")
    for name in STATS:
        if info[name] is not None and not _numbers(info[name]):
            raise BankFileError(
                f"bank file {path} is corrupt: its {name!r} metadata is {info[name]!r}, not a list of numbers; "
                "build it again (`stylizing-vit-aug bank build`)"
            )
    if info["mean"] is not None and info["std"] is not None:  # what a stylizer would refuse, named now as the file's
        try:
            Normalization.checked(info["mean"], info["std"], what="its 'mean'/'std' metadata")
        except ValueError as error:
            raise BankFileError(f"bank file {path} is corrupt: {error}; build it again") from None
    if domains is not None and (
        not isinstance(domains, list) or len(domains) != count or not all(isinstance(d, str) for d in domains)
    ):
        raise BankFileError(
            f"bank file {path} is corrupt: its 'domains' metadata is not {count} labels (one per style)"
        )
    info["settings"] = _settings(info["settings"], path)
    info["chunk_size"] = _chunk_size(metadata, path)
    info["sources"] = _sources(metadata, count, path)
    info["images_sha256"] = metadata.get("images_sha256")
    info["images"] = list(tensors["images"].shape)
    info["streams"] = list(tensors["streams"].shape) if "streams" in tensors else None
    return info


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _settings(recorded: Any, path: Path) -> dict[str, Any] | None:
    """The recorded stylizer's settings, checked as a checkpoint's are (None: saved before they were)."""
    if recorded is None:
        return None
    try:
        return recorded_settings(recorded, "its 'settings' metadata", SETTING_CHOICES)
    except CorruptCheckpoint as error:
        raise BankFileError(f"bank file {path} is corrupt: {error}; or build it again") from None


def _chunk_size(metadata: Mapping[str, str], path: Path) -> int:
    """The styles encoded per model call recorded in the file (64 where it records none)."""
    text = metadata.get("chunk_size", "64")
    try:
        size = int(text)
    except ValueError:
        raise BankFileError(
            f"bank file {path} is corrupt: its 'chunk_size' metadata is {text!r}, not a whole number"
        ) from None
    try:
        return check_chunk_size(size)  # as a bank made in Python checks it: a count torch can split by
    except ValueError as error:
        raise BankFileError(
            f"bank file {path} is corrupt: its 'chunk_size' metadata is {text!r}; build it again"
        ) from error


def _sources(metadata: Mapping[str, str], count: int, path: Path) -> list[StyleFile | None] | None:
    """The file's ``sources`` (None for a bank written before they were recorded)."""
    try:
        return parse_sources(metadata.get("sources"), count)
    except ValueError as error:
        raise BankFileError(f"bank file {path} is corrupt: {error}; build it again") from None


def _check_fingerprint(meta: Mapping[str, Any], path: Path) -> None:
    if not isinstance(meta["fingerprint"], str):
        raise BankFileError(
            f"bank file {path} is corrupt: it records no stylizer fingerprint, so its streams cannot be matched to "
            "a stylizer; build it again (`stylizing-vit-aug bank build`)"
        )


def _same_network(meta: dict[str, Any], stylizer: Stylizer) -> bool:
    """Whether a bank file's streams are ``stylizer``'s: the same weights (fingerprint) and, where
    the file records it, the same architecture (equal weights under another head count differ)."""
    config = meta.get("config") or {}
    return meta["fingerprint"] == stylizer.fingerprint and (not config or config == stylizer.config.to_dict())


def _read(path: Path, stylizer: Stylizer) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
    """A bank file's metadata as :func:`read_bank_info` parses it (the one parse; plus
    ``stored_streams``), its images and, when ``stylizer`` made them, its streams: all through one
    opening of the file. A file safetensors cannot open is read again by our header reader only
    to say what is wrong with it (as ``bank info`` says)."""
    from safetensors import SafetensorError

    check_bank_path(path, "StyleBank.load")
    try:
        with open_safetensors(path) as handle:
            meta = _bank_info(path, *_checked_contents(path, _opened_header(handle)))
            _check_fingerprint(meta, path)
            meta["stored_streams"] = meta["streams"] is not None
            images = handle.get_tensor("images")
            layers = handle.get_tensor("streams") if meta["stored_streams"] and _same_network(meta, stylizer) else None
    except BankFileError:
        raise
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as error:
        read_bank_info(path, "StyleBank.load")  # what is wrong with the header, named (a BankFileError)
        raise BankFileError(
            f"cannot read bank file {path}: {type(error).__name__}: {error}. It is truncated or corrupt; "
            "build it again (`stylizing-vit-aug bank build`)"
        ) from error
    if layers is not None:
        config = stylizer.config
        expected = (config.depth, images.shape[0], config.num_tokens, config.embed_dim)
        if tuple(layers.shape) != expected or not layers.is_floating_point() or not bool(torch.isfinite(layers).all()):
            found = f"{layers.dtype} {tuple(layers.shape)}"
            if tuple(layers.shape) == expected and layers.is_floating_point():
                found = f"{int((~torch.isfinite(layers)).sum()):,} NaN/Inf values of {layers.numel():,}"
            raise BankFileError(
                f"bank file {path} is corrupt: its style streams hold {found} "
                f"(expected finite floats of shape {expected}); build it again"
            )
    return meta, images, layers
