"""Dense layers and Inception modules, each built from its Plan row."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import conv, norm, pool, skip
from .parts import ConvNormAct
from .registry import register_builder


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
