"""Modules around the blocks: conv-BN-act groups, pool and transition units, layer-list
and empty stems, the MLP, conv-classifier and conv-pool heads, training-only aux classifiers.

Each is built from its Plan row, every layer from the op record of the same path.
"""

from __future__ import annotations

import torch
from torch import nn

from ..plan.stems import StemPool
from ..plan.init import InitRules
from ..plan.types import Unit
from .layers import activation, conv, linear, norm, pool, skip
from .registry import register_builder


class ConvNormAct(nn.Module):
    """``<prefix>.conv``, ``<prefix>.bn`` (where the Plan has one) and an activation."""

    def __init__(self, unit: Unit, prefix: str, act: str):
        super().__init__()
        name = f"{prefix}." if prefix else ""
        self.conv = conv(unit.op(f"{name}conv"))
        self.bn = norm(unit.op(f"{name}bn")) if unit.has(f"{name}bn") else skip
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


@register_builder("mlp")
class MLPHead(nn.Module):
    """Adaptive average pool, flatten, [FC-ReLU-dropout] (VGG) or [dropout-FC-ReLU] (AlexNet) per hidden layer, FC."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(unit.options.pool_size)
        fcs = list(unit.ops)
        for op in fcs:
            self.add_module(op.path, linear(op))
        self.hidden = [op.path for op in fcs[:-1]]
        self.last = fcs[-1].path
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(unit.options.dropout)
        self.dropout_first = unit.options.dropout_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        for name in self.hidden:  # dropout_first is fixed at build time: fx and export see one order
            x = self.dropout(x) if self.dropout_first else x
            x = self.relu(getattr(self, name)(x))
            x = x if self.dropout_first else self.dropout(x)
        return getattr(self, self.last)(x)


@register_builder("conv_classifier")
class ConvClassifierHead(nn.Module):
    """conv1x1-BN-act, global average pool, dropout, FC (EfficientNet's head)."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.conv = conv(unit.op("conv"))
        self.bn = norm(unit.op("bn"))
        self.act = activation(unit.options.act)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(unit.options.dropout)
        self.fc = linear(unit.op("fc"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.act(self.bn(self.conv(x)))), 1)
        return self.fc(self.dropout(x))


@register_builder("conv_pool")
class ConvPoolHead(nn.Module):
    """Dropout, conv1x1 to the classes, activation, global average pool, flatten (SqueezeNet's classifier)."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.dropout = nn.Dropout(unit.options.dropout)
        self.conv = conv(unit.op("conv"))
        self.act = activation(unit.options.act)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def init_fills(self, prefix: str, rules: InitRules) -> list:
        """Called by :func:`archspec.blocks.init.initialise`: the conv is the network's classifier, so it
        takes the ``linear`` rules (torchvision's SqueezeNet: its final conv normal(0, 0.01), bias 0)."""
        from .init import layer_fills

        return layer_fills(f"{prefix}conv.", self.conv, rules.linear, rules.linear_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.act(self.conv(self.dropout(x)))), 1)


@register_builder("aux_classifier")
class AuxClassifier(nn.Module):
    """GoogLeNet's auxiliary head: pool, conv1x1-BN-ReLU, flatten, FC-ReLU, dropout, FC."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(unit.options.pool_size)
        self.conv = ConvNormAct(unit, "conv", "relu")
        self.fc1 = linear(unit.op("fc1"))
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(unit.options.dropout)
        self.fc2 = linear(unit.op("fc2"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))
