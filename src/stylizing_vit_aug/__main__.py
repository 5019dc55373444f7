"""``python -m stylizing_vit_aug COMMAND``: the console script ``stylizing-vit-aug`` (:func:`.cli.main`), for
an environment whose scripts folder is not on PATH, or to name the interpreter that runs it."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
