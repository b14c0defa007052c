"""Resource limits for untrusted specs: refuse early instead of allocating.

The defaults are generous for real networks (the biggest bundled spec has 69M
parameters and 90 units) and small enough that a hostile or mistyped spec fails
in milliseconds. The CLI sets them from ``--max-params`` and friends (or the
``ARCHSPEC_MAX_*`` environment variables); the library reads :func:`current`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1 << 20  # spec file size
    max_nodes: int = 20_000  # YAML nodes after alias expansion (a 272-layer explicit spec has ~400)
    max_nesting: int = 64  # mapping/list nesting depth
    max_extends: int = 32  # files in one `extends` chain (each is read, parsed and merged: recursion)
    max_units: int = 10_000  # body units, checked before planning allocates a row per unit
    max_params: int = 10**10
    max_macs: int = 10**13
    # bytes a build may allocate (archspec.plan.memory_budget); None: half the machine's memory
    max_memory: int | None = None
    # directories besides the spec's own that ``extends`` may read (--allow-root)
    extends_roots: tuple[Path, ...] = ()


_current = Limits()


def current() -> Limits:
    return _current


def configure(**changes: Any) -> Limits:
    """Change the process-wide limits (``None`` keeps a value); returns the new limits."""
    global _current
    _current = replace(_current, **{k: v for k, v in changes.items() if v is not None})
    return _current


def reset() -> Limits:
    """Back to the defaults (``configure`` cannot set a limit back to None)."""
    global _current
    _current = Limits()
    return _current
