"""Block type -> unit planner. New block types register here, their options type in
``archspec.plan.options``, and their builder in ``archspec.blocks``."""

from __future__ import annotations

from typing import Any, Callable

from ..spec.kinds import BLOCK_KINDS
from .context import UnitContext
from .types import Unit

UnitPlanner = Callable[[Any, UnitContext], Unit]
_PLANNERS: dict[str, UnitPlanner] = {}


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
