"""SqueezeNet's fire module, built from its Plan row (torchvision's ``Fire``, attribute for attribute)."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import conv
from .registry import register_builder


@register_builder("fire")
class FireModule(nn.Module):
    """squeeze conv1x1-ReLU, then expand conv1x1-ReLU and expand conv3x3-ReLU, concatenated."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.squeeze = conv(unit.op("squeeze"))
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = conv(unit.op("expand1x1"))
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = conv(unit.op("expand3x3"))
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)
