"""RegNet's residual bottleneck unit (torchvision's ``ResBottleneckBlock``), built from its Plan row."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import conv, norm, skip
from .registry import register_builder
from .residual import SqueezeExcite
from .shortcuts import make_shortcut


@register_builder("regnet")
class RegNetUnit(nn.Module):
    """conv1x1-BN-ReLU, grouped conv3x3-BN-ReLU, [SE], conv1x1-BN; add the shortcut; ReLU.

    Unlike the ResNet bottleneck's, the SE sits on the inner width between the 3x3 and the
    last 1x1 (torchvision's ``BottleneckTransform``), so this is a block kind of its own.
    """

    def __init__(self, unit: Unit):
        super().__init__()
        self.conv1, self.bn1 = conv(unit.op("conv1")), norm(unit.op("bn1"))
        self.conv2, self.bn2 = conv(unit.op("conv2")), norm(unit.op("bn2"))
        self.se = SqueezeExcite(unit) if unit.options.se else skip  # type: ignore[attr-defined]
        self.conv3, self.bn3 = conv(unit.op("conv3")), norm(unit.op("bn3"))
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = make_shortcut(unit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.se(out)))
        return self.relu(out + self.shortcut(x))
