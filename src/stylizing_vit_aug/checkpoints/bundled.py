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
    """Whether ``directory`` is the bundled default's folder (by any path that leads there)."""
    return Path(directory).expanduser().resolve() == BUNDLED_WEIGHTS_DIR.resolve()


def card_load_hint(directory: str | os.PathLike) -> str:
    """The source a folder's card tells readers to load: the bundled folder by its alias (its
    path differs on every machine), any other folder by the path it was saved to."""
    return DEFAULT_ALIAS if is_bundled(directory) else os.fspath(directory)
