"""Unit kind -> planner: body blocks, stems and heads.

A new kind's planner registers itself with ``@register_planner`` in its own file under
``archspec/plan/``; the package's modules are discovered (``archspec.registry.discover``) before
the first lookup, so no list of modules is kept by hand. The planner returns a Unit with its
step graph, from which everything else derives."""

from __future__ import annotations

from typing import Any, Callable

from ..registry import Registry
from ..spec.kinds import BLOCK_KINDS, HEAD_KINDS, STEM_KINDS
from .ops import Size
from .context import UnitContext
from .types import Unit

UnitPlanner = Callable[[Any, UnitContext], Unit]
StemPlanner = Callable[[Any, int, Size, "int | None"], Unit]  # (stem spec, in channels, input size, first width)
HeadPlanner = Callable[[Any, int, Size, int], Unit]  # (head spec, channels, map size, classes)
_NO_MODEL = "has no spec model (add it to its union in spec/ first)"
PLANNERS: Registry[UnitPlanner] = Registry("block type", lambda: BLOCK_KINDS, "archspec.plan", _NO_MODEL)
STEMS: Registry[StemPlanner] = Registry("stem kind", lambda: STEM_KINDS, "archspec.plan", _NO_MODEL,
                                        spelled=lambda kind: kind.removeprefix("stem_"))  # register_stem("conv")
HEADS: Registry[HeadPlanner] = Registry("head kind", lambda: HEAD_KINDS, "archspec.plan", _NO_MODEL)


_POSITION_FREE: set[str] = set()


def register_planner(block_type: str, position_free: bool = False) -> Callable[[UnitPlanner], UnitPlanner]:
    """Register the planner of a body block kind (one of ``spec.kinds.BLOCK_KINDS``: its spec model
    must be in the BlockSpec union of spec/blocks.py first).

    ``position_free``: the planner reads the unit's name, stage and index only to name the unit
    and its errors (not to pick a table row, as Inception's does), so a unit planned with the same
    inputs elsewhere in a network, or in another variant, is the same but for those three fields
    (a design-space sampler reuses it: plan/memo.py)."""
    if position_free:
        _POSITION_FREE.add(block_type)
    return PLANNERS.register(block_type)


def position_free(block: Any) -> bool:
    """Whether units of this block are the same wherever they are planned (see ``register_planner``);
    a user block is when its definition reads no position (plan/user_block.py)."""
    if block.type in BLOCK_KINDS:
        return block.type in _POSITION_FREE
    from .user_block import reads_position

    return not reads_position(block)


def planner_for(block_type: str) -> UnitPlanner:
    """The registered planner of a built-in kind; a Python plugin's type is planned by its plugin's
    planner (plan/plugins.py); every other type is a user block, planned from its definition by the
    one generic planner (plan/user_block.py)."""
    if block_type not in BLOCK_KINDS:
        from .plugins import PLANNERS as PLUGIN_PLANNERS, plan_plugin_block

        if block_type in PLUGIN_PLANNERS:  # a Python plugin's type (plan/plugins.py)
            return plan_plugin_block
        from .user_block import plan_user_block

        return plan_user_block
    return PLANNERS[block_type]


def registered() -> list[str]:
    return PLANNERS.names()


def register_stem(stem_type: str) -> Callable[[StemPlanner], StemPlanner]:
    """Register the planner of a stem ``type`` (its unit kind is ``stem_<type>``)."""
    return STEMS.register(f"stem_{stem_type}")


def register_head(head_type: str) -> Callable[[HeadPlanner], HeadPlanner]:
    """Register the planner of a head ``type`` (one of ``spec.kinds.HEAD_KINDS``)."""
    return HEADS.register(head_type)


def stem_planner_for(stem_type: str) -> StemPlanner:
    return STEMS[f"stem_{stem_type}"]  # every StemSpec type is registered (tests/test_block_kinds.py)


def head_planner_for(head_type: str) -> HeadPlanner:
    return HEADS[head_type]


def registered_ends() -> tuple[list[str], list[str]]:
    """The stem and head kinds with a planner."""
    return STEMS.names(), HEADS.names()
