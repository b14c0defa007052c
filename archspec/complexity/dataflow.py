"""Helpers of the memory programs left in ``dataflow_families.py`` (the kinds not yet planned as
step graphs). Every other kind is replayed from its graph (``memory.replay_graph``)."""

from __future__ import annotations

from ..plan.ops import Size
from ..plan.types import Unit
from .memory import Flow


def area(size: Size) -> int:
    return size[0] * size[1]


def conv_norm_act(flow: Flow, unit: Unit, prefix: str, act: str, x: int) -> int:
    """``<prefix>.conv``, ``<prefix>.bn`` where the unit has one, the activation (blocks.parts.ConvNormAct)."""
    name = f"{prefix}." if prefix else ""
    paths = [f"{name}conv"] + ([f"{name}bn"] if unit.has(f"{name}bn") else [])
    return flow.act(act, flow.chain(unit, paths, x))
