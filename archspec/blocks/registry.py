"""Plan row -> module: every unit is built from its step graph (blocks/graph_unit.py).

There is no builder per kind: a kind is its planner's graph. A planner that returns a unit
without a graph is an error named here, not a silent fallback.
"""

from __future__ import annotations

from torch import nn

from ..plan.types import Unit
from . import graph_unit


def build_unit(unit: Unit) -> nn.Module:
    if unit.graph is None:
        raise TypeError(f"unit {unit.name} ({unit.block!r}) has no step graph: its planner must make one "
                        "(docs/adding-a-block.md)")
    return graph_unit.build_graph_unit(unit)
