"""MBConv (inverted residual) units: expand, depthwise, squeeze-excite, project."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..spec.families import Activation

from .context import UnitContext
from .errors import PlanError
from .ops import Conv, Op
from .options import register_options
from .parts import conv_norm
from .registry import register_planner
from .types import Unit, UnitOptions


@register_options("mbconv")
@dataclass(frozen=True)
class MBConvOptions(UnitOptions):
    act: Activation  # after the expand and depthwise convs, and inside squeeze-excite
    expand: int  # the expansion ratio (1: no expand conv)
    kernel: int  # the depthwise kernel
    se_channels: int  # squeeze-excite's hidden width; 0: none
    drop_path: float  # stochastic depth on the residual branch; 0.0 without a shortcut


@register_planner("mbconv")
def plan_mbconv(block: Any, ctx: UnitContext) -> Unit:
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"mbconv unit {ctx.name} needs a width: give `widening` or stage `width`")
    cin, out, size = ctx.in_channels, ctx.width, ctx.in_size
    inner = cin * block.expand  # exact: widths are rounded once, by the scaling rule, never here
    ops: list[Op] = conv_norm("expand", cin, inner, 1, size) if block.expand > 1 else []
    ops += conv_norm("dw", inner, inner, block.kernel, size, stride=ctx.stride, groups=inner)
    dw_size = ops[-1].size
    squeeze = max(1, math.floor(cin * block.se_ratio)) if block.se_ratio > 0 else 0
    if squeeze:
        one = (1, 1)
        ops += [Conv("se.fc1", inner, squeeze, 1, one, bias=True), Conv("se.fc2", squeeze, inner, 1, one, bias=True)]
    ops += conv_norm("project", inner, out, 1, dw_size)
    residual = ctx.stride == 1 and cin == out
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="mbconv",
        in_channels=cin, out_channels=out, in_size=size, out_size=dw_size, stride=ctx.stride,
        inner_channels=inner, groups=inner, shortcut="identity" if residual else "none",
        merge="add" if residual else "none", ops=tuple(ops), width=ctx.width,
        options=MBConvOptions(act=block.act, expand=block.expand, kernel=block.kernel, se_channels=squeeze,
                              drop_path=ctx.drop_path if residual else 0.0),
    )
