"""MobileNetV3 units: a bneck per table row (expand, depthwise, squeeze-excite, project) and the head.

torchvision's layout (models/mobilenetv3.py): the expand conv exists only where the
row's expanded width differs from the unit's input; the SE sits after the depthwise
conv's activation and is ``SqueezeExcitation(expanded, _make_divisible(expanded // 4, 8))``,
whose rounding each unit records in ``Unit.scaling`` (the report shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv, Linear, Norm, Size
from .mbconv import inverted_residual, inverted_residual_graph
from .steps import AdaptiveAvgPool, Flatten
from .options import register_options
from .registry import register_head, register_planner
from .scaling import make_divisible
from .types import Unit, UnitOptions


@register_options("bneck")
@dataclass(frozen=True)
class BneckOptions(UnitOptions):
    """A bneck unit's module needs: its activation, kernel, SE width (0: no SE) and SE gate."""

    act: str
    kernel: int
    se_channels: int
    se_gate: str


@register_options("conv_mlp")
@dataclass(frozen=True)
class ConvMLPOptions(UnitOptions):
    """The MobileNetV3 head's activation (after the conv and after the hidden FC) and dropout."""

    act: str
    dropout: float


def se_width(expanded: int, reduction: int, divisor: int) -> tuple[int, dict[str, Any]]:
    """torchvision's ``_make_divisible(expanded // reduction, divisor)`` and the record of its rounding."""
    raw = expanded // reduction
    width = make_divisible(raw, divisor)
    return width, {"se_base": expanded, "se_reduction": reduction, "se_raw": raw, "se_divisor": divisor,
                   "se_channels": width}


@register_planner("bneck")
def plan_bneck(block: Any, ctx: UnitContext) -> Unit:
    if ctx.index >= len(block.layers):
        raise PlanError(ctx.block_path + ("layers",), f"unit {ctx.name} has no row in the {len(block.layers)}-row table")
    if ctx.width is not None:
        raise PlanError(("body", "widening"), f"bneck units take their widths from the `layers` table ({ctx.name} was "
                                              f"given {ctx.width}); drop `widening` and stage `width`")
    kernel, expanded, out, se, act = block.layers[ctx.index]
    cin, size = ctx.in_channels, ctx.in_size
    squeeze, record = se_width(expanded, block.se_reduction, block.se_divisor) if se else (0, None)
    ops, dw_size = inverted_residual(cin, expanded, out, kernel, size, ctx.stride, squeeze)
    residual = ctx.stride == 1 and cin == out
    # torchvision's SqueezeExcitation: an out-of-place ReLU and a gate module
    graph = inverted_residual_graph(cin, size, ops, act, residual, se_act="relu", se_inplace=False,
                                    gate=block.se_gate, gate_module=True)
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="bneck",
        in_channels=cin, out_channels=out, in_size=size, out_size=dw_size, stride=ctx.stride,
        inner_channels=expanded, groups=expanded, shortcut="identity" if residual else "none",
        merge="add" if residual else "none", ops=graph.weighted, width=ctx.width, scaling=record,
        options=BneckOptions(act=act, kernel=kernel, se_channels=squeeze, se_gate=block.se_gate),  # type: ignore[arg-type]
        graph=graph,
    )


@register_head("conv_mlp")
def plan_conv_mlp_head(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """conv1x1 to ``expansion`` x the width, BN, act, pool, flatten, FC to ``hidden``, act, dropout (in
    place, as torchvision's classifier), FC."""
    width = head.expansion * channels
    g = GraphBuilder(channels, size)
    x = sg.conv_norm_act(g, INPUT, Conv("conv", channels, width, 1, size, padding=0), Norm("bn", width, size),
                         head.act, "act")
    x = g.chain(x, AdaptiveAvgPool("pool"), Flatten("flatten"), Linear("fc1", width, head.hidden))
    x = sg.dropout(g, sg.act(g, "act2", head.act, x), head.dropout, inplace=True)
    graph = g.build(g.add(Linear("fc2", head.hidden, classes), x))
    return Unit("head", None, 0, "conv_mlp", channels, classes, size, (1, 1), inner_channels=width,
                ops=graph.weighted, options=ConvMLPOptions(act=head.act, dropout=head.dropout),  # type: ignore[arg-type]
                graph=graph)
