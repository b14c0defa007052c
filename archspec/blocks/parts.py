"""The conv-BN-act group, for the kinds not yet built from their graphs.

The stems, heads, pool, transition and aux-classifier units are built from their graphs
(plan/stems.py, plan/heads.py, plan/parts.py; blocks/graph_unit.py).
"""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import activation, conv, norm, skip


class ConvNormAct(nn.Module):
    """``<prefix>.conv``, ``<prefix>.bn`` (where the Plan has one) and an activation."""

    def __init__(self, unit: Unit, prefix: str, act: str):
        super().__init__()
        name = f"{prefix}." if prefix else ""
        self.conv = conv(unit.op(f"{name}conv"))
        self.bn = norm(unit.op(f"{name}bn")) if unit.has(f"{name}bn") else skip
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))
