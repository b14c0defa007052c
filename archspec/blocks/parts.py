"""Modules around the blocks: conv-BN-act groups, pool and transition units, layer-list
and empty stems, the MLP, conv-classifier and conv-pool heads, training-only aux classifiers.

Each is built from its Plan row, every layer from the op record of the same path.
"""

from __future__ import annotations

import torch
from torch import nn

from ..plan.stems import StemPool
from ..plan.init import InitRules
from ..plan.types import Unit
from .layers import activation, conv, linear, norm, pool, skip
from .registry import register_builder


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


@register_builder("conv_pool")
class ConvPoolHead(nn.Module):
    """Dropout, conv1x1 to the classes, activation, global average pool, flatten (SqueezeNet's classifier)."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.dropout = nn.Dropout(unit.options.dropout)
        self.conv = conv(unit.op("conv"))
        self.act = activation(unit.options.act)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def init_fills(self, prefix: str, rules: InitRules) -> list:
        """Called by :func:`archspec.blocks.init.initialise`: the conv is the network's classifier, so it
        takes the ``linear`` rules (torchvision's SqueezeNet: its final conv normal(0, 0.01), bias 0)."""
        from .init import layer_fills

        return layer_fills(f"{prefix}conv.", self.conv, rules.linear, rules.linear_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.act(self.conv(self.dropout(x)))), 1)
