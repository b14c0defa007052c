"""Layers as data: the single description from which both counts and modules derive.

A unit's ``ops`` list every parameterised layer it owns, keyed by the module path
relative to the unit. The planner computes them without torch; the compiler builds
``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.Linear`` from the very same records, so
the analytic params and MACs cannot drift from the module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

Size = tuple[int, int]


def conv_out(size: Size, kernel: int, stride: int, padding: int, dilation: int = 1) -> Size:
    """Output spatial size of a convolution or pooling window (floor mode)."""
    span = dilation * (kernel - 1) + 1
    return tuple((s + 2 * padding - span) // stride + 1 for s in size)  # type: ignore[return-value]


@dataclass(frozen=True)
class Conv:
    """A 2-d convolution; MACs exclude the bias, as FlopCounterMode does."""

    path: str
    cin: int
    cout: int
    kernel: int
    in_size: Size
    stride: int = 1
    groups: int = 1
    bias: bool = False
    padding: int | None = None  # None: "same" padding, kernel // 2
    dilation: int = 1

    @property
    def pad(self) -> int:
        return self.kernel // 2 * self.dilation if self.padding is None else self.padding

    @property
    def out_size(self) -> Size:
        return conv_out(self.in_size, self.kernel, self.stride, self.pad, self.dilation)

    @property
    def params(self) -> int:
        weight = self.cout * (self.cin // self.groups) * self.kernel * self.kernel
        return weight + (self.cout if self.bias else 0)

    @property
    def macs(self) -> int:
        h, w = self.out_size
        return self.cout * (self.cin // self.groups) * self.kernel * self.kernel * h * w

    @property
    def out_elements(self) -> int:
        h, w = self.out_size
        return self.cout * h * w


@dataclass(frozen=True)
class Norm:
    """Batch normalisation: a scale and a shift per channel (running stats are buffers)."""

    path: str
    channels: int
    size: Size

    @property
    def params(self) -> int:
        return 2 * self.channels

    macs = 0

    @property
    def out_elements(self) -> int:
        return self.channels * self.size[0] * self.size[1]


@dataclass(frozen=True)
class Linear:
    """A fully connected layer applied to a pooled vector (or to 1x1 maps, as SE does)."""

    path: str
    cin: int
    cout: int
    bias: bool = True

    @property
    def params(self) -> int:
        return self.cin * self.cout + (self.cout if self.bias else 0)

    @property
    def macs(self) -> int:
        return self.cin * self.cout

    @property
    def out_elements(self) -> int:
        return self.cout


Op = Union[Conv, Norm, Linear]
