"""The report's data: rows per unit and per stage, totals, and their stable JSON form.

Built from a Plan alone (no torch), generically over its rows: any block family the
planner knows is reported the same way. ``Report.as_dict()`` is the documented JSON
schema (docs/report.md); ``archspec.report()`` returns it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from ..plan.features import Feature, features
from ..plan.ops import PosEmbedding, Size
from ..plan.types import Counted, Plan, Unit
from .counting import (AUX_POLICY, ELEMENTWISE_POLICY, EXCLUDED, MACS_POLICY, WINDOW_ATTENTION_POLICY, AttentionLayout,
                       Elementwise, attention_layouts, attention_note, elementwise, has_window_attention)
from .memory import Memory, UnitMemory, memory
from .policies import describe, policy_macs

SCHEMA_VERSION = 1
UNIT_FIELDS = ("name", "stage", "index", "block", "in_channels", "out_channels", "inner_channels", "groups",
               "stride", "in_size", "out_size", "shortcut", "merge", "params", "macs", "activations",
               "params_bytes", "train_saved_bytes", "infer_peak_bytes")
STAGE_FIELDS = ("index", "units", "in_channels", "out_channels", "inner_channels", "out_size", "params", "macs",
                "params_bytes", "train_saved_bytes", "infer_peak_bytes")
MEMORY_POLICY = (
    "memory at the given batch and dtype: train_saved = bytes of the distinct storages autograd saves for "
    "backward in a training-mode forward (parameters and buffers excluded, the input batch included); "
    "infer_peak = the largest sum of live activations at any step of an inference forward"
)


def _json_row(row: Any, names: tuple[str, ...], with_elementwise: bool) -> dict[str, Any]:
    """The named fields (sizes as [H, W] lists), the elementwise total when asked for, the scaling record if any."""
    out = {name: list(v) if isinstance(v := getattr(row, name), tuple) else v for name in names}
    if with_elementwise:
        out["elementwise"] = row.elementwise.total
    if getattr(row, "scaling", None):
        out["scaling"] = dict(row.scaling)
    return out


@dataclass(frozen=True)
class UnitRow:
    """One Plan row as reported: stem, body unit or head."""

    name: str
    stage: int | None  # None for the stem and the head
    index: int
    block: str
    in_channels: int
    out_channels: int
    inner_channels: int | None
    groups: int
    stride: int
    in_size: Size
    out_size: Size
    shortcut: str
    merge: str
    params: int
    macs: int
    activations: int  # elements of the unit's output map, batch 1
    elementwise: Elementwise
    scaling: Mapping[str, Any] | None = None  # compound scaling's rounding of this unit (plan/scaling.py)
    params_bytes: int | None = None  # memory at the report's layout (None: aux heads, outside the memory model)
    train_saved_bytes: int | None = None
    infer_peak_bytes: int | None = None

    @classmethod
    def of(cls, unit: Unit, mem: UnitMemory | None = None) -> "UnitRow":
        return cls(
            name=unit.name, stage=unit.stage, index=unit.index, block=unit.block,
            in_channels=unit.in_channels, out_channels=unit.out_channels,
            inner_channels=unit.inner_channels, groups=unit.groups, stride=unit.stride,
            in_size=unit.in_size, out_size=unit.out_size, shortcut=unit.shortcut, merge=unit.merge,
            params=unit.params, macs=unit.macs, activations=unit.out_activations,
            elementwise=elementwise(unit), scaling=unit.scaling,
            params_bytes=mem and mem.params_bytes, train_saved_bytes=mem and mem.train_saved_bytes,
            infer_peak_bytes=mem and mem.infer_peak_bytes,
        )

    def as_dict(self, with_elementwise: bool) -> dict[str, Any]:
        return _json_row(self, UNIT_FIELDS, with_elementwise)


@dataclass(frozen=True)
class StageRow:
    """A body stage: its units summed; widths as they enter and leave it."""

    index: int
    units: int
    in_channels: int
    out_channels: int
    inner_channels: int | None  # the last inner (bottleneck) width: of the last unit that has one
    out_size: Size
    params: int
    macs: int
    elementwise: Elementwise
    params_bytes: int
    train_saved_bytes: int
    infer_peak_bytes: int  # the largest of its units'

    @classmethod
    def of(cls, index: int, rows: list[UnitRow]) -> "StageRow":
        return cls(
            index=index, units=len(rows), in_channels=rows[0].in_channels,
            out_channels=rows[-1].out_channels, out_size=rows[-1].out_size,
            # a stage may end in a unit without one (a DenseNet transition)
            inner_channels=next((r.inner_channels for r in reversed(rows) if r.inner_channels is not None), None),
            params=sum(r.params for r in rows), macs=sum(r.macs for r in rows),
            elementwise=sum((r.elementwise for r in rows), Elementwise()),
            params_bytes=sum(r.params_bytes or 0 for r in rows),
            train_saved_bytes=sum(r.train_saved_bytes or 0 for r in rows),
            infer_peak_bytes=max(r.infer_peak_bytes or 0 for r in rows),
        )

    def as_dict(self, with_elementwise: bool) -> dict[str, Any]:
        return _json_row(self, STAGE_FIELDS, with_elementwise)


@dataclass(frozen=True)
class Report(Counted):
    """A network's complexity: every unit, every stage, the totals."""

    name: str
    in_channels: int
    input_size: Size
    classes: int
    depth: int | None
    units: tuple[UnitRow, ...]
    stages: tuple[StageRow, ...]
    with_elementwise: bool = False
    aux: tuple[UnitRow, ...] | None = None  # training-only classifiers, counted only when asked for (not None)
    memory: Memory | None = None  # of the default build (no aux heads)
    policy: str = "archspec"  # whose MAC count the rows' ``macs`` hold (complexity/policies.py)
    features: tuple[Feature, ...] = ()  # the backbone's maps, timm's features_only (plan/features.py)
    attention: tuple[AttentionLayout, ...] = ()  # its attentions' shapes: the report says how they are counted
    window_attention: bool = False  # ... in windows (Swin): the report says what that changes
    resolution_notes: tuple[str, ...] = ()  # parameters whose size follows the input (ViT's position embedding)

    def _parts(self) -> tuple[UnitRow, ...]:
        return self.units + (self.aux or ())

    @property
    def rows(self) -> tuple[UnitRow, ...]:
        """Every counted row: the units, then the aux heads when counted."""
        return self._parts()

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def elementwise(self) -> Elementwise:
        return sum((r.elementwise for r in self.rows), Elementwise())

    @property
    def final_width(self) -> int:
        """Channels entering the head: the network's last feature width."""
        return self.units[-1].in_channels

    def unit(self, name: str) -> UnitRow:
        for row in self.units:
            if row.name == name:
                return row
        raise KeyError(f"{self.name} has no unit {name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON form (schema documented in docs/report.md)."""
        out: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "name": self.name,
            "input": {"channels": self.in_channels, "size": list(self.input_size)},
            "classes": self.classes,
            "depth": self.depth,
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "policy": {"name": self.policy, "macs": MACS_POLICY if self.policy == "archspec" else describe(self.policy),
                       "excluded": EXCLUDED, "memory": MEMORY_POLICY},
        }
        if self.policy != "archspec":
            del out["policy"]["excluded"]
        if self.memory is not None:
            out["memory"] = self.memory.as_dict()
        if self.with_elementwise:
            out["elementwise"] = self.elementwise.as_dict()
            out["policy"]["elementwise"] = ELEMENTWISE_POLICY
        if self.aux is not None:
            out["policy"]["aux"] = AUX_POLICY
        if self.attention:
            out["policy"]["attention"] = attention_note(self.attention)
        if self.window_attention:
            out["policy"]["window_attention"] = WINDOW_ATTENTION_POLICY
        out["stages"] = [s.as_dict(self.with_elementwise) for s in self.stages]
        out["units"] = [u.as_dict(self.with_elementwise) for u in self.units]
        if self.aux is not None:
            out["aux"] = [u.as_dict(self.with_elementwise) for u in self.aux]
        out["features"] = [f.as_dict() for f in self.features]
        return out


def make_report(plan: Plan, with_elementwise: bool = False, aux: bool = False, batch: int = 1,
                dtype: str = "fp32", device: str = "cpu", policy: str = "archspec") -> Report:
    """Tabulate a Plan (pure Python, no torch); ``aux`` counts its training-only classifiers too.

    Memory is counted at ``batch``, ``dtype`` and ``device`` (whose kernels decide what is saved).
    ``policy`` names the tool whose MAC count the rows hold (``archspec``: ours).
    """
    if aux and policy != "archspec":
        raise ValueError("--aux counts archspec's MACs only: the other tools' policies cover the default build")
    mem = memory(plan, batch, dtype, device)
    rows = tuple(UnitRow.of(u, mem.units[u.name]) for u in plan.units)
    if policy != "archspec":
        macs = policy_macs(plan, policy)
        rows = tuple(replace(r, macs=macs[r.name]) for r in rows)
    stages = tuple(StageRow.of(s.index, [r for r in rows if r.stage == s.index]) for s in plan.stages)
    return Report(
        name=plan.name, in_channels=plan.in_channels, input_size=tuple(plan.input_size),  # type: ignore[arg-type]
        classes=plan.classes, depth=plan.depth, units=rows, stages=stages, with_elementwise=with_elementwise,
        aux=tuple(UnitRow.of(u) for u in plan.aux) if aux else None, memory=mem, policy=policy,
        features=features(plan), attention=attention_layouts(plan.units),
        window_attention=has_window_attention(plan.units), resolution_notes=resolution_notes(plan),
    )


def resolution_notes(plan: Plan) -> tuple[str, ...]:
    """What grows with the input: a position embedding has one vector per token (the table's params
    are at this input size), so weights trained at another size need theirs resized."""
    notes = []
    for unit in plan.units:
        for op in unit.ops:
            if isinstance(op, PosEmbedding):
                h, w = plan.input_size
                notes.append(f"position embedding {unit.name}.{op.path}: one vector per token, {op.tokens} tokens x {op.width} = "
                             f"{op.params:,} params at {h}x{w}, growing with the input; weights trained at another "
                             "size need it interpolated to this token grid (torchvision: interpolate_embeddings)")
    return tuple(notes)
