"""Block type -> module builder (a callable taking one Plan row)."""

from __future__ import annotations

from typing import Callable, TypeVar

from torch import nn

from ..plan.types import Unit
from ..registry import Registry
from ..spec.kinds import UNIT_KINDS

Builder = Callable[[Unit], nn.Module]
B = TypeVar("B", bound=Builder)
BUILDERS: Registry[Builder] = Registry("unit kind", lambda: UNIT_KINDS, "archspec.blocks",
                                         "is not one the planner makes")


def register_builder(block_type: str) -> Callable[[B], B]:
    """Register the module builder of a Plan row kind (one of ``spec.kinds.UNIT_KINDS``) that is not
    built from its graph: a kind not yet moved onto one."""
    return BUILDERS.register(block_type)  # type: ignore[return-value]


def build_unit(unit: Unit) -> nn.Module:
    """A unit with a graph is built from it (blocks/graph_unit.py); the kinds not yet moved onto
    graphs by their registered builder."""
    if unit.graph is not None:
        from .graph_unit import build_graph_unit

        return build_graph_unit(unit)
    return BUILDERS[unit.block](unit)
