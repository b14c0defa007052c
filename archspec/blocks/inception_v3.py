"""Inception-v3's aux head, built from its Plan row (the modules A to E are graph units: plan/inception_v3.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..plan.init import InitRules
from ..plan.types import Unit
from .layers import linear, pool
from .parts import ConvNormAct
from .registry import register_builder


@register_builder("aux_conv")
class ConvAuxClassifier(nn.Module):
    """Inception-v3's auxiliary head: avg-pool 5/3, conv0 1x1, conv1 5x5, global average pool, fc."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.pool = pool(unit.options.pool)  # type: ignore[attr-defined]
        self.conv0 = ConvNormAct(unit, "conv0", "relu")
        self.conv1 = ConvNormAct(unit, "conv1", "relu")
        self.fc = linear(unit.op("fc"))

    def init_fills(self, prefix: str, rules: InitRules) -> list:
        """Called by :func:`archspec.blocks.init.initialise`: convs and BNs as everywhere, the fc by
        the preset's aux rule where it has one (torchvision's AuxLogits.fc: std 0.001)."""
        from .init import layer_fills

        fills = []
        for name in ("conv0", "conv1"):
            part = getattr(self, name)
            fills += layer_fills(f"{prefix}{name}.conv.", part.conv, rules.conv, rules.conv_bias)
            part.bn.weight.fill_(1.0)
            part.bn.bias.zero_()
            part.bn.reset_running_stats()
        return fills + layer_fills(f"{prefix}fc.", self.fc, rules.aux_linear or rules.linear, rules.linear_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(self.pool(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))
