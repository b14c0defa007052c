"""How numbers are shown to people: exact with separators, as papers print them, bytes.

Below every stage, so the report tables (complexity), the diagrams and the CLI show the
same number the same way without importing each other.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

T = TypeVar("T")

__all__ = ["exact", "human", "nbytes", "plain", "tick"]


def exact(value: Any) -> str:
    """Integers with thousands separators; sizes as HxW; None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (tuple, list)):
        return "x".join(map(str, value))
    return str(value)


def plain(value: Any) -> str:
    """Channels, strides, depths: no separators (1024, not 1,024)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else exact(value)


def human(value: Any) -> str:
    """Counts as a paper prints them: 26.21M, 4.489G (exact below a thousand)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return exact(value)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.{3 if suffix == 'G' else 2}f}{suffix}"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def tick(value: float) -> str:
    """An axis tick: as few digits as the value needs (10M, 2.5K, 500, 0.2), never 10.00M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def nbytes(value: Any) -> str:
    """Bytes in binary units: 1.50 MiB, 2.00 GiB (exact below 1 KiB)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return exact(value)
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {suffix}"
    return f"{value} B"



def literal_text(draw: Callable[..., T]) -> Callable[..., T]:
    """``draw`` (a function that makes a matplotlib figure) with mathtext off: text from a user
    (a directory, a metric, a spec name, a title, a point label) is drawn as written. ``$...$``
    would otherwise start a formula, and a malformed one raises when the figure is saved.
    Without matplotlib, ``draw`` runs as it is (and says matplotlib is missing)."""

    @functools.wraps(draw)
    def literally(*args: Any, **kwargs: Any) -> T:
        try:
            from matplotlib import rc_context
        except ImportError:
            return draw(*args, **kwargs)
        with rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return literally
