"""DenseNet layers: each unit concatenates ``growth`` new channels to its input
(BN-ReLU-conv1x1-BN-ReLU-conv3x3, or BN-ReLU-conv3x3, then dropout).

Transitions (BN-ReLU-conv1x1-avgpool) are the units that end strided stages; they
are planned with the other downsampling units in :mod:`archspec.plan.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv, Norm, Op
from .options import register_options
from .registry import register_planner
from .steps import Act, Concat
from .types import Unit, UnitOptions


@register_options("dense")
@dataclass(frozen=True)
class DenseOptions(UnitOptions):
    growth: int  # channels each layer adds
    dropout: float  # on the new features before the concat (torchvision's drop_rate)


def check_unstrided(block: Any, ctx: UnitContext) -> None:
    """Concatenating units keep the spatial size: a strided stage must end in a pool or transition."""
    if ctx.stride != 1:
        raise PlanError(
            ("body", "stages", ctx.stage, "stride"),
            f"{block.type} units keep the spatial size, but stage {ctx.stage} strides its first unit; "
            "give the stage (or body) `downsample: {type: transition}` or `{type: pool}`",
        )
    if ctx.width is not None:
        raise PlanError(
            ("body", "widening"),
            f"{block.type} units derive their widths from {'`growth`' if block.type == 'dense' else 'the `modules` table'}"
            f" ({ctx.name} was given {ctx.width}); "
            "remove `widening` and per-stage `width`",
        )


@register_planner("dense")
def plan_dense(block: Any, ctx: UnitContext) -> Unit:
    check_unstrided(block, ctx)
    cin, size, k = ctx.in_channels, ctx.in_size, block.growth
    ops: list[Op] = [Norm("bn1", cin, size)]
    inner = None
    if block.bottleneck is None:
        ops.append(Conv("conv1", cin, k, 3, size))
    else:
        inner = block.bottleneck * k
        ops += [Conv("conv1", cin, inner, 1, size, padding=0), Norm("bn2", inner, size), Conv("conv2", inner, k, 3, size)]
    g = GraphBuilder(cin, size)
    new = g.chain(INPUT, ops[0], Act("relu", "relu"), ops[1])
    if len(ops) > 2:
        new = g.chain(new, ops[2], Act("relu2", "relu"), ops[3])
    g.add(Concat("cat"), INPUT, sg.dropout(g, new, block.dropout))
    graph = g.build()
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="dense",
        in_channels=cin, out_channels=cin + k, in_size=size, out_size=size,
        inner_channels=inner, shortcut="identity", merge="concat", ops=graph.weighted, width=ctx.width, graph=graph,
        options=DenseOptions(growth=k, dropout=block.dropout),
    )
