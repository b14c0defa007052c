"""Fused-MBConv units (EfficientNetV2), built from their Plan row."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import DropPath, skip
from .parts import ConvNormAct
from .registry import register_builder


@register_builder("fused_mbconv")
class FusedMBConvUnit(nn.Module):
    """Fused kxk conv-BN-act, 1x1 project-BN (absent at expand ratio 1); identity shortcut with
    stochastic depth where the shape allows (torchvision's FusedMBConv)."""

    def __init__(self, unit: Unit):
        super().__init__()
        options = unit.options
        self.fused = ConvNormAct(unit, "fused", options.act)
        self.project = ConvNormAct(unit, "project", "none") if unit.has("project.conv") else skip
        self.residual = unit.merge == "add"
        self.drop_path = DropPath(options.drop_path) if options.drop_path else skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.fused(x))
        if self.residual:
            out = self.drop_path(out) + x
        return out
