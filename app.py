"""Hugging Face Space entry point: the page of ``stylizing-vit-aug app`` (a Space with
``sdk: gradio`` runs this file; ``python app.py`` runs it locally too).

The Space's requirements.txt installs this package with the ``app`` extra. The Space variable
STYLIZING_VIT_AUG_CHECKPOINT picks the checkpoint (any ``load_stylizer`` source); unset, the
bundled default.
"""

import os

from stylizing_vit_aug.app import build_app
from stylizing_vit_aug.hub import load_stylizer

demo = build_app(load_stylizer(os.environ.get("STYLIZING_VIT_AUG_CHECKPOINT") or None))

if __name__ == "__main__":
    demo.launch()
