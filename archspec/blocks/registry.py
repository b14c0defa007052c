"""Block type -> module builder (a callable taking one Plan row)."""

from __future__ import annotations

from typing import Callable, TypeVar

from torch import nn

from ..plan.types import Unit
from ..spec.kinds import UNIT_KINDS

Builder = Callable[[Unit], nn.Module]
B = TypeVar("B", bound=Builder)
_BUILDERS: dict[str, Builder] = {}


def register_builder(block_type: str) -> Callable[[B], B]:
    """Register the module builder of a Plan row kind (one of ``spec.kinds.UNIT_KINDS``)."""
    if block_type not in UNIT_KINDS:
        raise ValueError(f"unit kind {block_type!r} is not one the planner makes; known: {', '.join(UNIT_KINDS)}")

    def decorate(builder: B) -> B:
        _BUILDERS[block_type] = builder
        return builder

    return decorate


def build_unit(unit: Unit) -> nn.Module:
    """A unit with a graph is built from it (blocks/graph_unit.py); the kinds not yet moved onto
    graphs by their registered builder."""
    if unit.graph is not None:
        from .graph_unit import build_graph_unit

        return build_graph_unit(unit)
    try:
        builder = _BUILDERS[unit.block]
    except KeyError:
        raise KeyError(f"no builder for block type {unit.block!r}; registered: {', '.join(sorted(_BUILDERS))}") from None
    return builder(unit)
