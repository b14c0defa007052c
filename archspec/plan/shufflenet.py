"""ShuffleNetV2 units: channel split (stride 1) or two strided branches, concat, channel shuffle.

The layout is torchvision's ``InvertedResidual`` (models/shufflenetv2.py). Each branch
gives half the unit's width (``inner_channels``). A stride-1 unit splits its input into
halves, so it must keep its width; only a strided unit (each stage's first) changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .parts import conv_norm
from .steps import Chunk, Concat, Shuffle
from .options import register_options
from .registry import register_planner
from .types import Unit, UnitOptions

SHUFFLE_GROUPS = 2  # the concatenated halves interleave: torchvision's channel_shuffle(out, 2)
# Each branch's parts (conv-BN, then the activation) in forward order.
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
    g = GraphBuilder(cin, size)

    def branch(name: str, parts: tuple[tuple[str, str], ...], x: str) -> str:
        """Its conv-BN-act parts in a chain: the depthwise kxk one strided, the pointwise ones to ``half``."""
        for part, act in parts:
            c, h, w = g.shape(x)
            dw = part == "dw"
            records = conv_norm(f"{name}.{part}", c, c if dw else half, k if dw else 1, (h, w),
                                stride=stride if dw else 1, groups=c if dw else 1)
            x = sg.layers_act(g, x, records, act, f"{name}.{part}.act")
        return x

    if split:  # x.chunk(2, 1): the first half is concatenated as it is (a view), branch2 runs on the second
        kept, x = g.add(Chunk("kept", 2, 0), INPUT), g.add(Chunk("split", 2, 1), INPUT)
    else:  # branch1 runs first, as in torchvision's forward
        kept, x = branch("branch1", BRANCH1, INPUT), INPUT
    made = branch("branch2", BRANCH2, x)
    g.add(Shuffle("shuffle", SHUFFLE_GROUPS), g.add(Concat("cat"), kept, made))
    graph = g.build()
    _, *out_size = graph.nodes[-1].shape
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="shuffle",
        in_channels=cin, out_channels=out, in_size=size, out_size=tuple(out_size), stride=stride,
        inner_channels=half, groups=half, shortcut="identity" if split else "none", merge="concat",
        ops=graph.weighted, width=ctx.width, graph=graph,
        options=ShuffleOptions(split=split, kernel=k, groups=SHUFFLE_GROUPS),  # type: ignore[arg-type]
    )
