"""ShuffleNetV2 units: channel split (stride 1) or two strided branches, concat, channel shuffle.

The layout is torchvision's ``InvertedResidual`` (models/shufflenetv2.py). Each branch
gives half the unit's width (``inner_channels``). A stride-1 unit splits its input into
halves, so it must keep its width; only a strided unit (each stage's first) changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import UnitContext
from .errors import PlanError
from .ops import Op
from .parts import conv_norm
from .options import register_options
from .registry import register_planner
from .types import Unit, UnitOptions

SHUFFLE_GROUPS = 2  # the concatenated halves interleave: torchvision's channel_shuffle(out, 2)
# Each branch's parts (conv-BN, then the activation) in forward order: the builder, the memory
# flow and the layer records below all follow these.
BRANCH1 = (("dw", "none"), ("pw", "relu"))  # strided units only
BRANCH2 = (("pw1", "relu"), ("dw", "none"), ("pw2", "relu"))


@register_options("shuffle")
@dataclass(frozen=True)
class ShuffleOptions(UnitOptions):
    """``split``: the stride-1 form (half the input passes through, branch2 runs on the other half);
    otherwise both branches run on the whole input. ``groups``: the channel shuffle's groups."""

    split: bool
    kernel: int
    groups: int


@register_planner("shuffle")
def plan_shuffle(block: Any, ctx: UnitContext) -> Unit:
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"shuffle unit {ctx.name} needs a width: give `widening` or stage `width`")
    cin, out, size, stride, k = ctx.in_channels, ctx.width, ctx.in_size, ctx.stride, block.kernel
    if out % 2:
        raise PlanError(("body", "widening"), f"shuffle unit {ctx.name} has width {out}; a ShuffleNetV2 unit "
                        "concatenates two halves, so its width is even")
    half = out // 2
    split = stride == 1
    if split and cin != out:
        where = ("body", "stages", ctx.stage, "stride") if ctx.index == 0 else ("body", "widening")
        raise PlanError(where, f"shuffle unit {ctx.name} has stride 1 and {cin} -> {out} channels; a stride-1 unit "
                        "splits its input into halves and keeps its width, so only a stage's first unit, strided, "
                        "changes the width (give the stage stride 2, or its units one width)")
    ops: list[Op] = []
    if not split:
        ops += conv_norm("branch1.dw", cin, cin, k, size, stride=stride, groups=cin)
        ops += conv_norm("branch1.pw", cin, half, 1, ops[-1].size)
    ops += conv_norm("branch2.pw1", half if split else cin, half, 1, size)
    ops += conv_norm("branch2.dw", half, half, k, size, stride=stride, groups=half)
    out_size = ops[-1].size
    ops += conv_norm("branch2.pw2", half, half, 1, out_size)
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="shuffle",
        in_channels=cin, out_channels=out, in_size=size, out_size=out_size, stride=stride,
        inner_channels=half, groups=half, shortcut="identity" if split else "none", merge="concat",
        ops=tuple(ops), width=ctx.width,
        options=ShuffleOptions(split=split, kernel=k, groups=SHUFFLE_GROUPS),  # type: ignore[arg-type]
    )
