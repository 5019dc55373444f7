"""The package ships ``py.typed``: the hints of its public API must resolve at run time too, for the
tools that read them through :func:`typing.get_type_hints` (runtime checkers such as beartype or
typeguard, pydantic and typer wrappers), not only for a static checker reading the source."""

from __future__ import annotations

import inspect
import typing

import pytest

import stylizing_vit_aug as sva


def _public_callables() -> list[tuple[str, object]]:
    found = []
    for name in sva.__all__:
        obj = getattr(sva, name)
        if inspect.isfunction(obj):
            found.append((name, obj))
        elif inspect.isclass(obj):
            for attribute, value in vars(obj).items():
                if attribute.startswith("_") and attribute not in ("__init__", "__call__"):
                    continue
                function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
                function = function.fget if isinstance(function, property) else function
                if inspect.isfunction(function):
                    found.append((f"{name}.{attribute}", function))
    return found


PUBLIC = _public_callables()


def test_the_public_api_has_callables_to_check():
    names = {name for name, _ in PUBLIC}
    assert {"Stylizer.__call__", "Stylizer.stylize_batch", "load_stylizer", "StyleBank.from_images"} <= names


@pytest.mark.parametrize(("name", "function"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_public_hints_resolve(name, function):
    hints = typing.get_type_hints(function)
    assert isinstance(hints, dict)
