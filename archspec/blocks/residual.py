"""Squeeze-excite as a module, for the kinds not yet built from their graphs (RegNet, MBConv).

The residual kinds themselves are built from their graphs (plan/residual.py, blocks/graph_unit.py).
"""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import activation, conv


class SqueezeExcite(nn.Module):
    """Global pool, 1x1 conv (reduce), ReLU (SiLU in MBConv), 1x1 conv (expand), sigmoid, rescale."""

    def __init__(self, unit: Unit, act: str = "relu"):
        super().__init__()
        self.fc1 = conv(unit.op("se.fc1"))
        self.fc2 = conv(unit.op("se.fc2"))
        self.relu = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = torch.sigmoid(self.fc2(self.relu(self.fc1(scale))))
        return x * scale
