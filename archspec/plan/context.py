"""What the planner tells a block planner about the unit it is to plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ops import Size


@dataclass(frozen=True)
class UnitContext:
    name: str  # module path, e.g. "stages.2.17"
    stage: int
    index: int
    in_channels: int
    in_size: Size
    stride: int
    width: int | None  # what the widening rule gives this unit (None: the block decides)
    shortcut: str  # the shortcut policy in force
    drop_path: float  # this unit's stochastic-depth rate (already decayed)
    block_path: tuple[Any, ...]  # spec field path of the block, for errors
    shortcut_path: tuple[Any, ...]
    # The network's input size and its strides (the stem's, then each stage's): what an error needs to name
    # the input sizes that would plan (MaxViT's partitions). Not part of what a unit's planning reads otherwise.
    network_input: Size | None = None
    strides: tuple[int, ...] = ()
