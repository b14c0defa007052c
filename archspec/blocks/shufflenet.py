"""ShuffleNetV2 units (torchvision's ``InvertedResidual``), built from their Plan rows."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..plan.shufflenet import BRANCH1, BRANCH2
from ..plan.types import Unit
from .layers import skip
from .parts import ConvNormAct
from .registry import register_builder


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: a view, a transpose, a contiguous copy, a view back."""
    return torch.flatten(torch.transpose(x.unflatten(1, (groups, -1)), 1, 2).contiguous(), 1, 2)


def branch(unit: Unit, name: str, parts: tuple[tuple[str, str], ...]) -> nn.Sequential:
    return nn.Sequential(OrderedDict((part, ConvNormAct(unit, f"{name}.{part}", act)) for part, act in parts))


@register_builder("shuffle")
class ShuffleUnit(nn.Module):
    """Split (stride 1) or two branches (strided), concatenated, then channel-shuffled."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.split = unit.options.split
        self.groups = unit.options.groups
        self.branch1 = skip if self.split else branch(unit, "branch1", BRANCH1)
        self.branch2 = branch(unit, "branch2", BRANCH2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:  # fixed when built: fx and torch.export see one path
            kept, x = x.chunk(2, dim=1)
        else:
            kept = self.branch1(x)
        return channel_shuffle(torch.cat((kept, self.branch2(x)), 1), self.groups)
