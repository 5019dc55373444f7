"""The package ships ``py.typed``, but its public names load lazily (a module ``__getattr__``), which a type
checker cannot follow: what mypy and pyright see is the ``if TYPE_CHECKING:`` imports of each such module. They must
name exactly what the module gives at run time (its lazy table, ``__all__``), as the very same objects; a name left
out is ``Any`` to the checker (wrong calls pass unseen) or missing (a false error in correct code).

tests/type_checking/ runs mypy itself on user-style scripts (slow)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

import stylizing_vit_aug
import stylizing_vit_aug.kornia  # noqa: F401 - it puts the front-end module in its place
from stylizing_vit_aug import train, transforms

PACKAGE = Path(stylizing_vit_aug.__file__).parent


def _checked_imports(path: Path, package: str) -> dict[str, tuple[str, str]]:
    """``name -> (module, name)`` of each ``from module import name as name`` under the module's top-level
    ``if TYPE_CHECKING:`` (the redundant alias is what marks a re-export to mypy and pyright)."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
            module = importlib.util.resolve_name("." * statement.level + (statement.module or ""), package)
            for alias in statement.names:
                assert alias.asname == alias.name, f"{ast.unparse(statement)}: no re-export without `as {alias.name}`"
                found[alias.name] = (module, alias.name)
    return found


def _imported(module: str, name: str) -> object:
    """What ``from module import name`` gives: the submodule ``module.name`` where there is one (as a type checker
    reads it), else the module's attribute."""
    try:
        return importlib.import_module(f"{module}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{module}.{name}":
            raise
    return getattr(importlib.import_module(module), name)


# (file, its package for relative imports, the module as imported, the names it gives at run time)
CASES = [
    (PACKAGE / "__init__.py", "stylizing_vit_aug", stylizing_vit_aug, set(stylizing_vit_aug._LAZY)),
    (PACKAGE / "transforms" / "__init__.py", "stylizing_vit_aug.transforms", transforms, set(transforms.FRONT_ENDS)),
    (PACKAGE / "train" / "__init__.py", "stylizing_vit_aug.train", train, set(train._LAZY)),
    # kornia.py swaps itself for the front-end's module in sys.modules
    (PACKAGE / "kornia.py", "stylizing_vit_aug", sys.modules["stylizing_vit_aug.kornia"],
     set(sys.modules["stylizing_vit_aug.kornia"].__all__)),
]


@pytest.mark.parametrize(("path", "package", "module", "names"), CASES, ids=["root", "transforms", "train", "kornia"])
def test_type_checkers_see_every_lazy_name_as_the_object_it_loads(path, package, module, names):
    checked = _checked_imports(path, package)
    assert names, "no lazy names found: the table moved?"
    assert sorted(set(checked) ^ names) == [], "the TYPE_CHECKING imports and the names given at run time differ"
    assert names == set(module.__all__) - {"__version__"}
    for name, (source, attribute) in checked.items():
        assert _imported(source, attribute) is getattr(module, name), f"{name}: from {source} is another object"

