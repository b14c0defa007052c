"""Inception modules and MBConv units, each built from its Plan row (dense layers: from their graphs)."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import DropPath, pool, skip
from .parts import ConvNormAct
from .registry import register_builder
from .residual import SqueezeExcite


@register_builder("inception")
class InceptionModule(nn.Module):
    """Four branches (1x1; 1x1-kxk; 1x1-kxk; max-pool-1x1), concatenated (torchvision's layout)."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.branch1 = ConvNormAct(unit, "branch1", "relu")
        self.branch2 = nn.Sequential(ConvNormAct(unit, "branch2.0", "relu"), ConvNormAct(unit, "branch2.1", "relu"))
        self.branch3 = nn.Sequential(ConvNormAct(unit, "branch3.0", "relu"), ConvNormAct(unit, "branch3.1", "relu"))
        self.branch4 = nn.Sequential(pool(unit.options.pool), ConvNormAct(unit, "branch4.1", "relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


@register_builder("mbconv")
class MBConvUnit(nn.Module):
    """Expand-depthwise-SE-project; identity shortcut with stochastic depth where the shape allows."""

    def __init__(self, unit: Unit):
        super().__init__()
        act = unit.options.act
        self.expand = ConvNormAct(unit, "expand", act) if unit.has("expand.conv") else skip
        self.dw = ConvNormAct(unit, "dw", act)
        self.se = SqueezeExcite(unit, act) if unit.has("se.fc1") else skip
        self.project = ConvNormAct(unit, "project", "none")
        self.residual = unit.merge == "add"
        self.drop_path = DropPath(unit.options.drop_path) if unit.options.drop_path else skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        if self.residual:
            out = self.drop_path(out) + x
        return out
