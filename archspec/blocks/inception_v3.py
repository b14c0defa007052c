"""Inception-v3's modules and aux head, built from their Plan rows.

One ``forward`` serves the five module types: it walks the unit's branches (an optional
pool, a chain of conv-BN-ReLU, optionally two convs side by side concatenated), kept as
a tuple of names. Each type is its own class (``InceptionA``...) only so that the
module tree reads as torchvision's and each class's instances share their layers'
names (standalone code writes one class per type).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..plan.inception_v3 import InceptionV3Options
from ..plan.init import InitRules
from ..plan.types import Unit
from .layers import linear, pool
from .parts import ConvNormAct
from .registry import register_builder


class InceptionV3Module(nn.Module):
    """Branches of conv-BN-ReLU chains (after a pool where the branch has one), concatenated."""

    def __init__(self, unit: Unit):
        super().__init__()
        options: InceptionV3Options = unit.options  # type: ignore[assignment]
        for branch in options.branches:
            for name in branch.chain + branch.split:
                self.add_module(name, ConvNormAct(unit, name, "relu"))
        self.pool = pool(options.pool)  # type: ignore[arg-type]
        # (pools first?, chain, side-by-side convs) per branch, as names of the layers above
        self.branches = tuple((b.pool is not None, b.chain, b.split) for b in options.branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for pooled, chain, split in self.branches:
            y = self.pool(x) if pooled else x
            for name in chain:
                y = getattr(self, name)(y)
            if split:
                y = torch.cat([getattr(self, name)(y) for name in split], 1)
            outputs.append(y)
        return torch.cat(outputs, 1)


class InceptionA(InceptionV3Module):
    """35x35: 1x1; 1x1-5x5; 1x1-3x3-3x3; 3x3/1 avg-pool-1x1."""


class InceptionB(InceptionV3Module):
    """Grid reduction: 3x3/2; 1x1-3x3-3x3/2; 3x3/2 max-pool."""


class InceptionC(InceptionV3Module):
    """17x17 with factorised 7x7: 1x1; 1x1-1x7-7x1; 1x1-7x1-1x7-7x1-1x7; avg-pool-1x1."""


class InceptionD(InceptionV3Module):
    """Grid reduction: 1x1-3x3/2; 1x1-1x7-7x1-3x3/2; 3x3/2 max-pool."""


class InceptionE(InceptionV3Module):
    """8x8: 1x1; 1x1-(1x3 | 3x1); 1x1-3x3-(1x3 | 3x1); avg-pool-1x1."""


MODULES: dict[str, type[InceptionV3Module]] = {
    "a": InceptionA, "b": InceptionB, "c": InceptionC, "d": InceptionD, "e": InceptionE}


@register_builder("inception_v3")
def inception_v3_module(unit: Unit) -> nn.Module:
    return MODULES[unit.options.module](unit)  # type: ignore[attr-defined]


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
