"""One registry class for everything that registers by name, and discovery of the modules that do.

Spec models, planners, stems and heads, unit options, builders and converter rules each keep a
:class:`Registry`. A module registers its entries with ``@registry.register(name)`` when it is
imported, and a package's modules are found with :func:`discover` rather than listed by hand,
so adding a block is adding files, not editing lists. No imports of archspec here: every layer
may use it.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Callable, Collection, Generic, Iterator, TypeVar

T = TypeVar("T")
_DISCOVERED: set[str] = set()


class Registry(Generic[T]):
    """Names to entries of one kind (``what``: "planner", "builder"...).

    ``allowed`` (a callable, read when a name registers) restricts names to a known list: a
    planner for a block type with no spec model is refused at import, not at first use.
    ``package`` is discovered (every module imported) before the first lookup; ``refusal`` says
    why a name outside ``allowed`` cannot register.
    """

    def __init__(self, what: str, allowed: Callable[[], Collection[str]] | None = None,
                 package: str | None = None, refusal: str = "is not a known kind"):
        self.what = what
        self._refusal = refusal
        self._entries: dict[str, T] = {}
        self._allowed = allowed
        self._package = package

    def register(self, *names: str) -> Callable[[T], T]:
        """A decorator registering its argument under each of ``names`` (the last registration wins)."""
        if self._allowed is not None:
            known = self._allowed()
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(f"{self.what} {unknown[0]!r} {self._refusal}; known: {', '.join(known)}")

        def decorate(entry: T) -> T:
            for name in names:
                self._entries[name] = entry
            return entry

        return decorate

    def add(self, name: str, entry: T) -> T:
        return self.register(name)(entry)

    def _ready(self) -> dict[str, T]:
        if self._package is not None:
            discover(self._package)
        return self._entries

    def __getitem__(self, name: str) -> T:
        entries = self._ready()
        try:
            return entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(entries), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"no {self.what} for {name!r}{hint}; registered: {', '.join(sorted(entries))}") from None

    def get(self, name: str, default: T | None = None) -> T | None:
        return self._ready().get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._ready()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ready()))

    def __len__(self) -> int:
        return len(self._ready())

    def names(self) -> list[str]:
        return sorted(self._ready())

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._ready().items())


def discover(package: str) -> None:
    """Import every module of ``package`` once, so that each registers what it defines."""
    if package in _DISCOVERED:
        return
    _DISCOVERED.add(package)
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
