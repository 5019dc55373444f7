"""``ImageLike``, the image parameter of ``Stylizer.__call__``, ``stylize_batch``, ``StyleBank.from_images`` and the
metrics, must be a type a static checker accepts: a conditional expression in it is not one (mypy: [valid-type];
pyright: Unknown), and every image parameter then accepts anything unchecked. Read from the source, as a checker
reads it; tests/type_checking/test_mypy.py (slow, needs mypy) checks the same with mypy itself."""

from __future__ import annotations

import ast
import typing
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylizing_vit_aug.images import ImageLike, kinds


def _static_names(tree: ast.Module) -> set[str]:
    """The names a type checker sees imported at the module's top, ``if TYPE_CHECKING:`` blocks included."""
    found = set()
    for node in tree.body:
        checked = isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for statement in node.body if checked else [node]:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                found.update((alias.asname or alias.name).partition(".")[0] for alias in statement.names)
    return found


def _type_expression_problems(node: ast.expr, imported: set[str]) -> list[str]:
    """What in ``node`` a static checker rejects in a type: anything but imported names, their attributes and
    subscripts, joined by ``|``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _type_expression_problems(node.left, imported) + _type_expression_problems(node.right, imported)
    if isinstance(node, ast.Subscript):
        return _type_expression_problems(node.value, imported) + _type_expression_problems(node.slice, imported)
    if isinstance(node, ast.Tuple):
        return [problem for element in node.elts for problem in _type_expression_problems(element, imported)]
    if isinstance(node, ast.Attribute):
        return _type_expression_problems(node.value, imported)
    if isinstance(node, ast.Name) and node.id in imported:
        return []
    return [ast.unparse(node)]


def test_image_like_is_a_valid_static_type():
    tree = ast.parse(Path(kinds.__file__).read_text(encoding="utf-8"))
    [value] = [node.value for node in tree.body
               if isinstance(node, ast.Assign) and [ast.unparse(target) for target in node.targets] == ["ImageLike"]]
    assert _type_expression_problems(value, _static_names(tree)) == []


def test_image_like_names_the_image_kinds_at_run_time_too():
    """``typing.get_type_hints`` users (beartype, pydantic) read the run-time value: the same four kinds."""
    assert set(typing.get_args(ImageLike)) == {torch.Tensor, np.ndarray, Image.Image, Sequence[typing.Any]}
