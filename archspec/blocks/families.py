"""Dense layers, Inception modules and MBConv units, each built from its Plan row."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import DropPath, conv, norm, pool, skip
from .parts import ConvNormAct
from .registry import register_builder
from .residual import SqueezeExcite


@register_builder("dense")
class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1-BN-ReLU-conv3x3 (or BN-ReLU-conv3x3), dropout, concatenated after the input."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.bn1 = norm(unit.op("bn1"))
        self.conv1 = conv(unit.op("conv1"))
        bottleneck = unit.has("conv2")
        self.bn2 = norm(unit.op("bn2")) if bottleneck else skip
        self.conv2 = conv(unit.op("conv2")) if bottleneck else skip
        self.relu = nn.ReLU(inplace=True)
        self.relu2 = nn.ReLU(inplace=True) if bottleneck else skip
        rate = unit.options.dropout
        self.dropout = nn.Dropout(rate) if rate else skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv1(self.relu(self.bn1(x)))
        new = self.conv2(self.relu2(self.bn2(new)))
        return torch.cat([x, self.dropout(new)], 1)


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
