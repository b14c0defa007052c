"""Plain units (VGG): one conv-[BN]-act, no shortcut; its graph is ``conv``, ``bn``, ``act``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec.families import Activation

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
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
    g = GraphBuilder(ctx.in_channels, ctx.in_size)
    sg.conv_norm_act(g, INPUT, ops[0], ops[1] if len(ops) > 1 else None, block.act, "act")
    graph = g.build()
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="plain",
        in_channels=ctx.in_channels, out_channels=ctx.width, in_size=ctx.in_size, out_size=ops[0].out_size,
        stride=ctx.stride, ops=graph.weighted, options=PlainOptions(act=block.act), width=ctx.width, graph=graph,
    )
