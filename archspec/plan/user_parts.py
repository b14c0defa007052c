"""A stem or a head written as a block file (spec/user_parts.py): the one planner of user blocks
(plan/user_block.py) in the stem's or the head's context, registered as the ``block`` stem and head."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from .context import UnitContext
from .errors import PlanError
from .options import no_options
from .ops import Size
from .registry import register_head, register_stem
from .types import Unit
from .user_block import plan_user_block

no_options("stem_block", "block")  # their graphs say everything


def _context(name: str, cin: int, size: Size, stride: int, width: int | None) -> UnitContext:
    return UnitContext(name=name, stage=0, index=0, in_channels=cin, in_size=size, stride=stride, width=width,
                       shortcut="projection", drop_path=0.0, block_path=(name, "block"), shortcut_path=(name, "block"))


@register_stem("block")
def plan_block_stem(stem: Any, cin: int, size: Size, first_width: int | None = None) -> Unit:
    """The block's steps on the input; the stem's stride is what its map's size says (pools included)."""
    unit = plan_user_block(stem.block, _context("stem", cin, size, stem.stride, stem.width))
    if min(unit.out_size) < 1:
        raise PlanError(("stem",), f"the stem leaves a {unit.out_size[0]}x{unit.out_size[1]} map; use a larger input")
    stride = max(1, round(math.sqrt(size[0] * size[1] / (unit.out_size[0] * unit.out_size[1]))))
    return replace(unit, stage=None, block="stem_block", stride=stride, width=stem.width)


@register_head("block")
def plan_block_head(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """The block's steps on the body's last map, with ``classes`` in its context, ending in ``classes`` values."""
    unit = plan_user_block(head.block, _context("head", channels, size, 1, head.width), {"classes": classes}, vector=True)
    if unit.out_channels != classes:
        raise PlanError(("head", "block"), f"the head block `{head.block.type}` ends in {unit.out_channels} values, "
                                           f"not the spec's {classes} classes")
    return replace(unit, stage=None, block="block", width=None)
