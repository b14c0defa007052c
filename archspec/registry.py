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
from pathlib import Path
from typing import Callable, Collection, Generic, Iterator, TypeVar

T = TypeVar("T")
_DISCOVERED: set[str] = set()


class Registry(Generic[T]):
    """Names to entries of one kind (``what``: "planner", "builder"...).

    ``allowed`` (a callable, read when a name registers) restricts names to a known list: a
    planner for a block type with no spec model is refused at import, not at first use.
    ``package`` is discovered before a lookup: looking up one name first imports only the
    package's modules that spell it (``"name"`` in their source, or ``spelled(name)`` where a
    registration adds a prefix), and every module only when that finds nothing or when all
    names are asked for; ``refusal`` says why a name outside ``allowed`` cannot register.
    """

    def __init__(self, what: str, allowed: Callable[[], Collection[str]] | None = None,
                 package: str | None = None, refusal: str = "is not a known kind",
                 spelled: Callable[[str], str] | None = None):
        self.what = what
        self._refusal = refusal
        self._entries: dict[str, T] = {}
        self._allowed = allowed
        self._package = package
        self._spelled = spelled or (lambda name: name)

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

    def _ready_for(self, name: str) -> dict[str, T]:
        """The entries once ``name`` is registered if any module of the package registers it (see the class)."""
        if name not in self._entries and self._package is not None and self._package not in _DISCOVERED:
            for module in spelling(self._package, self._spelled(name)):
                importlib.import_module(module)
        return self._entries if name in self._entries else self._ready()

    def __getitem__(self, name: str) -> T:
        entries = self._ready_for(name)
        try:
            return entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(entries), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"no {self.what} for {name!r}{hint}; registered: {', '.join(sorted(entries))}") from None

    def get(self, name: str, default: T | None = None) -> T | None:
        return self._ready_for(name).get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in (self._ready_for(name) if isinstance(name, str) else self._ready())

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ready()))

    def __len__(self) -> int:
        return len(self._ready())

    def names(self) -> list[str]:
        return sorted(self._ready())

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._ready().items())


_SOURCES: dict[str, list[tuple[str, str]]] = {}


def spelling(package: str, name: str) -> list[str]:
    """The modules of ``package`` whose source has ``name`` as a string literal, in discovery order.

    A light command plans one or two kinds: importing the modules that register just those,
    rather than every family's planner, keeps the start-up flat as families are added. The
    sources are read once (about a millisecond for the package); a lookup the literals miss
    falls back to :func:`discover`, so no registration is ever missed.
    """
    sources = _SOURCES.get(package)
    if sources is None:
        pkg = importlib.import_module(package)
        sources = []
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_"):
                continue
            try:
                path = Path(info.module_finder.path, f"{info.name}.py")  # type: ignore[union-attr]
                sources.append((f"{package}.{info.name}", path.read_text(encoding="utf-8")))
            except (AttributeError, OSError, UnicodeDecodeError):
                sources.append((f"{package}.{info.name}", ""))  # not a plain source file: found by discover() only
        _SOURCES[package] = sources
    quoted = (f'"{name}"', f"'{name}'")
    return [module for module, text in sources if quoted[0] in text or quoted[1] in text]


def discover(package: str) -> None:
    """Import every module of ``package`` once, so that each registers what it defines."""
    if package in _DISCOVERED:
        return
    _DISCOVERED.add(package)
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
