"""Inception modules: four branches concatenated, one unit per row of the stage's table.

Op paths follow torchvision's GoogLeNet (``branch1.conv``, ``branch2.0.conv``,
``branch2.1.bn``, ``branch4.1.conv`` after the ``branch4.0`` max-pool), so the
module tree and state_dict keys line up with the paper's table and with torchvision.
"""

from __future__ import annotations

from typing import Any

from .context import UnitContext
from .dense import check_unstrided
from .errors import PlanError
from .ops import Op
from .parts import conv_norm, pool_options
from .registry import register_planner
from .types import Unit

BRANCH_POOL = pool_options("max", 3, 1, 1, ceil=True)


@register_planner("inception")
def plan_inception(block: Any, ctx: UnitContext) -> Unit:
    check_unstrided(block, ctx)
    if ctx.index >= len(block.modules):
        raise PlanError(ctx.block_path + ("modules",), f"unit {ctx.name} has no row in the {len(block.modules)}-row table")
    c1, r3, c3, r5, c5, proj = block.modules[ctx.index]
    k2, k3 = block.kernels
    cin, size = ctx.in_channels, ctx.in_size
    bn = dict(norm=block.norm == "bn", eps=block.bn_eps)
    ops: list[Op] = [
        *conv_norm("branch1", cin, c1, 1, size, **bn),
        *conv_norm("branch2.0", cin, r3, 1, size, **bn),
        *conv_norm("branch2.1", r3, c3, k2, size, **bn),
        *conv_norm("branch3.0", cin, r5, 1, size, **bn),
        *conv_norm("branch3.1", r5, c5, k3, size, **bn),
        *conv_norm("branch4.1", cin, proj, 1, size, **bn),
    ]
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="inception",
        in_channels=cin, out_channels=c1 + c3 + c5 + proj, in_size=size, out_size=size,
        merge="concat", ops=tuple(ops), width=ctx.width,
        options={"row": list(block.modules[ctx.index]), "kernels": list(block.kernels), "pool": BRANCH_POOL},
    )
