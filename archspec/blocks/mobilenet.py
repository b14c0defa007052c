"""MobileNetV3's bneck unit and head, built from their Plan rows as torchvision builds them.

The activations are in place where torchvision's are (Conv2dNormActivation, the
classifier's Hardswish and Dropout) and not inside the squeeze-excite (its ReLU and
Hardsigmoid), so autograd saves what it saves for torchvision's modules.
"""

from __future__ import annotations

import torch
from torch import nn

from ..plan.mobilenet import BneckOptions, ConvMLPOptions
from ..plan.types import Unit
from .layers import activation, conv, gate, linear, norm, skip
from .parts import ConvNormAct
from .registry import register_builder


class GatedSqueezeExcite(nn.Module):
    """Global mean, 1x1 conv (bias), ReLU, 1x1 conv (bias), gate, rescale (torchvision's SqueezeExcitation)."""

    def __init__(self, unit: Unit, gate_name: str):
        super().__init__()
        self.fc1 = conv(unit.op("se.fc1"))
        self.relu = nn.ReLU()
        self.fc2 = conv(unit.op("se.fc2"))
        self.gate = gate(gate_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return self.gate(self.fc2(self.relu(self.fc1(scale)))) * x


@register_builder("bneck")
class BneckUnit(nn.Module):
    """[expand-BN-act], depthwise-BN-act, [SE], project-BN; the identity added where the shape allows."""

    def __init__(self, unit: Unit):
        super().__init__()
        options: BneckOptions = unit.options  # type: ignore[assignment]
        self.expand = ConvNormAct(unit, "expand", options.act) if unit.has("expand.conv") else skip
        self.dw = ConvNormAct(unit, "dw", options.act)
        self.se = GatedSqueezeExcite(unit, options.se_gate) if options.se_channels else skip
        self.project = ConvNormAct(unit, "project", "none")
        self.residual = unit.merge == "add"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        return out + x if self.residual else out


@register_builder("conv_mlp")
class ConvMLPHead(nn.Module):
    """conv1x1-BN-act, global average pool, FC-act, dropout, FC (MobileNetV3's last conv and classifier)."""

    def __init__(self, unit: Unit):
        super().__init__()
        options: ConvMLPOptions = unit.options  # type: ignore[assignment]
        self.conv = conv(unit.op("conv"))
        self.bn = norm(unit.op("bn"))
        self.act = activation(options.act)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = linear(unit.op("fc1"))
        self.act2 = activation(options.act)
        self.dropout = nn.Dropout(options.dropout, inplace=True)
        self.fc2 = linear(unit.op("fc2"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.act(self.bn(self.conv(x)))), 1)
        return self.fc2(self.dropout(self.act2(self.fc1(x))))
