"""Objects a process's cache hands to every caller asking for the same source (a front-end's stylizer loaded from a
checkpoint source string, a bank loaded from a file, the bundled sample bank): their settings cannot be set.

Setting ``tf.stylizer.background = "dark"`` on one such transform changed every transform of that source in the
process, and a spawned DataLoader worker, which loads the source again, stylised without it (a round-trip probe:
10–93 levels apart). Each ``shared_*`` function marks such an object with what the caller gave and how to get one of
their own; :func:`refuse_if_shared`, called by each option's setter, says so instead of setting it. A copy (pickled,
``copy.deepcopy``) is the caller's own and unmarked (:data:`SHARED_MARK` is not pickled).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "SHARED_MARK", "Shared", "read_only_if_shared", "refuse_if_shared", "shared_bank", "shared_bundled_bank",
    "shared_stylizer",
]

SHARED_MARK = "_shared_as"
"""The attribute holding the mark (absent on an object of the caller's own; never pickled)."""

T = TypeVar("T")


class Shared(NamedTuple):
    """How a shared object was asked for (``stylizer='default'``) and how to get one of the caller's own."""

    given: str
    own: str


def refuse_if_shared(value: Any, name: str) -> None:
    """Refuse to set option ``name`` of a shared ``value`` (an ``AttributeError``, as a read-only option's)."""
    shared: Shared | None = getattr(value, SHARED_MARK, None)
    if shared is None:
        return
    raise AttributeError(
        f"{type(value).__name__}.{name} cannot be set on this one: it was loaded for {shared.given} and is shared by "
        "every transform (and caller) given that in this process, and a DataLoader worker loads it again from there "
        f"without the change, so setting it here would change the others and not the workers. {shared.own}"
    )


class _ReadOnlyList(list):
    """A shared object's list attribute as read (a copy): writing an item is refused as setting the attribute is
    (``tf.bank.domains[3] = "b"`` relabelled the bank of every transform of that file, and not a spawned worker's)."""

    __slots__ = ("_owner", "_name")

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        refuse_if_shared(self._owner, self._name)

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple:  # a plain list: never its owner
        return list, (list(self),)


def read_only_if_shared(owner: Any, name: str, value: list | None) -> list | None:
    """``value``, list attribute ``name`` of ``owner``, as a read-only copy where ``owner`` is shared."""
    if value is None or getattr(owner, SHARED_MARK, None) is None:
        return value
    view = _ReadOnlyList(value)
    view._owner, view._name = owner, name
    return view


def shared_stylizer(stylizer: T, source: str, revision: str | None, options: Mapping[str, Any]) -> T:
    """``stylizer``, loaded for checkpoint ``source`` (with ``load_stylizer`` keywords ``options``: a bank file's
    record), marked as shared."""
    given = {"revision": revision, **options}
    arguments = ", ".join([repr(source), *(f"{k}={v!r}" for k, v in given.items() if v is not None)])
    own = (f"Load one of your own, stylizer = sva.load_stylizer({arguments}), set it there and pass "
           "stylizer=stylizer (a transform also takes mode= and device= itself).")
    return _marked(stylizer, f"stylizer={source!r}" + (" (as a bank file records it)" if options else ""), own)


def shared_bank(bank: T, path: str) -> T:
    """``bank``, loaded from bank file ``path``, marked as shared."""
    own = (f"Load one of your own, bank = sva.StyleBank.load({path!r}, stylizer), set it there and pass bank=bank "
           "(bank.save(path) first, for a saved pipeline to record it).")
    return _marked(bank, f"bank={path!r}", own)


def shared_bundled_bank(bank: T) -> T:
    """``bank``, the bundled sample bank of a stylizer, marked as shared."""
    own = ("Make one of your own, sva.StyleBank(bank.images, bank.stylizer, domains=bank.domains, "
           "sources=bank.sources), set it there and pass bank= it.")
    return _marked(bank, "the bundled sample bank", own)


def _marked(value: T, given: str, own: str) -> T:
    setattr(value, SHARED_MARK, Shared(given, own))
    return value
