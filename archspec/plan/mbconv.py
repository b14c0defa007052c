"""MBConv (inverted residual) units: expand, depthwise, squeeze-excite, project."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..spec.families import Activation

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, Graph, GraphBuilder
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
    drop_path = ctx.drop_path if residual else 0.0
    graph = inverted_residual_graph(cin, size, ops, block.act, residual, drop_path, se_act=block.act)
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="mbconv",
        in_channels=cin, out_channels=out, in_size=size, out_size=dw_size, stride=ctx.stride,
        inner_channels=inner, groups=inner, shortcut="identity" if residual else "none",
        merge="add" if residual else "none", ops=graph.weighted, width=ctx.width,
        options=MBConvOptions(act=block.act, expand=block.expand, kernel=block.kernel, se_channels=squeeze,
                              drop_path=drop_path),
        graph=graph,
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


def inverted_residual_graph(cin: int, size: Size, ops: list[Op], act: str, residual: bool, drop_path: float = 0.0,
                            *, se_act: str, se_inplace: bool = True, gate: str = "sigmoid",
                            gate_module: bool = False) -> Graph:
    """An inverted residual's graph from its records, in torchvision's order: [expand-BN-act],
    depthwise-BN-act, [squeeze-excite], project-BN, [drop path, add the input].

    The SE differs by family: MBConv's uses the block's activation in place and a functional
    sigmoid; MobileNetV3's an out-of-place ReLU and a gate module (``se_inplace``, ``gate``,
    ``gate_module``), which the counting policies and autograd's saves tell apart.
    """
    layer = {op.path: op for op in ops}
    g = GraphBuilder(cin, size)
    x = INPUT
    if "expand.conv" in layer:
        x = sg.conv_norm_act(g, x, layer["expand.conv"], layer["expand.bn"], act, "expand.act")  # type: ignore[arg-type]
    x = sg.conv_norm_act(g, x, layer["dw.conv"], layer["dw.bn"], act, "dw.act")  # type: ignore[arg-type]
    if "se.fc1" in layer:
        x = sg.squeeze_excite(g, x, layer["se.fc1"], layer["se.fc2"], se_act, gate,  # type: ignore[arg-type]
                              functional_gate=not gate_module, inplace=se_inplace)
    x = sg.conv_norm_act(g, x, layer["project.conv"], layer["project.bn"], "none", "")  # type: ignore[arg-type]
    if residual:
        x = sg.residual_add(g, sg.drop_path(g, x, drop_path), INPUT)
    return g.build()
