"""The house: modules import only from their own layer or the layers below (function-level
imports included), and nothing imports in a circle. One test, read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "stylizing_vit_aug"

# bottom to top; a module may import from its own layer or any layer below
LAYERS: list[set[str]] = [
    {"_lazy", "_shared", "_atomic", "_folder_swap", "_files", "_progress", "_ranks", "_signals", "_state_cache",
     "_words", "devices", "draws", "images", "option_choices", "seeds"},
    {"image_ops", "colour", "guided", "model", "_model_channels", "per_image", "stain_transfer", "strip_path",
     "style_stream", "tissue"},
    {"checkpoints", "inference", "registry"},
    {"stylizer", "stylizer_entry", "stylizer_options"},
    {"hub", "hub_download", "local_checkpoint"},
    {"bank", "metrics", "grid", "benchmarking"},
    {"transforms", "tta", "tta_classifier", "tta_options", "kornia"},
    {"train"},
    {"app", "app_files", "app_previewer", "app_settings", "commands", "cli", "__main__"},
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    """``stylizing_vit_aug.train.losses`` -> ``train`` (a subpackage is one unit)."""
    return module.split(".")[1] if module.count(".") else ""


def _imports(path: Path) -> set[str]:
    """Every ``stylizing_vit_aug`` module the file imports, anywhere in it."""
    parts = ("stylizing_vit_aug", *path.relative_to(PACKAGE).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            target = ".".join((*base, *(node.module.split(".") if node.module else ())))
            if not target.startswith("stylizing_vit_aug"):
                continue
            if node.module is None or target == "stylizing_vit_aug":  # from . import x, y
                found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "__version__")
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("stylizing_vit_aug."))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if unit == "__init__":
            continue  # the package root only lists lazy names
        graph.setdefault(unit, set()).update(_unit(m) for m in _imports(path) if _unit(m) not in ("", unit))
    return graph


def test_every_module_has_a_layer():
    assert set(_graph()) <= set(LAYER_OF) | {"assets", "weights"}, set(_graph()) - set(LAYER_OF)


def test_imports_run_one_way_down_the_layers():
    upward = [
        f"{unit} (layer {LAYER_OF[unit]}) imports {target} (layer {LAYER_OF[target]})"
        for unit, targets in _graph().items() if unit in LAYER_OF
        for target in targets if target in LAYER_OF and LAYER_OF[target] > LAYER_OF[unit]
    ]
    assert not upward, upward


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        state[unit] = 1
        for target in graph.get(unit, ()):
            assert state.get(target) != 1, " -> ".join([*trail, unit, target])
            if target not in state:
                visit(target, [*trail, unit])
        state[unit] = 2

    for unit in graph:
        if unit not in state:
            visit(unit, [])
