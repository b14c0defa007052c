"""Fused-MBConv units (EfficientNetV2): a full kxk conv that expands (or, at ratio 1, gives the
output) and a 1x1 project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec.families import Activation
from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Op
from .options import register_options
from .parts import conv_norm
from .registry import register_planner
from .types import Unit, UnitOptions


@register_options("fused_mbconv")
@dataclass(frozen=True)
class FusedMBConvOptions(UnitOptions):
    """What a Fused-MBConv module needs beyond its layers: the activation after the kxk conv,
    and the stochastic-depth rate of its residual branch (0.0 where there is no shortcut)."""

    act: Activation
    expand: int
    kernel: int
    drop_path: float


@register_planner("fused_mbconv")
def plan_fused_mbconv(block: Any, ctx: UnitContext) -> Unit:
    """Layers ``fused.conv``/``fused.bn`` (kxk, strided, to ``expand`` x the input width) and
    ``project.conv``/``project.bn`` (1x1); at ``expand: 1`` only ``fused``, straight to the unit's width."""
    if ctx.width is None:
        raise PlanError(("body", "widening"),
                        f"fused_mbconv unit {ctx.name} needs a width: give `widening` or stage `width`")
    cin, out, size, k = ctx.in_channels, ctx.width, ctx.in_size, block.kernel
    inner = cin * block.expand  # exact: widths are rounded once, by the scaling rule, never here
    expands = block.expand > 1
    ops: list[Op] = conv_norm("fused", cin, inner if expands else out, k, size, stride=ctx.stride)
    if expands:
        ops += conv_norm("project", inner, out, 1, ops[-1].size)
    residual = ctx.stride == 1 and cin == out
    drop_path = ctx.drop_path if residual else 0.0
    g = GraphBuilder(cin, size)  # torchvision's FusedMBConv: fused, [project], [drop path, add]
    x = sg.conv_norm_act(g, INPUT, ops[0], ops[1], block.act, "fused.act")  # type: ignore[arg-type]
    if expands:
        x = sg.conv_norm_act(g, x, ops[2], ops[3], "none", "")  # type: ignore[arg-type]
    if residual:
        x = sg.residual_add(g, sg.drop_path(g, x, drop_path), INPUT)
    graph = g.build()
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="fused_mbconv",
        in_channels=cin, out_channels=out, in_size=size, out_size=ops[-1].size, stride=ctx.stride,
        inner_channels=inner if expands else out, shortcut="identity" if residual else "none",
        merge="add" if residual else "none", ops=graph.weighted, width=ctx.width,
        options=FusedMBConvOptions(act=block.act, expand=block.expand, kernel=k, drop_path=drop_path),
        graph=graph,
    )
