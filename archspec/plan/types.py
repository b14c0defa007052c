"""The Plan: the resolved network as plain data (no torch).

One :class:`Unit` per stem, body unit and head. A unit's ``ops`` are its weighted
layers; ``params`` and ``macs`` are their sums, and the compiler builds the module
from the same records. ``merge`` says how the unit's branches meet: ``add``
(residual), ``concat`` (dense layers, multi-branch modules) or ``none`` (a chain).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ops import Op, Size


@dataclass(frozen=True)
class Unit:
    name: str
    stage: int | None
    index: int
    block: str
    in_channels: int
    out_channels: int
    in_size: Size
    out_size: Size
    stride: int = 1
    inner_channels: int | None = None
    groups: int = 1
    shortcut: str = "none"
    merge: str = "none"
    ops: tuple[Op, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> int:
        return sum(op.params for op in self.ops)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def out_activations(self) -> int:
        return self.out_channels * self.out_size[0] * self.out_size[1]

    def op(self, path: str) -> Op:
        for op in self.ops:
            if op.path == path:
                return op
        raise KeyError(f"unit {self.name} has no layer {path!r}")

    def has(self, path: str) -> bool:
        return any(op.path == path for op in self.ops)


@dataclass(frozen=True)
class Stage:
    index: int
    units: tuple[Unit, ...]

    @property
    def out_channels(self) -> int:
        return self.units[-1].out_channels

    @property
    def out_size(self) -> Size:
        return self.units[-1].out_size

    @property
    def params(self) -> int:
        return sum(u.params for u in self.units)

    @property
    def macs(self) -> int:
        return sum(u.macs for u in self.units)


@dataclass(frozen=True)
class Plan:
    name: str
    in_channels: int
    input_size: Size
    classes: int
    stem: Unit
    stages: tuple[Stage, ...]
    head: Unit
    depth: int | None = None
    aux: tuple[Unit, ...] = ()  # training-only classifiers, outside ``units`` and the default counts

    @property
    def aux_params(self) -> int:
        """What the training-only classifiers add to ``params`` when built (``build(..., aux=True)``)."""
        return sum(u.params for u in self.aux)

    @property
    def aux_macs(self) -> int:
        return sum(u.macs for u in self.aux)

    @property
    def body(self) -> tuple[Unit, ...]:
        return tuple(u for s in self.stages for u in s.units)

    @property
    def units(self) -> tuple[Unit, ...]:
        return (self.stem, *self.body, self.head)

    @property
    def params(self) -> int:
        return sum(u.params for u in self.units)

    @property
    def macs(self) -> int:
        return sum(u.macs for u in self.units)

    def unit(self, name: str) -> Unit:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(name)
