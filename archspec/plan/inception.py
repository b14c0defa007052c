"""Inception modules: four branches concatenated, one unit per row of the stage's table.

Op paths follow torchvision's GoogLeNet (``branch1.conv``, ``branch2.0.conv``,
``branch2.1.bn``, ``branch4.1.conv`` after the ``branch4.0`` max-pool), so the
module tree and state_dict keys line up with the paper's table and with torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import steps
from . import subgraphs as sg
from .context import UnitContext
from .dense import check_unstrided
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .options import Pool, register_options
from .parts import conv_norm
from .registry import register_planner
from .types import Unit, UnitOptions

BRANCH_POOL = Pool("max", 3, 1, 1, ceil=True)


@register_options("inception")
@dataclass(frozen=True)
class InceptionOptions(UnitOptions):
    row: tuple[int, int, int, int, int, int]  # the table row: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj
    kernels: tuple[int, int]  # the kernels of branches 2 and 3
    pool: Pool  # branch 4's window before its 1x1 conv


@register_planner("inception")
def plan_inception(block: Any, ctx: UnitContext) -> Unit:
    check_unstrided(block, ctx)
    if ctx.index >= len(block.modules):
        raise PlanError(ctx.block_path + ("modules",), f"unit {ctx.name} has no row in the {len(block.modules)}-row table")
    c1, r3, c3, r5, c5, proj = block.modules[ctx.index]
    k2, k3 = block.kernels
    cin, size = ctx.in_channels, ctx.in_size
    bn = dict(norm=block.norm == "bn", eps=block.bn_eps)
    g = GraphBuilder(cin, size)

    def part(prefix: str, x: str, c_in: int, c_out: int, k: int) -> str:
        return sg.layers_act(g, x, conv_norm(prefix, c_in, c_out, k, size, **bn), "relu", f"{prefix}.act")

    b1 = part("branch1", INPUT, cin, c1, 1)
    b2 = part("branch2.1", part("branch2.0", INPUT, cin, r3, 1), r3, c3, k2)
    b3 = part("branch3.1", part("branch3.0", INPUT, cin, r5, 1), r5, c5, k3)
    p = BRANCH_POOL
    pooled = g.add(steps.Pool("branch4.0", p.kind, p.kernel, p.stride, p.padding, p.ceil), INPUT)
    b4 = part("branch4.1", pooled, cin, proj, 1)
    g.add(steps.Concat("cat"), b1, b2, b3, b4)
    graph = g.build()
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="inception",
        in_channels=cin, out_channels=c1 + c3 + c5 + proj, in_size=size, out_size=size,
        merge="concat", ops=graph.weighted, width=ctx.width, graph=graph,
        options=InceptionOptions(row=(c1, r3, c3, r5, c5, proj), kernels=(k2, k3), pool=BRANCH_POOL),
    )
