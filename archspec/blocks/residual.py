"""Residual units, one class per block type, each with a step-by-step ``forward``.

Every layer is made from the Plan row's record of the same name (``unit.op("conv1")``),
so the module has exactly the parameters the Plan counted.
"""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Unit
from .layers import DropPath, activation, conv, norm, skip
from .registry import register_builder
from .shortcuts import make_shortcut


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


class ResidualUnit(nn.Module):
    """What every residual unit has besides its branch: SE, drop-path, dropout, shortcut."""

    def __init__(self, unit: Unit):
        super().__init__()
        for path in ("conv1", "conv2", "conv3", "bn1", "bn2", "bn3", "bn4"):
            if unit.has(path):
                setattr(self, path, conv(unit.op(path)) if path.startswith("conv") else norm(unit.op(path)))
        self.relu = nn.ReLU(inplace=True)
        opts = unit.options
        self.dropout = nn.Dropout(opts.dropout) if opts.dropout else skip
        self.se = SqueezeExcite(unit) if opts.se else skip
        self.drop_path = DropPath(opts.drop_path) if opts.drop_path else skip
        self.shortcut = make_shortcut(unit)


@register_builder("basic")
class BasicUnit(ResidualUnit):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.dropout(out)
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(self.drop_path(out) + self.shortcut(x))


@register_builder("bottleneck")
class BottleneckUnit(ResidualUnit):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.dropout(out)
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(self.drop_path(out) + self.shortcut(x))


class PreactUnit(ResidualUnit):
    """Where the shape changes, the BN-ReLU is shared: the projection sees the pre-activated input."""

    def __init__(self, unit: Unit):
        super().__init__(unit)
        self.shortcut_on_preact = unit.shortcut == "preact_projection"


@register_builder("preact_basic")
class PreactBasicUnit(PreactUnit):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = self.shortcut(pre) if self.shortcut_on_preact else self.shortcut(x)
        out = self.conv1(pre)
        out = self.dropout(self.relu(self.bn2(out)))
        out = self.se(self.conv2(out))
        return self.drop_path(out) + shortcut


@register_builder("preact_bottleneck")
class PreactBottleneckUnit(PreactUnit):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = self.shortcut(pre) if self.shortcut_on_preact else self.shortcut(x)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.dropout(self.relu(self.bn3(out)))
        out = self.se(self.conv3(out))
        return self.drop_path(out) + shortcut


@register_builder("pyramid")
class PyramidUnit(ResidualUnit):
    """No ReLU after the add, and none before the first conv (Han et al. 2017)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.bn1(x))
        out = self.dropout(self.relu(self.bn2(out)))
        out = self.se(self.bn3(self.conv2(out)))
        return self.drop_path(out) + self.shortcut(x)


@register_builder("pyramid_bottleneck")
class PyramidBottleneckUnit(ResidualUnit):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.bn1(x))
        out = self.relu(self.bn2(out))
        out = self.relu(self.bn3(self.conv2(out)))
        out = self.dropout(out)
        out = self.se(self.bn4(self.conv3(out)))
        return self.drop_path(out) + self.shortcut(x)
