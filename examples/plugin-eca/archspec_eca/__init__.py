"""ECA-Net's basic block as an archspec plugin (Wang et al. 2020, "ECA-Net: Efficient Channel Attention").

A ResNet basic block whose residual branch ends in efficient channel attention: a global mean
per channel, a 1-d convolution of kernel ``k`` across the channels (no reduction, unlike SE),
a sigmoid gate, and the rescale. ``k`` adapts to the channel count C as the paper's eq. 12
says: the odd number nearest ``|log2(C) + beta| / gamma``.

Importing this module registers the block type ``eca_basic``. It imports no torch: the one
step the step vocabulary lacks, the cross-channel 1-d conv, is :class:`~archspec_eca.steps.ChannelConv`,
whose module (``archspec_eca.modules``) is imported only when a network is built.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from archspec.plan import subgraphs as sg
from archspec.plan.context import UnitContext
from archspec.plan.graph import INPUT, Graph, GraphBuilder
from archspec.plan.ops import Conv, Norm
from archspec.plan.plugins import register_block
from archspec.plan.shortcuts import plan_shortcut
from archspec.plan.steps import Act, Mean, Mul

from .steps import ChannelConv


class EcaBasic(BaseModel):
    """conv3x3-BN-ReLU-conv3x3-BN, ECA, add the shortcut, ReLU."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    type: Literal["eca_basic"]
    kernel: int | None = Field(None, ge=1, description="The cross-channel kernel; default: from the channels (eq. 12).")
    gamma: int = Field(2, ge=1, description="gamma of eq. 12.")
    beta: int = Field(1, ge=0, description="b of eq. 12.")
    layers_per_unit: ClassVar[int] = 2  # weighted layers per unit, as the papers count depth


def eca_kernel(channels: int, gamma: int, beta: int) -> int:
    """Eq. 12: the odd number nearest |log2(C) + b| / gamma (rounded up to odd, as the reference code does)."""
    t = int(abs(math.log2(channels) + beta) / gamma)
    return t if t % 2 else t + 1


def plan_eca_basic(block: EcaBasic, ctx: UnitContext) -> Graph:
    w, size, stride = ctx.width, ctx.in_size, ctx.stride
    g = GraphBuilder(ctx.in_channels, size)
    conv1 = Conv("conv1", ctx.in_channels, w, 3, size, stride=stride)
    y = sg.layers_act(g, INPUT, [conv1, Norm("bn1", w, conv1.out_size)], "relu", "relu1")
    out = conv1.out_size
    y = g.chain(y, Conv("conv2", w, w, 3, out), Norm("bn2", w, out))
    k = block.kernel or eca_kernel(w, block.gamma, block.beta)
    gate = g.chain(g.add(Mean("eca.mean"), y), ChannelConv("eca.conv", w, k),
                   Act("eca.gate", "sigmoid", inplace=False, functional=True))
    y = g.add(Mul("eca.scale"), y, gate)
    kind, records = plan_shortcut(ctx.shortcut, ctx.in_channels, w, stride, size, ctx.shortcut_path)
    short = sg.shortcut(g, INPUT, kind, stride, w - ctx.in_channels, records)
    y = sg.residual_add(g, y, short)
    g.add(Act("relu2", "relu"), y)
    return g.build()


register_block(EcaBasic, plan_eca_basic)
