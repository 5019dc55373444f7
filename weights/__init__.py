"""The bundled default checkpoint (``model.safetensors``, ``config.json``, ``README.md``).

This folder is the top-level ``weights/`` of the repository, installed as the package
``stylizing_vit_aug.weights`` (see ``pyproject.toml``) so that ``pip install .`` ships it and an
editable install finds it in place. ``load_stylizer()`` with no source loads it.
"""
