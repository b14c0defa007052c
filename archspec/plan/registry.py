"""Unit kind -> planner: body blocks, stems and heads. A new kind registers its planner here
(beside the planner, in its own file), its options type in ``archspec.plan.options`` and its
builder in ``archspec.blocks``."""

from __future__ import annotations

from typing import Any, Callable

from ..spec.kinds import BLOCK_KINDS, HEAD_KINDS, STEM_KINDS
from .ops import Size
from .context import UnitContext
from .types import Unit

UnitPlanner = Callable[[Any, UnitContext], Unit]
StemPlanner = Callable[[Any, int, Size, "int | None"], Unit]  # (stem spec, in channels, input size, first width)
HeadPlanner = Callable[[Any, int, Size, int], Unit]  # (head spec, channels, map size, classes)
_PLANNERS: dict[str, UnitPlanner] = {}
_STEMS: dict[str, StemPlanner] = {}
_HEADS: dict[str, HeadPlanner] = {}


def register_planner(block_type: str) -> Callable[[UnitPlanner], UnitPlanner]:
    """Register the planner of a body block kind (one of ``spec.kinds.BLOCK_KINDS``)."""
    if block_type not in BLOCK_KINDS:
        raise ValueError(f"block type {block_type!r} has no spec model; add it to the BlockSpec union "
                         f"(spec/blocks.py) first; known: {', '.join(BLOCK_KINDS)}")

    def decorate(fn: UnitPlanner) -> UnitPlanner:
        _PLANNERS[block_type] = fn
        return fn

    return decorate


def planner_for(block_type: str) -> UnitPlanner:
    try:
        return _PLANNERS[block_type]
    except KeyError:
        raise KeyError(f"no planner for block type {block_type!r}; registered: {', '.join(sorted(_PLANNERS))}") from None


def registered() -> list[str]:
    return sorted(_PLANNERS)


def _register(table: dict[str, Any], kinds: tuple[str, ...], what: str, kind: str) -> Callable[[Any], Any]:
    if kind not in kinds:
        raise ValueError(f"{what} kind {kind!r} has no spec model (spec/models.py); known: {', '.join(kinds)}")

    def decorate(fn: Any) -> Any:
        table[kind] = fn
        return fn

    return decorate


def register_stem(stem_type: str) -> Callable[[StemPlanner], StemPlanner]:
    """Register the planner of a stem ``type`` (its unit kind is ``stem_<type>``)."""
    return _register(_STEMS, STEM_KINDS, "stem", f"stem_{stem_type}")


def register_head(head_type: str) -> Callable[[HeadPlanner], HeadPlanner]:
    """Register the planner of a head ``type`` (one of ``spec.kinds.HEAD_KINDS``)."""
    return _register(_HEADS, HEAD_KINDS, "head", head_type)


def stem_planner_for(stem_type: str) -> StemPlanner:
    return _STEMS[f"stem_{stem_type}"]  # every StemSpec type is registered (tests/test_block_kinds.py)


def head_planner_for(head_type: str) -> HeadPlanner:
    return _HEADS[head_type]


def registered_ends() -> tuple[list[str], list[str]]:
    """The stem and head kinds with a planner."""
    return sorted(_STEMS), sorted(_HEADS)
