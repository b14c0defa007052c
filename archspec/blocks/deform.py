"""Deformable convolution: torchvision.ops.DeformConv2d fed by its offset conv.

torchvision is imported here only, when a spec asks for ``deformable: true``.
``deform_conv2d`` is wrapped as one fx leaf: its Python wrapper branches on tensor
shapes, which symbolic tracing cannot follow.
"""

from __future__ import annotations

import torch
import torch.fx
from torch import nn

from ..extras import require
from ..plan.ops import DeformConv
from .layers import fresh


def deform_conv(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: int, padding: int, dilation: int) -> torch.Tensor:
    from torchvision.ops import deform_conv2d

    return deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation)


torch.fx.wrap("deform_conv")


class DeformableConv(nn.Module):
    """``offset`` (3x3 conv, bias, zero-initialised: training starts as a plain conv) and ``conv``."""

    def __init__(self, op: DeformConv):
        super().__init__()
        require("torchvision", needed_for="deformable convolution (deformable: true)")
        from torchvision.ops import DeformConv2d

        off = op.offset
        self.offset = fresh(nn.Conv2d, off.cin, off.cout, off.kernel, off.stride, off.pad, off.dilation, bias=True)
        self.conv = fresh(DeformConv2d, op.cin, op.cout, op.kernel, op.stride, op.pad, op.dilation, op.groups,
                          bias=op.bias)
        self.stride, self.padding, self.dilation = op.stride, op.pad, op.dilation

    def init_fills(self, prefix: str, rules):
        """Called by :func:`archspec.blocks.init.initialise`: the conv by the conv rules, the
        offsets at zero (Dai et al.: training starts as a plain conv)."""
        from .init import layer_fills

        self.offset.weight.zero_()
        self.offset.bias.zero_()
        return layer_fills(f"{prefix}conv.", self.conv, rules.conv, rules.conv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return deform_conv(x, self.offset(x), self.conv.weight, self.conv.bias, self.stride, self.padding, self.dilation)

    # This class in standalone code (export/standalone.py): it takes the two convs made from the record
    # (``offset`` registered first, as here) and the deformable conv's stride, padding and dilation.
    STANDALONE_IMPORTS = ("from torchvision.ops import DeformConv2d, deform_conv2d",)
    STANDALONE = '''class DeformableConv(nn.Module):
    """``offset`` (a conv predicting 2 coordinates per kernel tap) feeding torchvision's deform_conv2d with ``conv``."""

    def __init__(self, offset, conv, stride, padding, dilation):
        super().__init__()
        self.offset = offset
        self.conv = conv
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x):
        return deform_conv2d(x, self.offset(x), self.conv.weight, self.conv.bias, stride=self.stride,
                             padding=self.padding, dilation=self.dilation)
'''
