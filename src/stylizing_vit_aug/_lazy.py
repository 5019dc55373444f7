"""Lazy package attributes: names import their module on first use (PEP 562).

Keeps ``import stylizing_vit_aug`` cheap and optional extras (albumentations, accelerate)
unneeded until a name that uses them is touched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps attribute -> submodule.

    An attribute named like its submodule (or the submodule's last part: ``"kornia"`` ->
    ``"transforms.kornia"``) is the submodule itself.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f".{module_name}", package)
        value = module if name == module_name.rpartition(".")[2] else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | {k for k in namespace if not k.startswith("_")})

    return __getattr__, __dir__
