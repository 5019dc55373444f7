"""The bundled default checkpoint: the folder it ships in and the name it loads by.

They live below both the registry (which lists the name) and the loader (which reads the folder)
so that :func:`~.folder.write_checkpoint`, the one writer every save path ends in, gives a folder
saved there the card line ``load_stylizer('default')`` whichever path saved it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

DEFAULT_ALIAS = "default"
# the repository's top-level weights/ folder, installed as the package stylizing_vit_aug.weights
BUNDLED_WEIGHTS_DIR = Path(importlib.util.find_spec("stylizing_vit_aug.weights").origin).parent  # type: ignore[union-attr, arg-type]


def is_bundled(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` is the bundled default's folder (by any path that leads there); a link that loops
    is not (Python before 3.13 raises ``RuntimeError`` there: the save's own refusal says what is wrong)."""
    try:
        return Path(directory).expanduser().resolve() == BUNDLED_WEIGHTS_DIR.resolve()
    except (OSError, RuntimeError):
        return False


def card_load_hint(directory: str | os.PathLike) -> str:
    """The source a folder's card tells readers to load: the bundled folder by its alias (its
    path differs on every machine), any other folder by the path it was saved to (``./default`` for one saved as
    ``default``, which would name the bundled one)."""
    if is_bundled(directory):
        return DEFAULT_ALIAS
    path = os.fspath(directory)
    return os.path.join(os.curdir, path) if path.strip().lower() == DEFAULT_ALIAS else path
