"""The output format a file name asks for, shared by diagrams (Graphviz) and plots (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def suffix_format(target: Path, formats: Sequence[str], what: str) -> str:
    """The format named by ``target``'s suffix; ``ValueError`` names the allowed ones."""
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in formats:
        allowed = ", ".join(f".{f}" for f in formats)
        raise ValueError(f"cannot tell the {what} format from {target.name!r}: end the file name in {allowed}")
    return fmt
