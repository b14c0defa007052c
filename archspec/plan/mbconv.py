"""MBConv (inverted residual) units: expand, depthwise, squeeze-excite, project."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..spec.families import Activation

from .context import UnitContext
from .errors import PlanError
from .ops import Conv, Op, Size
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
    squeeze = max(1, math.floor(cin * block.se_ratio)) if block.se_ratio > 0 else 0
    ops, dw_size = inverted_residual(cin, inner, out, block.kernel, size, ctx.stride, squeeze)
    residual = ctx.stride == 1 and cin == out
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="mbconv",
        in_channels=cin, out_channels=out, in_size=size, out_size=dw_size, stride=ctx.stride,
        inner_channels=inner, groups=inner, shortcut="identity" if residual else "none",
        merge="add" if residual else "none", ops=tuple(ops), width=ctx.width,
        options=MBConvOptions(act=block.act, expand=block.expand, kernel=block.kernel, se_channels=squeeze,
                              drop_path=ctx.drop_path if residual else 0.0),
    )


def inverted_residual(cin: int, inner: int, out: int, kernel: int, size: Size, stride: int,
                      squeeze: int) -> tuple[list[Op], Size]:
    """The layer records of an inverted residual (MBConv, MobileNetV3's bneck) and the depthwise
    conv's output size: conv1x1 ``expand`` (only where ``inner`` differs from ``cin``), depthwise kxk
    ``dw``, squeeze-excite ``se.fc1``/``se.fc2`` (1x1 convs with bias; none at ``squeeze`` 0), ``project``."""
    ops: list[Op] = conv_norm("expand", cin, inner, 1, size) if inner != cin else []
    ops += conv_norm("dw", inner, inner, kernel, size, stride=stride, groups=inner)
    dw_size = ops[-1].size  # type: ignore[union-attr]
    if squeeze:
        one = (1, 1)
        ops += [Conv("se.fc1", inner, squeeze, 1, one, bias=True), Conv("se.fc2", squeeze, inner, 1, one, bias=True)]
    ops += conv_norm("project", inner, out, 1, dw_size)
    return ops, dw_size
