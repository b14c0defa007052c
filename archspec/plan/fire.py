"""Fire modules (SqueezeNet): a squeeze conv1x1, then a 1x1 and a 3x3 expand conv, concatenated.

Op paths are torchvision's ``Fire`` attributes (``squeeze``, ``expand1x1``, ``expand3x3``),
so the module tree and state_dict keys line up with torchvision's SqueezeNet. The unit's
width is its concatenated output; the block's ratios split it exactly or the plan is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv
from .steps import Act, Concat
from .options import register_options
from .registry import register_planner
from .types import Unit, UnitOptions


@register_options("fire")
@dataclass(frozen=True)
class FireOptions(UnitOptions):
    """The ratios a fire unit was split by (its conv records hold the widths they gave)."""

    squeeze_ratio: float
    pct_3x3: float


def whole_channels(width: int, ratio: float, field: str, ctx: UnitContext) -> int:
    """``ratio`` x ``width`` as a channel count, if it is a whole positive one; PlanError otherwise."""
    exact = Fraction(ratio).limit_denominator(1 << 16) * width
    if exact.denominator != 1 or exact < 1:
        step = Fraction(ratio).limit_denominator(1 << 16).denominator
        raise PlanError(ctx.block_path + (field,),
                        f"{field} {ratio} of {ctx.name}'s width {width} is {float(exact):g} channels, not a whole "
                        f"number; give widths that are multiples of {step} or another {field}")
    return int(exact)


@register_planner("fire")
def plan_fire(block: Any, ctx: UnitContext) -> Unit:
    if ctx.stride != 1:
        raise PlanError(("body", "stages", ctx.stage, "stride"),
                        f"fire units keep the spatial size, but stage {ctx.stage} strides its first unit; "
                        "give the stage (or body) `downsample: {type: pool}`")
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"fire unit {ctx.name} needs a width: give `widening` or stage `width`")
    width, cin, size = ctx.width, ctx.in_channels, ctx.in_size
    squeeze = whole_channels(width, block.squeeze_ratio, "squeeze_ratio", ctx)
    e3 = whole_channels(width, block.pct_3x3, "pct_3x3", ctx)
    g = GraphBuilder(cin, size)
    squeezed = g.add(Conv("squeeze", cin, squeeze, 1, size, bias=True, padding=0), INPUT)
    squeezed = g.add(Act("squeeze_activation", "relu"), squeezed)
    e1 = g.add(Conv("expand1x1", squeeze, width - e3, 1, size, bias=True, padding=0), squeezed)
    e1 = g.add(Act("expand1x1_activation", "relu"), e1)
    e3_ = g.add(Conv("expand3x3", squeeze, e3, 3, size, bias=True, padding=1), squeezed)
    e3_ = g.add(Act("expand3x3_activation", "relu"), e3_)
    g.add(Concat("cat"), e1, e3_)
    graph = g.build()
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="fire",
        in_channels=cin, out_channels=width, in_size=size, out_size=size, inner_channels=squeeze,
        merge="concat", ops=graph.weighted, width=width, graph=graph,
        options=FireOptions(squeeze_ratio=block.squeeze_ratio, pct_3x3=block.pct_3x3),  # type: ignore[arg-type]
    )
