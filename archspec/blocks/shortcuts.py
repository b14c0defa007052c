"""Shortcut modules: identity, zero-padded identity (options A and PyramidNet), projections."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..plan.types import Unit
from .layers import conv, norm, skip


class ZeroPadShortcut(nn.Module):
    """Parameter-free: subsample (or 2x2 average-pool) by the stride, then zero-pad channels."""

    def __init__(self, stride: int, extra_channels: int, pool: bool):
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if pool and stride > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        elif self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


class Projection(nn.Module):
    """1x1 conv, BN where the policy has one, after a 2x2 average pool for ResNet-D."""

    def __init__(self, unit: Unit):
        super().__init__()
        strided_pool = unit.shortcut == "avgpool_projection" and unit.stride > 1
        self.pool = (
            nn.AvgPool2d(unit.stride, unit.stride, ceil_mode=True, count_include_pad=False)
            if strided_pool else skip
        )
        self.conv = conv(unit.op("shortcut.conv"))
        self.bn = norm(unit.op("shortcut.bn")) if unit.has("shortcut.bn") else skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.pool(x)))


def make_shortcut(unit: Unit) -> nn.Module:
    if unit.shortcut == "identity":
        return skip
    if unit.shortcut in ("zero_pad", "avgpool_zero_pad"):
        extra = unit.out_channels - unit.in_channels
        return ZeroPadShortcut(unit.stride, extra, pool=unit.shortcut == "avgpool_zero_pad")
    return Projection(unit)
