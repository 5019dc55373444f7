"""The files the app reads: the bundled content images, visitors' uploads, and style folders
listed within bounds and inside the allowed folders, with the stamps that tell when one changed,
and no image of more pixels than a visitor's request may cost.

Visitors type and upload what the page reads, so the rules of which files it may read, how many,
and what it says when it stops short live here, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._files import stamp_or_none
from .app_settings import Settings
from .bank import HISTOLOGY_ASSETS
from .images import IMAGE_EXTENSIONS, MAX_PIXELS, read_image, unread_kind
from .images.headers import PILLOW_DEFAULT_PIXELS, PixelLimit
from .images.listing import list_images
from .option_choices import MAX_FOLDER_IMAGES as MAX_FOLDER_IMAGES  # re-exported: a folder source's limit

__all__ = [
    "MAX_CONTENTS",
    "MAX_STYLE_UPLOADS",
    "MAX_FOLDER_IMAGES",
    "MAX_FOLDER_WALK",
    "MAX_VISITOR_PIXELS",
    "PathNotAllowed",
    "bundled_contents",
    "checked_upload",
    "content_paths",
    "folder_cap_note",
    "folder_images",
    "inside",
    "no_images_found",
    "read_visitor_image",
    "stamps",
]

MAX_CONTENTS = 8  # content rows: 60 uploads made one 57 s render that stalled every visitor
MAX_STYLE_UPLOADS = 16  # uploaded styles read (the grid shows at most 8): each upload of 8000 px cost 1.5 s
MAX_FOLDER_WALK = 2000  # a folder source's MAX_FOLDER_IMAGES are found in at most this many folders (a huge tree)
MAX_VISITOR_PIXELS = PILLOW_DEFAULT_PIXELS
"""The most pixels the page decodes from one image a visitor names (an upload, a style folder's file): Pillow's
decompression-bomb default, 89,478,485 (9459 x 9459; an 8192 px tile or a 12000 x 7400 slide export pass). The
package reads the user's own files up to 2**30 pixels: a 219 KB upload of 15000 x 15000 cost the page 1.6 GB and
13.5 s; one at this limit costs about 0.6 GB (RGB: the reader's 7 bytes a pixel; it is made small a band at a
time, never whole as floats, which held 1.3 GB). No larger than Pillow's default, so the reader never lifts
Pillow's process-wide guard while it decodes a visitor's file (:data:`~.images.headers.PILLOW_DEFAULT_PIXELS`)."""
# what the page says of an image past MAX_VISITOR_PIXELS: why that limit, and what to do with an upload, a folder's
_PIXEL_LIMIT_WHY = "the page's limit on a visitor's image, Pillow's decompression-bomb default"
_UPLOAD_SMALLER = (
    "upload a copy scaled down or cut to a tile (the page shows it small anyway), or preview the file on your "
    f"own machine with `stylizing-vit-aug preview`, which reads images up to {MAX_PIXELS:,} pixels"
)
_FOLDER_SMALLER = (
    "the page leaves it out: put a copy scaled down or cut to tiles in the folder, or build a bank file of the "
    f"folder with `stylizing-vit-aug bank build` (which reads images up to {MAX_PIXELS:,} pixels) and pick that"
)


class PathNotAllowed(ValueError):
    """A bank file or style folder outside the folders the page may read."""


def inside(path: Path, roots: Sequence[Path] | None) -> bool:
    """Whether the resolved ``path`` is one of ``roots`` or under one (None: anywhere)."""
    return roots is None or any(path == root or root in path.parents for root in roots)


def folder_images(
    root: Path, allowed: Sequence[Path] | None = None, limit: int | None = None
) -> tuple[list[Path], bool]:
    """The image files under ``root`` as :func:`~stylizing_vit_aug.images.find_images` lists them
    (a linked folder or file once, at its own path), but bounded: at most ``limit`` (default
    :data:`MAX_FOLDER_IMAGES`) from at most :data:`MAX_FOLDER_WALK` folders, and no symlink
    followed out of the ``allowed`` roots. Also whether the listing stopped early.

    The page lists what a visitor types, so it must neither read outside what it may read nor
    walk a whole file system (``/proc/self`` once found 6,412 images in 70 s).
    """
    within = None if allowed is None else lambda path: inside(path, allowed)
    limit = MAX_FOLDER_IMAGES if limit is None else limit
    return list_images(root, within=within, max_images=limit, max_folders=MAX_FOLDER_WALK)


def no_images_found(path: Path, stopped: bool) -> str:
    """Why a style folder gave no image: it holds none, or (``stopped`` with nothing found: the
    folder cap, since the image cap needs images) they lie past the folders the page walks."""
    kinds = "/".join(IMAGE_EXTENSIONS)
    if not stopped:
        return f"no {kinds} images found under {path}"
    return (
        f"no {kinds} images found in the first {MAX_FOLDER_WALK} folders under {path}: the page stops "
        f"looking after {MAX_FOLDER_WALK} folders, so images further in were not reached. Point it at a "
        "narrower folder, one that holds the style images"
    )


def folder_cap_note(path: Path, count: int) -> str:
    """The page's note on a style folder that holds more than it reads: it took the first ``count``
    images, and a smaller folder lets the visitor choose them."""
    return (
        f"The folder {path} holds more than the page reads: it took the first {count} images "
        f"it found (at most {MAX_FOLDER_IMAGES}, from at most {MAX_FOLDER_WALK} folders). Point it "
        "at a smaller folder to choose the styles."
    )


def stamps(paths: Sequence[Path]) -> tuple[tuple[str, int, int, int], ...]:
    """What a listing sees of each file: its path and :func:`~stylizing_vit_aug._files.file_stamp`
    (size, modification time, inode; -1s: it cannot be looked at, and reading it will say why).
    Decoded files are kept under these, so a file added, removed, overwritten in place or replaced
    (a new file renamed over it) is read again."""
    return tuple((str(path), *(stamp_or_none(path) or (-1, -1, -1))) for path in paths)


def bundled_contents() -> dict[str, Path]:
    """The bundled histology images by name (file stem)."""
    return {path.stem: path for path in sorted(HISTOLOGY_ASSETS.glob("*.jpg"))}


def checked_upload(path: str, what: str) -> Path:
    """An uploaded file, refused (ValueError: what to upload instead) unless its extension is one
    :data:`~stylizing_vit_aug.images.IMAGE_EXTENSIONS` names: the rule the command line and folder
    listings apply, so a GIF the page would otherwise decode is refused here as it is there; one the
    page has deleted since (``build_app(delete_cache=)``) is to be uploaded again."""
    upload = Path(path)
    if problem := unread_kind(upload, f"{what} {upload.name}"):
        raise ValueError(f"{problem} and upload that")
    if not upload.exists():
        raise ValueError(
            f"{what} {upload.name} is no longer on the server (the page deletes uploads after a while): upload it again"
        )
    return upload


def read_visitor_image(path: Path, what: str, *, in_folder: bool = False) -> np.ndarray:
    """A visitor's ``what`` ("content image", "style image"; ``in_folder``: a style folder's file, with that
    advice) as :func:`~.images.read_image` reads it, refused (:class:`~.images.ImageReadError` naming the file,
    its size, the limit and what to do) past :data:`MAX_VISITOR_PIXELS` from the header of the opening that
    decodes it, whatever ``PIL.Image.MAX_IMAGE_PIXELS`` the process holds: a small upload can unpack to
    gigabytes, and the page serves everyone from one process. The page's one reading of a visitor's file: its
    preview, bank style and notes are made from these pixels, those of the file whose header was checked."""
    advice = _FOLDER_SMALLER if in_folder else _UPLOAD_SMALLER
    return read_image(path, limit=PixelLimit(MAX_VISITOR_PIXELS, what, _PIXEL_LIMIT_WHY, advice))


def content_paths(settings: Settings) -> tuple[list[Path], str | None]:
    """The first :data:`MAX_CONTENTS` content files ``settings`` name (ValueError: what to change), and
    a note naming those left out: each row costs time, and one visitor's render stalls the page for all."""
    known = bundled_contents()
    unknown = [name for name in settings.contents if name not in known]
    if unknown:
        raise ValueError(f"no bundled content image named {unknown[0]!r}; choose from {sorted(known)}")
    named = [*settings.contents, *settings.content_files]
    if not named:
        raise ValueError("pick a bundled content image or upload one of yours")
    bundled = len(settings.contents)
    paths = [
        known[name] if i < bundled else checked_upload(name, "content image")
        for i, name in enumerate(named[:MAX_CONTENTS])
    ]
    left = [Path(name).name for name in named[MAX_CONTENTS:]]
    if not left:
        return paths, None
    return paths, (
        f"The page shows at most {MAX_CONTENTS} content images: {len(left)} were left out "
        f"({', '.join(left[:5])}{', ...' if len(left) > 5 else ''}). Remove some to see the others."
    )
