"""Lazy package attributes: names import their module on first use (PEP 562), code that runs
when another library is imported, and what a front-end says where importing its library fails.

Keeps ``import stylizing_vit_aug`` cheap and optional extras (albumentations, accelerate)
unneeded until a name that uses them is touched.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

_resolving = threading.RLock()  # see _one_at_a_time
LAZY_WAIT_S = 60.0  # the longest a lazy name waits for another thread's import before it imports alongside

# importlib.abc, importlib.util, importlib.metadata, logging and re are imported where used: `import stylizing_vit_aug`
# would otherwise take 3x as long (python -X importtime)


def lazy_attributes(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps attribute -> submodule.

    An attribute named like its submodule (or the submodule's last part: ``"kornia"`` ->
    ``"transforms.kornia"``) is the submodule itself. Any other public submodule is an attribute
    too, imported at first use, as ``metrics`` is: ``sva.bank.HISTOLOGY_ASSETS`` works after
    ``import stylizing_vit_aug`` alone, not only once something has imported ``bank`` (Python sets
    a submodule as its package's attribute only when it is imported).
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None and name.isidentifier() and not name.startswith("_") and _is_submodule(package, name):
            module_name = name
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        with _one_at_a_time():
            module = importlib.import_module(f".{module_name}", package)
        value = module if name == module_name.rpartition(".")[2] else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | {k for k in namespace if not k.startswith("_")})

    return __getattr__, __dir__


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[None]:
    """Held while a lazy name imports its module: threads resolving different names at once in a fresh process
    (their modules import torchvision, each from another side) could each hold a module another needs, and
    Python breaks such a cycle by handing one of them a partially initialised module (``ImportError: cannot
    import name ... from partially initialized module``). A thread that waits :data:`LAZY_WAIT_S` in vain
    imports without it: the holder may itself wait for a module this thread is importing (``from . import
    metrics`` in a module imported directly), a cycle Python's own locks cannot see."""
    held = _resolving.acquire(timeout=LAZY_WAIT_S)
    try:
        yield
    finally:
        if held:
            _resolving.release()


def _is_submodule(package: str, name: str) -> bool:
    """Whether ``package`` has a submodule ``name`` (found, not imported: a missing one stays an
    ``AttributeError``, never an ``ImportError``, so ``hasattr`` keeps working)."""
    import importlib.util

    return importlib.util.find_spec(f"{package}.{name}") is not None


def when_imported(name: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the module ``name`` (a submodule too: ``torch._dynamo``) is imported: now if it
    is, else right after its import, whenever that comes, without importing it here.

    For a library with a registry of classes filled as they are defined (albumentations'
    serialisation): our class joins it in any import order, and a program that never imports
    the library never pays for it. A failing callback is logged, never raised: it must not
    break the program's own import of the library.
    """
    if sys.modules.get(name) is not None:
        _run(callback, name)
    else:
        sys.meta_path.insert(0, _AfterImport(name, callback))


def host_import_error(error: ImportError, *, owner: str, module: str, minimum: str, needs: str) -> ImportError:
    """What front-end ``owner`` raises where importing its host library ``module`` failed with ``error``: ``needs``
    (its "needs X >= minimum: pip install ..." line) only where the host is missing or older than ``minimum``;
    else that importing it failed, with the cause and the distribution(s) that installed it (a fork under another
    name, such as albumentationsx, or two at once), since installing it again would not help (a broken dependency
    of the host, a clash of versions). The caller chains ``error`` (``raise ... from error``).

    Here, at the bottom layer, so that a front-end reaches it without importing the code shared by the front-ends
    (the model, the bank), which a host that fails to import leaves unused."""
    if isinstance(error, ModuleNotFoundError) and error.name == module:
        return ImportError(needs)
    providers = _providers(module)
    installed = " and ".join(f"{name} {version}" for name, version in providers)
    if providers and all(older_than(version, minimum) for _, version in providers):
        return ImportError(f"{needs} ({installed} {'is' if len(providers) == 1 else 'are'} installed)")
    if len(providers) == 1 and _same_name(providers[0][0], module):
        what = f"{module} {providers[0][1]}"  # installed under its own name
    else:
        what = f"{module} (installed by {installed})" if providers else module
    again = " or ".join(name for name, _ in providers) or module
    return ImportError(
        f"{owner}: importing {what} failed, though it is installed: {type(error).__name__}: {error}. Installing "
        f"{again} again will not help: fix the import that failed (the error above shows where; often a dependency "
        f"of {module} missing, or of a version it does not support)"
    )


def older_than(version: str, minimum: str) -> bool:
    """Whether ``version``'s major.minor is below ``minimum``'s: a host library that imports can still be too old
    for a front-end (a convention changed, not a name). A version it cannot read is not older (nothing to say)."""
    import re

    found = re.match(r"(\d+)\.(\d+)", version)
    return bool(found) and tuple(map(int, found.groups())) < tuple(map(int, minimum.split(".")[:2]))


def _providers(module: str) -> list[tuple[str, str]]:
    """``(distribution, version)`` of each installed distribution that provides the top-level ``module``:
    ``packages_distributions`` reads every installed distribution's file list (a second or so: only on the
    error path); a module it does not map (an editable install) is looked up under its own name; [] where
    nothing installed provides it (imported from a folder)."""
    from importlib import metadata

    providers = []
    for name in dict.fromkeys(metadata.packages_distributions().get(module) or [module]):
        try:
            providers.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return providers


def _same_name(distribution: str, module: str) -> bool:
    """Whether ``distribution`` is named as ``module`` (names compare case-blind, ``-``, ``_`` and ``.`` alike)."""
    import re

    return re.sub(r"[-_.]+", "-", distribution).lower() == re.sub(r"[-_.]+", "-", module).lower()


def _run(callback: Callable[[], None], name: str) -> None:
    try:
        callback()
    except Exception as error:  # noqa: BLE001 - see when_imported
        import logging

        logging.getLogger(__name__).warning(
            "after importing %s, %s failed: %r", name, getattr(callback, "__name__", callback), error
        )


class _AfterImport:
    """A one-shot finder (``importlib.abc.MetaPathFinder``'s protocol) at the front of
    ``sys.meta_path``: it finds module ``name`` as the usual finders do and wraps its loader, so
    that ``callback`` runs after the module's code."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name, self.callback, self._finding = name, callback, False

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != self.name or self._finding:
            return None
        import importlib.util

        self._finding = True
        try:
            spec = importlib.util.find_spec(fullname)  # the usual finders (this one stands aside)
        finally:
            self._finding = False
        if spec is None or spec.loader is None:
            return None  # not installed: the import fails as it would have
        spec.loader = _ThenLoader(spec.loader, self)
        return spec

    def done(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        _run(self.callback, self.name)


class _ThenLoader:
    """The module's own loader (``importlib.abc.Loader``'s protocol), then the finder's callback."""

    def __init__(self, loader: Any, finder: _AfterImport) -> None:
        self.loader, self.finder = loader, finder

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader  # the module sees its own loader (resources, reload)
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.finder.done()
