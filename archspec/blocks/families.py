"""Dense layers, built from their Plan rows (not yet moved onto step graphs)."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import conv, norm, skip
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


