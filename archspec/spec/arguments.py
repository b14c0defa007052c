"""Checks on the Python API's arguments: a wrong type is a TypeError naming the argument.

Without them ``load(path, overrides="body.depth=20")`` reads each character as an
override, ``limits="big"`` fails deep inside with an AttributeError, and a bytes path
is turned into the file name ``"b'...'"``. The checks are cheap and run once per call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .limits import Limits


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def checked_path(value: Any, name: str = "path") -> str | Path:
    """A str or os.PathLike naming a file (``-``: standard input)."""
    if isinstance(value, (str, Path)):
        return value
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be a str or pathlib.Path, got bytes {bytes(value)[:60]!r}; "
                        "decode it first (os.fsdecode)")
    raise TypeError(f"{name} must be a str or pathlib.Path naming a spec file, got {_kind(value)}")


def _listed(value: Any, name: str, what: str, singles: tuple[type, ...]) -> tuple[Any, ...]:
    """``value`` as a tuple; a lone ``singles`` value (a str is iterable) or a non-iterable is refused."""
    if isinstance(value, singles):
        shown = repr(value)[:60]
        raise TypeError(f"{name} must be a list of {what}, got the single {type(value).__name__} {shown}; "
                        f"write [{shown}]")
    try:
        return tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a list of {what}, got {_kind(value)}") from None


def checked_overrides(value: Any, name: str = "overrides") -> tuple[str, ...]:
    """An iterable of ``"path=value"`` strings; a lone string is refused, not split into characters."""
    items = _listed(value, name, "'path=value' strings", (str, bytes))
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{i}] must be a 'path=value' string, got {_kind(item)}")
    return items


def checked_limits(value: Any, name: str = "limits") -> Limits | None:
    if value is None or isinstance(value, Limits):
        return value
    raise TypeError(f"{name} must be an archspec.spec.limits.Limits (e.g. Limits(max_params=10**11)) or None, "
                    f"got {_kind(value)}")


def checked_roots(value: Any, name: str = "allow_roots") -> tuple[str | Path, ...]:
    roots = _listed(value, name, "directories", (str, Path, bytes))
    for i, root in enumerate(roots):
        checked_path(root, f"{name}[{i}]")
    return roots


def checked_text(value: Any, name: str = "text") -> str:
    if isinstance(value, str):
        return value
    hint = "; decode it first (bytes.decode('utf-8'))" if isinstance(value, (bytes, bytearray)) else ""
    raise TypeError(f"{name} must be the spec's YAML text as a str, got {type(value).__name__}{hint}")


