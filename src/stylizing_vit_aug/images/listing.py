"""The package's one folder listing: which files under a folder are its images, each once, at its
own path. The library, banks, commands, trainer and the app's style folders all list through it,
so a folder means the same images everywhere (the app only bounds it)."""

from __future__ import annotations

import functools
import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..option_choices import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS  # re-exported: one list, torch-free

# image files of formats not read: a folder listing warns that it left them out
OTHER_IMAGE_SUFFIXES = frozenset(
    {
        ".gif",
        ".apng",
        ".avif",
        ".heic",
        ".heif",
        ".jxl",
        ".jp2",
        ".j2k",
        ".jpx",
        ".ico",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".psd",
        ".svg",
        ".exr",
        ".hdr",
        ".dng",
        ".raw",
        ".dcm",
        ".dicom",
        ".nii",
        ".svs",
        ".ndpi",
        ".mrxs",
        ".scn",
        ".czi",
        ".vsi",
        ".vms",
        ".qptiff",
        ".jfif",
        ".pcx",
        ".tga",
    }
)

logger = logging.getLogger(__name__)


def unread_kind(path: Path, name: str | None = None) -> str | None:
    """Why a file named ``path`` is not read as an image (None: its extension is one of
    :data:`IMAGE_EXTENSIONS`), naming it as ``name`` (default: the path): the one wording of the
    command line's inputs and the app's uploads (a GIF decodes, but folder listings leave it out)."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return None
    return (
        f"{name or path} is not a {'/'.join(IMAGE_EXTENSIONS)} image, the formats this package reads: "
        "convert it to PNG (or TIFF)"
    )


def find_images(root: Path, *, unlisted: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Every image file (:data:`IMAGE_EXTENSIONS`) under the folder ``root``: recursive through
    symlinked folders too (each real folder once), sorted, hidden files and folders
    (``.DS_Store``, ``._x.png``, ``.ipynb_checkpoints``) skipped.

    A folder that is under ``root`` itself is listed at its own path, never through a link to it
    from elsewhere under ``root``: the first subfolder names a domain, and ``b/shared -> ../a``
    must not move ``a``'s images into ``b`` (which one would win depended on listing order).
    Files follow the same rule: a symlinked file is listed only where its target is not
    (:func:`_once_per_file`), so ``c/x.png -> ../a/x.png`` is not trained on twice, as ``a`` and ``c``.

    A folder that cannot be listed (no read permission) is never taken for an empty one: a warning
    names it, and it goes into ``unlisted`` (its path and that message) for a caller that counts it
    as a skipped entry (the commands' exit code 3)."""
    return list_images(root, unlisted=unlisted)[0]


def list_images(
    root: Path,
    *,
    within: Callable[[Path], bool] | None = None,
    max_images: int | None = None,
    max_folders: int | None = None,
    unlisted: list[tuple[Path, str]] | None = None,
) -> tuple[list[Path], bool]:
    """:func:`find_images`'s listing (the one rule), bounded for a caller that lists what others
    type (the app): only folders and files whose real path ``within`` accepts (a link out is not
    followed), at most ``max_images`` files from at most ``max_folders`` folders; and whether a
    bound stopped it. The folders that could not be listed are warned of and added to ``unlisted``."""
    found: list[Path] = []
    linked: list[Path] = []  # symlinked image files, kept by _once_per_file
    left_out: Counter[str] = Counter()  # files of other kinds, by suffix
    hidden: Counter[str] = Counter()  # names starting with ".", never listed: "image" files and "folder"s
    seen: set[str] = set()
    trees = [str(root)]  # still to list: root's own tree first, then each linked folder met in it
    stopped = False
    failed = unlisted if unlisted is not None else []
    unlistable = functools.partial(_unlistable, unlisted=failed, told=set(), within=within)
    while trees and not stopped:
        tree = os.walk(trees.pop(0), onerror=unlistable)
        for folder, subfolders, files in tree:  # links are listed after, not followed
            real = os.path.realpath(folder)
            if real in seen or within is not None and not within(Path(real)):  # a loop, listed, or a way out
                subfolders[:] = []
                continue
            if stopped := len(seen) == max_folders:
                break
            seen.add(real)
            hidden["folder"] += sum(name.startswith(".") for name in subfolders)
            hidden["image"] += sum(name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
                                   for name in files)
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
            trees.extend(path for name in subfolders if os.path.islink(path := os.path.join(folder, name)))
            for name in sorted(name for name in files if not name.startswith(".")):
                if (suffix := Path(name).suffix.lower()) not in IMAGE_EXTENSIONS:
                    left_out[suffix or "(no extension)"] += 1
                    continue
                path = Path(folder) / name
                if within is not None and not within(Path(os.path.realpath(path))):  # never raises on a loop
                    continue
                if stopped := len(found) + len(linked) == max_images:
                    break
                (linked if path.is_symlink() else found).append(path)
            if stopped:
                break
    _note_left_out(root, left_out)
    if hidden["image"] or hidden["folder"]:
        logger.info(
            "left out %d hidden image file(s) and %d hidden folder(s) under %s (names starting with '.', e.g. "
            "macOS's ._name.png copies or .ipynb_checkpoints): rename one without the dot to use it",
            hidden["image"], hidden["folder"], root,
        )
    return sorted(found + _once_per_file(root, found, linked)), stopped


def _unlistable(
    error: OSError, unlisted: list[tuple[Path, str]], told: set[str], within: Callable[[Path], bool] | None
) -> None:
    """Warn of a folder ``os.walk`` could not list (``error``), naming it and why, and add it to ``unlisted``:
    without this its images would be left out in silence, as if it were empty. Each folder once however many
    ways reach it (``told``: real paths), and none the walk would not follow (outside ``within``)."""
    folder = Path(os.fsdecode(error.filename)) if error.filename is not None else Path()
    real = os.path.realpath(folder)
    if real in told or within is not None and not within(Path(real)):
        return
    told.add(real)
    message = (
        f"the folder {folder} could not be listed ({error.strerror or error}), so its images are left out: "
        "give this user read and search permission on it (chmod u+rx), or move it out of the folder given"
    )
    logger.warning("%s", message)
    unlisted.append((folder, message))


def _once_per_file(root: Path, found: list[Path], linked: list[Path]) -> list[Path]:
    """The symlinked image files of ``linked`` to list: each real file once, and never one
    already in ``found`` at its own path (the folder rule of :func:`find_images` for files); the
    first in name order wins among links to one file. Says how many were left out (information)."""
    if not linked:  # the usual case: no file resolved
        return []
    listed = {os.path.realpath(path) for path in found}
    kept, dropped = [], []
    for path in sorted(linked):
        target = os.path.realpath(path)
        (dropped if target in listed else kept).append(path)
        listed.add(target)
    if dropped:
        logger.info(
            "left out %d symlinked image file(s) under %s that link to an image listed already (at its "
            "own path or through another link), so it is read once: %s%s",
            len(dropped),
            root,
            ", ".join(str(p) for p in dropped[:5]),
            " ..." if len(dropped) > 5 else "",
        )
    return kept


def _note_left_out(root: Path, left_out: Counter[str]) -> None:
    """Say once per listing how many files under ``root`` were left out, of which kinds: a
    warning where some are images of a format not read (``.gif``: the user meant them as images),
    information where none is (notes, CSV files)."""
    if not left_out:
        return
    ordered = sorted(left_out.items(), key=lambda item: (-item[1], item[0]))
    kinds = ", ".join(f"{count} {suffix}" for suffix, count in ordered[:8]) + (", ..." if len(ordered) > 8 else "")
    images = [suffix for suffix, _ in ordered if suffix in OTHER_IMAGE_SUFFIXES]
    level = logging.WARNING if images else logging.INFO
    logger.log(
        level,
        "left out %d file(s) under %s that are not %s images (%s)%s",
        sum(left_out.values()),
        root,
        "/".join(IMAGE_EXTENSIONS),
        kinds,
        f"; the {', '.join(images)} files are images in a format this "
        "package does not read: convert them to PNG (or TIFF) to use them"
        if images
        else "",
    )
