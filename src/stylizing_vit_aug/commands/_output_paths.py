"""Where a command writes, checked before any work: the folders it makes (``-o``, the record's folder, a run
folder) and the files it writes at its end (a grid, a bank, ``bench --json``). Each path no run could write is
refused by name with what to do, exit code 2, before a model loads: a symbolic link on it that loops, a file
where a folder must be (``-o notes.txt/sub``: the part of the path that is a file is named, not the bare "Not a
directory"), a broken link, a folder where a file must be. Torch-free, as :mod:`.common`, which re-exports it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .._files import looping_link, written_through
from .._ranks import CLIError

__all__ = [
    "folders_to_make", "make_folder", "new_folder", "new_output_file", "refuse_a_folder", "refuse_looping_links",
    "remove_if_empty",
]


def refuse_looping_links(*given: tuple[str, Path | None]) -> None:
    """Each ``(option, path)`` given (``-o``, ``--log``, ``--style``, an input folder) that cannot be resolved
    because a symbolic link on it loops (``ln -s x x``): refused by name, not as Python's "Symlink loop"
    later, nor as a path that does not exist, nor as a broken link."""
    for option, path in given:
        if path is not None and (problem := looping_link(path)):
            raise CLIError(f"{option} {problem}")


def make_folder(folder: Path, what: str) -> None:
    """Create ``folder`` (with its parents), or a :class:`CLIError` naming it and the cause (a
    file in the way, at ``folder`` or at one of its parents; a broken or looping link; a read-only
    file system, no permission) before any work starts."""
    refuse_looping_links((what, folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file (or a broken link) at ``folder`` or on its way
        at = in_the_way(folder)
        name = f"{what} {folder}" if at == folder else f"{at} (in {what} {folder})"
        if at.is_symlink() and not at.exists():
            raise CLIError(
                f"{name} is a broken symbolic link (to {os.readlink(at)}): create the folder it points "
                "to (mkdir -p), or pass another folder"
            ) from None
        away = "" if at == folder else f", or move the file {at} out of the way"
        raise CLIError(f"{name} is a file, not a folder; pass a folder{away}") from None
    except OSError as error:
        raise CLIError(f"cannot create {what} {folder}: {error.strerror or error}") from None


def in_the_way(folder: Path) -> Path:
    """The first part of ``folder``, from its top, that is there and is no folder (a file, a broken link): what
    keeps ``mkdir -p`` from making it (``FileExistsError`` names only the part it met; ``NotADirectoryError``, a
    file further up, names the part below it). ``folder`` itself where none is found (gone meanwhile)."""
    for part in reversed((folder, *folder.parents)):
        if os.path.lexists(part) and not part.is_dir():
            return part
    return folder


@contextmanager
def new_folder(folder: Path, what: str) -> Iterator[None]:
    """:func:`make_folder` for the time inside; the folders this call created (``folder`` and any
    parents it lacked) that are still empty on the way out (the run was refused, or stopped before
    writing) are removed again, innermost first: ``-o out/x/y`` leaves no ``out/x`` behind."""
    created = [parent for parent in (folder.absolute(), *folder.absolute().parents) if not parent.exists()]
    make_folder(folder, what)
    try:
        yield
    finally:
        for made in created:  # innermost first
            try:
                made.rmdir()
            except OSError:  # not empty: the run wrote into it (and so into every parent)
                break


def folders_to_make(root: Path, outputs: Iterable[Path]) -> list[Path]:
    """The folders inside ``root`` that writing ``outputs`` (files under ``root``) will make, those missing now,
    deepest first: what a run that ends with none of them written removes again (:func:`remove_if_empty`), while
    a folder that was there before stays. One look per folder."""
    missing: set[Path] = set()
    looked: set[Path] = set()
    for output in outputs:
        for folder in output.parents:
            if folder == root or root not in folder.parents or folder in looked:
                break
            looked.add(folder)
            if folder.exists():
                break
            missing.add(folder)
    return sorted(missing, key=lambda folder: -len(folder.parts))


def remove_if_empty(folders: Iterable[Path]) -> None:
    """Remove each of ``folders`` (deepest first, as :func:`folders_to_make` gives them) that is empty."""
    for folder in folders:
        with suppress(OSError):  # not empty (a file was written there), or gone
            folder.rmdir()


@contextmanager
def new_output_file(path: Path, what: str, example: str) -> Iterator[Path]:
    """A file a command writes at its end, checked before any work: not a link that loops, nor a broken link (the
    atomic write would replace the link, not make the file it points to), not a folder, and its folder made
    (:func:`new_folder`: removed again on the way out while still empty, so a run refused or failed later leaves no
    folder behind) and writable, so a long run never ends in a refusal. ``example``: a file name to suggest where
    ``path`` is a folder."""
    refuse_looping_links((what, path))
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        raise CLIError(
            f"{what} {path} is a broken symbolic link (to {target}): writing would replace the link, not create "
            f"{target}; pass {target} itself once its folder exists (mkdir -p), or another file"
        )
    refuse_a_folder(path, what, example)
    with new_folder(path.parent, f"the folder of {what}"):
        if not os.access(path.parent, os.W_OK):
            raise CLIError(f"cannot write {what} {path}: its folder {path.parent} cannot be written to")
        real = written_through(path)  # the file it names is replaced, in its own folder
        if real != path and not os.access(real.parent, os.W_OK):
            raise CLIError(f"cannot write {what} {path}: it links to {real}, whose folder {real.parent} cannot be "
                           "written to (the file is replaced in its own folder)")
        yield path


def refuse_a_folder(path: Path, what: str, example: str) -> None:
    """A :class:`CLIError` where the file ``path`` a command is to write is a folder (``example``: a name in it)."""
    if path.is_dir():
        raise CLIError(f"{what} {path} is a folder; give a file name, e.g. {path / example}")
