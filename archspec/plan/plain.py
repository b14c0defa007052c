"""Plain units (VGG): one conv-[BN]-act, no shortcut."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec.families import Activation

from .context import UnitContext
from .errors import PlanError
from .options import register_options
from .parts import conv_norm
from .registry import register_planner
from .types import Unit, UnitOptions


@register_options("plain")
@dataclass(frozen=True)
class PlainOptions(UnitOptions):
    act: Activation  # after the conv (and its BN)


@register_planner("plain")
def plan_plain(block: Any, ctx: UnitContext) -> Unit:
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"plain unit {ctx.name} needs a width: give `widening` or stage `width`")
    ops = conv_norm("", ctx.in_channels, ctx.width, block.kernel, ctx.in_size, stride=ctx.stride,
                    norm=block.norm == "bn", bias=block.bias)
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="plain",
        in_channels=ctx.in_channels, out_channels=ctx.width, in_size=ctx.in_size, out_size=ops[0].out_size,
        stride=ctx.stride, ops=tuple(ops), options=PlainOptions(act=block.act), width=ctx.width,
    )
