"""The Plan: the resolved network as plain data (no torch).

One :class:`Unit` per stem, body unit and head. A unit's ``ops`` are its weighted
layers; ``params`` and ``macs`` are their sums, and the compiler builds the module
from the same records. ``merge`` says how the unit's branches meet: ``add``
(residual), ``concat`` (dense layers, multi-branch modules) or ``none`` (a chain).
``options`` is what the module needs beyond its layers (rates, activations, pools), a
frozen :class:`UnitOptions` subclass per unit kind (:mod:`archspec.plan.options`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Mapping
from typing import Any

from .init import InitRules
from .ops import Op, Size, cached


@dataclass(frozen=True)
class UnitOptions:
    """The typed options of one Plan row: what its module needs beyond its layer records.

    Each unit kind's planner stores an instance of its own frozen subclass (fields with
    types and no defaults, declared for the kind in :mod:`archspec.plan.options`), and the
    builder, the memory flow and the converter read attributes of it. The base itself is a
    unit with no options (``stem_none``). ``items`` lists the fields, for code that compares units
    whatever their kind (diagram grouping, the latency table's module key).
    """

    def items(self) -> tuple[tuple[str, Any], ...]:
        return tuple((f.name, getattr(self, f.name)) for f in fields(self))


class Counted:
    """Params and MACs as sums over parts (layer records, units or stages).

    Summed once per object: every subclass is a frozen dataclass of frozen parts.
    """

    def _parts(self) -> tuple:
        raise NotImplementedError

    @cached
    def params(self) -> int:
        return sum(part.params for part in self._parts())

    @cached
    def macs(self) -> int:
        return sum(part.macs for part in self._parts())


@dataclass(frozen=True)
class Unit(Counted):
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
    options: UnitOptions = UnitOptions()  # the kind's typed options (plan/options.py); the base: none
    # The width the body's widening rule gave this unit (scaled, stage ``width`` folded in), or a
    # conv stem's (scaled) width; None where no rule applies (dense and inception blocks, downsampling
    # units, the head). ``expand`` writes these out, so it reads the Plan instead of replaying it.
    width: int | None = None
    # How compound scaling rounded this unit's width and unit count (plan/scaling.py), how RegNet's
    # widening rule gave its width (plan/regnet.py, ``rule: regnet``), and how a block's own rule rounded
    # its inner widths (MobileNetV3's SE widths, plan/mobilenet.py); None where nothing was rounded.
    scaling: Mapping[str, Any] | None = None
    # The unit as a graph of named steps (plan/graph.py): what the module, its forward, the memory
    # model, counting and the exports all derive from. ``ops`` are its weighted steps, in order.
    graph: Any = None

    def _parts(self) -> tuple[Op, ...]:
        if self.graph is None:
            return self.ops
        # parameter-free steps with MACs of their own (attention's matmuls) count beside the layers
        return self.ops + tuple(n.step for n in self.graph.nodes if not n.step.tensors and n.step.macs)

    def with_ops(self, ops: tuple[Op, ...]) -> "Unit":
        """This unit with other layer records: ``dataclasses.replace(self, ops=ops)``, without its
        per-call field introspection (planning a design space replaces hundreds of thousands).
        A unit with a graph gets the same records in its graph, by path."""
        if self.graph is None:
            return self._with(ops=ops)
        return self._with(ops=ops, graph=self.graph.with_steps({op.path: op for op in ops}))

    def with_width(self, width: int | None) -> "Unit":
        """This unit recording the width its widening rule gave it (see ``width``)."""
        return self._with(width=width)

    def with_scaling(self, record: Mapping[str, Any]) -> "Unit":
        """This unit recording how compound scaling rounded it (see ``scaling``)."""
        return self._with(scaling=record)

    def at(self, name: str, stage: int | None, index: int) -> "Unit":
        """This unit planned at another place (a position-free kind's, see ``plan.registry.position_free``):
        the same records and counts (its cached sums kept), another name, stage and index."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, name=name, stage=stage, index=index)
        return new

    def _with(self, **changes: Any) -> "Unit":
        new = object.__new__(type(self))
        fields = {k: v for k, v in self.__dict__.items() if k not in ("params", "macs")}  # cached sums go
        fields.update(changes)
        new.__dict__.update(fields)
        return new

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
class Stage(Counted):
    index: int
    units: tuple[Unit, ...]
    downsampled: bool = False  # the last unit is the stage's own downsampling (pool, transition)

    def _parts(self) -> tuple[Unit, ...]:
        return self.units

    @property
    def block_units(self) -> tuple[Unit, ...]:
        """The stage's block units: the ones its ``units`` (or ``depth``) counts."""
        return self.units[:-1] if self.downsampled else self.units

    @property
    def out_channels(self) -> int:
        return self.units[-1].out_channels

    @property
    def out_size(self) -> Size:
        return self.units[-1].out_size


@dataclass(frozen=True)
class Plan(Counted):
    name: str
    in_channels: int
    input_size: Size
    classes: int
    stem: Unit
    stages: tuple[Stage, ...]
    head: Unit
    depth: int | None = None
    aux: tuple[Unit, ...] = ()  # training-only classifiers, outside ``units`` and the default counts
    init: InitRules | None = None  # None: the torchvision ResNet preset (a Plan made by hand)
    # The spec's ``checkpoint:`` (spec/checkpoint.CheckpointNames): how another code's state_dict names
    # the layers, for archspec.convert. Names only, not the network: left out of equality and hashing.
    checkpoint: Any = field(default=None, compare=False)

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

    def _parts(self) -> tuple[Counted, ...]:
        return (self.stem, *self.stages, self.head)  # stages sum their units once, and variants share stages

    def unit(self, name: str) -> Unit:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(name)
