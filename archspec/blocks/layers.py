"""torch layers made from the Plan's layer records, on the meta device.

Layers are made without storage, so torch's default init (a uniform fill in every
constructor) never runs; :class:`archspec.blocks.network.Network` gives them storage and
:mod:`archspec.blocks.init` fills each tensor once.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..plan.ops import Conv, DeformConv, Linear, Norm

META = torch.device("meta")
Step = Callable[[torch.Tensor], torch.Tensor]


def skip(x: torch.Tensor) -> torch.Tensor:
    """An absent optional step (no SE, no dropout, identity shortcut...).

    A plain function rather than ``nn.Identity``: eager mode pays no module call for
    it (at small batches on a GPU those calls cost up to a fifth of the time), and
    torch.fx traces straight through it, so graphs and ONNX are unchanged.
    """
    return x


def conv(op: Conv) -> nn.Module:
    if isinstance(op, DeformConv):
        from .deform import DeformableConv

        return DeformableConv(op)
    return nn.Conv2d(
        op.cin, op.cout, op.kernel, stride=op.stride, padding=op.pad,
        dilation=op.dilation, groups=op.groups, bias=op.bias, device=META,
    )


def norm(op: Norm) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(op.channels, eps=op.eps, momentum=op.momentum, device=META)  # type: ignore[arg-type]


def linear(op: Linear) -> nn.Linear:
    return nn.Linear(op.cin, op.cout, bias=op.bias, device=META)


def layer(op: Conv | Norm | Linear) -> nn.Module:
    """The module for any layer record."""
    if isinstance(op, Conv):
        return conv(op)
    if isinstance(op, Norm):
        return norm(op)
    return linear(op)


def activation(name: str) -> nn.Module | Step:
    """The activation a spec names: relu, silu or none."""
    if name == "none":
        return skip
    return {"relu": nn.ReLU, "silu": nn.SiLU}[name](inplace=True)


def pool(options: dict[str, Any]) -> nn.Module:
    """A pooling window from a Plan row's ``pool`` options."""
    kind = nn.MaxPool2d if options["kind"] == "max" else nn.AvgPool2d
    return kind(options["kernel"], options["stride"], options["padding"], ceil_mode=options["ceil"])


class DropPath(nn.Module):
    """Stochastic depth: drop a sample's whole residual branch with probability ``rate``."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:.4f}"
