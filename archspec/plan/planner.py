"""Spec -> Plan: resolve unit counts, widths, channels and sizes; count every layer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from typing import Any, NamedTuple, Sequence

from ..spec.base import attribute, has_attribute
from ..spec.models import Spec
from . import convnext, parts, regnet, user_parts  # user_parts: the block stem and head
from . import widening as rules
from .context import UnitContext
from .errors import PlanError
from .init import resolve_init
from .memo import UnitMemo
from .ops import Norm, Size
from .registry import head_planner_for, planner_for, position_free, stem_planner_for
from .scaling import annotate, scaled_head, scaled_rows, scaled_stem, scaled_table, scaled_units, scaled_width
from .types import Plan, Stage, Unit


def make_plan(spec: Spec, input_size: Size | None = None, memo: UnitMemo | None = None) -> Plan:
    """Resolve a validated spec into its Plan (pure Python, no torch).

    With ``memo``, stages and units whose inputs were planned before (in an earlier variant)
    are reused instead of planned again: the same records, so the same counts.
    """
    size = tuple(input_size) if input_size else spec.input.hw
    spec = regnet.with_derived_stages(spec)
    bn = (spec.batchnorm.eps, spec.batchnorm.momentum)
    with_bn = partial(with_batchnorm, eps=bn[0], momentum=bn[1])

    body = spec.body
    written = [stage.block or body.block for stage in body.stages]
    tables = sorted({b.type for b in written if has_attribute(type(b), "fixed_units")})
    if spec.scaling is not None and tables and (tables != ["bneck"] or spec.scaling.depth_mult != 1):
        fixed = "unit counts (depth_mult must be 1)" if tables == ["bneck"] else "both"
        raise PlanError(("scaling",), f"compound scaling resizes widening widths and unit counts, but the "
                                      f"{', '.join(tables)} tables fix {fixed}; drop `scaling` and write the table")
    blocks = [scaled_table(b, spec.scaling) for b in written]  # MobileNetV3's rows, at width_mult
    base_counts = units_per_stage(spec)
    counts = scaled_units(base_counts, spec.scaling)
    # A patchify stem (ConvNeXt) makes the first unit's channels: its width is the body's first one.
    first = None
    if spec.stem.type == "patchify":
        first = convnext.first_width(spec, stage_widths(spec, counts, 0)[0][0], base_counts[0], counts[0])

    def planned_stem() -> Unit:
        stem_spec, stem_scaling = scaled_stem(spec.stem, spec.scaling)
        planned = stem_planner_for(stem_spec.type)(stem_spec, spec.input.channels, size, first)
        stem = with_bn(annotate(planned, stem_scaling))  # type: ignore[arg-type]
        return stem.with_width(stem_spec.width) if stem_spec.type == "conv" else stem

    stem = planned_stem() if memo is None else memo.unit(
        _key(("stem", memo.token(spec.stem), memo.token(spec.scaling)), (spec.input.channels, size, bn, first)),
        planned_stem)
    widths = stage_widths(spec, counts, stem.out_channels)
    common = _Common(spec.scaling, sum(counts), bn, with_bn, memo, memo.token(spec.scaling) if memo is not None else None,
                     size, (stem.stride, *(stage.stride for stage in body.stages)))

    stages, channels, size, seen = [], stem.out_channels, stem.out_size, 0
    for s, (stage, block, n) in enumerate(zip(body.stages, blocks, counts)):
        short = stage.shortcut or body.shortcut
        down = stage.downsample or body.downsample
        where = _Where(s, stage.block is not None, stage.shortcut is not None, stage.downsample is not None)
        key = None  # everything the stage's planning reads
        if memo is not None and common.scaling_token is not None:
            tokens = (memo.token(block), memo.token(down))
            if None not in tokens:
                key = (tokens, common.scaling_token, where, channels, size, stage.stride, tuple(widths[s]), short.type,
                       seen, common.total, base_counts[s], n, common.bn)
        planned = memo.stages.get(key) if key is not None else None  # type: ignore[union-attr]
        if planned is None:
            planned = _plan_stage(block, short.type, down, stage.stride, widths[s], base_counts[s], channels, size, seen,
                                  where, common)
            if key is not None:
                memo.put_stage(key, planned)  # type: ignore[union-attr]
        stages.append(planned)
        channels, size, seen = planned.out_channels, planned.out_size, seen + n

    def planned_head() -> Unit:
        head_spec, head_scaling = scaled_head(spec.head, spec.scaling)
        return with_bn(annotate(head_planner_for(head_spec.type)(head_spec, channels, size, spec.classes), head_scaling))

    stages = regnet.with_rule_records(spec, stages)
    stages = _with_row_records(spec, written, stages)
    head = planned_head() if memo is None else memo.unit(
        _key(("head", memo.token(spec.head), memo.token(spec.scaling)), (channels, size, spec.classes, bn)), planned_head)
    return Plan(
        name=spec.name,
        in_channels=spec.input.channels,
        input_size=tuple(spec.input.hw if input_size is None else input_size),  # type: ignore[arg-type]
        classes=spec.classes,
        stem=stem,
        stages=tuple(stages),
        head=head,
        depth=body.depth or body.depth_offset + sum(attribute(b, "fixed_layers", n * b.layers_per_unit)
                                                    for n, b in zip(counts, blocks)),
        aux=tuple(map(with_bn, parts.plan_aux_heads(body.aux_heads, stages, spec.classes))),
        init=resolve_init(spec.init, body.block.type),
        checkpoint=spec.checkpoint,
    )


def _with_row_records(spec: Spec, blocks: Sequence[Any], stages: list[Stage]) -> list[Stage]:
    """Each bneck unit with the record of how compound scaling rounded its row's widths."""
    if spec.scaling is None:
        return stages
    out = []
    for block, stage in zip(blocks, stages):
        if block.type == "bneck":
            records = scaled_rows(block.layers, spec.scaling)[1]
            stage = Stage(stage.index, tuple(annotate(u, r) for u, r in zip(stage.units, records)), stage.downsampled)
        out.append(stage)
    return out


def _key(tokens: tuple, values: tuple) -> tuple | None:
    """A memo key: spec parts' tokens and plain values (which may be None, as a stem's ``first``
    width is but for patchify stems); None when a spec part could not be given a token."""
    return None if None in tokens else tokens + values


class _Where(NamedTuple):  # a tuple: made three times per plan, and part of the stage memo's keys
    """A stage's index and which of its parts the stage itself overrides (for error paths)."""

    index: int
    own_block: bool
    own_shortcut: bool
    own_downsample: bool

    def path(self, part: str, own: bool) -> tuple:
        return ("body", "stages", self.index, part) if own else ("body", part)


@dataclass(frozen=True)
class _Common:
    """What every stage of one plan shares."""

    scaling: Any
    total: int
    bn: tuple[float, float]
    with_bn: Any
    memo: UnitMemo | None
    scaling_token: Any
    input_size: Size | None = None  # the network's (for errors that name valid input sizes)
    strides: tuple[int, ...] = ()  # the stem's, then each stage's


def _plan_stage(block: Any, shortcut: str, down: Any, stride: int, widths: Sequence[int | None], base_units: int,
                channels: int, size: Size, seen: int, where: _Where, common: _Common) -> Stage:
    """One stage's units (each reused from the memo when planned before), then its downsampling unit."""
    s, n, memo = where.index, len(widths), common.memo
    block_path = where.path("block", where.own_block)
    short_path = where.path("shortcut", where.own_shortcut)
    first_stride = stride if down.type == "strided" else 1
    block_token = memo.token(block) if memo is not None else None
    last_rate = attribute(block, "drop_path", 0.0)
    free_kind = None  # position_free(block), asked once a stage and only on a memo miss
    units: list[Unit] = []
    for j in range(n):
        rate = _decayed(last_rate, seen + j, common.total)
        unit_stride = first_stride if j == 0 else 1
        key = None  # everything the unit's planning reads
        if block_token is not None and common.scaling_token is not None:
            key = (block_token, common.scaling_token, s, j, channels, size, unit_stride, widths[j], shortcut, rate,
                   where.own_block, where.own_shortcut, base_units, n, common.bn)
        unit = memo.units.get(key) if key is not None else None  # type: ignore[union-attr]
        free = None  # the same, wherever in the network: for kinds whose planning reads no position
        if unit is None and key is not None and common.scaling is None and (
                free_kind if free_kind is not None else (free_kind := position_free(block))):
            free = (block_token, channels, size, unit_stride, widths[j], shortcut, rate, where.own_block,
                    where.own_shortcut, common.bn)
            unit = memo.free.get(free)  # type: ignore[union-attr]
            if unit is not None:
                unit = unit.at(f"stages.{s}.{j}", s, j)
                memo.put(key, unit)  # type: ignore[union-attr]
        if unit is None:
            width, scaling = scaled_width(widths[j], common.scaling, base_units, n)
            ctx = UnitContext(
                name=f"stages.{s}.{j}",
                stage=s,
                index=j,
                in_channels=channels,
                in_size=size,
                stride=unit_stride,
                width=width,
                shortcut=shortcut,
                drop_path=rate,
                block_path=block_path,
                shortcut_path=short_path,
                network_input=common.input_size,
                strides=common.strides,
            )
            unit = annotate(planner_for(block.type)(block, ctx), scaling)  # it records ctx.width
            _check_sizes(unit, ("body", "stages", s))
            unit = common.with_bn(unit)
            if key is not None:
                memo.put(key, unit)  # type: ignore[union-attr]
            if free is not None:
                memo.put_free(free, unit)  # type: ignore[union-attr]
        units.append(unit)
        channels, size = unit.out_channels, unit.out_size
    downsampled = down.type != "strided" and stride > 1
    if downsampled:
        down_path = where.path("downsample", where.own_downsample)
        unit = parts.plan_downsample(down, f"stages.{s}.{n}", s, n, channels, size, stride, down_path)
        _check_sizes(unit, ("body", "stages", s, "stride"))
        units.append(common.with_bn(unit))
    return Stage(s, tuple(units), downsampled)


def with_batchnorm(unit: Unit, eps: float, momentum: float) -> Unit:
    """The unit with the network's BN settings: ``eps`` where its part set none, ``momentum`` on all.

    Block planners leave ``eps`` unset unless the spec's part has its own ``bn_eps``, so
    the network-wide value is applied here, once, and the Plan's records are complete.
    Layer and group norms (``Norm.kind``) are not batch norms and keep their own settings.
    """
    ops = None  # a copy only where a record changes: a sampler applies this to every unit it plans
    for i, op in enumerate(unit.ops):
        if type(op) is Norm and op.kind == "batch" and (op.eps is None or op.momentum != momentum):
            if ops is None:
                ops = list(unit.ops)
            ops[i] = op.with_settings(eps if op.eps is None else op.eps, momentum)
    return unit if ops is None else unit.with_ops(tuple(ops))


def units_per_stage(spec: Spec) -> list[int]:
    """Unit count per stage, from ``body.depth`` or from each stage's ``units``."""
    body = spec.body
    if body.widening is not None and body.widening.rule == "regnet" and not body.stages:
        return list(regnet.regnet_widths(body.widening, body.block).units)
    if body.depth is None:
        return [_stage_units(s, s.block or body.block, i) for i, s in enumerate(body.stages)]
    layers = {(s.block or body.block).layers_per_unit for s in body.stages}
    if len(layers) > 1:
        raise PlanError(("body", "depth"), "`depth` needs one block depth for every stage; give per-stage `units`")
    per_unit = layers.pop()
    n_stages = len(body.stages)
    step = n_stages * per_unit
    units, rest = divmod(body.depth - body.depth_offset, step)
    if rest or units < 1:
        low = body.depth_offset + step * max(units, 1)
        raise PlanError(
            ("body", "depth"),
            f"depth {body.depth} does not divide into whole units: ({body.depth} - {body.depth_offset}) must be "
            f"a positive multiple of {step} ({n_stages} stages x {per_unit} layers per unit); "
            f"try {low if units >= 1 and low != body.depth else body.depth_offset + step} "
            f"or {low + step}" + _known_layout_note(spec),
        )
    return [units] * n_stages


def _known_layout_note(spec: Spec) -> str:
    """ResNet-101 and -152 are uneven: say how to write them (plan/hints.py knows the layouts)."""
    from .hints import known_layout, layout_suggestion

    layout = known_layout(spec)
    return "" if layout is None else f"; for ResNet-{spec.body.depth}'s {list(layout)} {layout_suggestion(spec, layout)}"


def _stage_units(stage: Any, block: Any, s: int) -> int:
    """``units`` as given, or the count a block fixes itself (one Inception module per table row)."""
    fixed = attribute(block, "fixed_units")
    if stage.units is not None and fixed is not None and stage.units != fixed:
        raise PlanError(("body", "stages", s, "units"),
                        f"units {stage.units} disagrees with the block's {fixed} modules; drop `units`")
    return stage.units if stage.units is not None else fixed


def stage_widths(spec: Spec, counts: Sequence[int], stem_width: int) -> list[list[int | None]]:
    """A width per unit from the widening rule, then per-stage ``width`` overrides (None: no rule)."""
    body, rule = spec.body, spec.body.widening
    strides = [s.stride for s in body.stages]
    if rule is None:
        widths: list[list[int | None]] = [[None] * n for n in counts]
    elif rule.rule == "step_doubling":
        widths = rules.step_doubling(rule.base, rule.k, strides, counts)
    elif rule.rule == "additive":
        widths = rules.additive(rule.base or stem_width, rule.alpha, counts)
    elif rule.rule == "multiplicative":
        widths = rules.multiplicative(rule.base or stem_width, rule.alpha, counts)
    elif rule.rule == "regnet":
        derived = regnet.regnet_widths(rule, body.block)
        widths = [[w] * n for w, n in zip(derived.widths, derived.units)]
    else:
        _check_explicit(rule.widths, counts)
        widths = rules.explicit(rule.widths, counts)
    for s, stage in enumerate(body.stages):
        if stage.width is not None:
            widths[s] = [stage.width] * counts[s]
    return widths


def _check_explicit(widths: Sequence[Any], counts: Sequence[int]) -> None:
    path = ("body", "widening", "widths")
    if len(widths) != len(counts):
        raise PlanError(path, f"{len(widths)} widths for {len(counts)} stages; give one entry per stage")
    for s, (w, n) in enumerate(zip(widths, counts)):
        if isinstance(w, list) and len(w) != n:
            raise PlanError(path + (s,), f"stage {s} has {n} units but {len(w)} widths; give one per unit")


def _decayed(rate: float, index: int, total: int) -> float:
    """Stochastic depth's linear decay: 0 at the first unit, ``rate`` at the last."""
    return rate * index / (total - 1) if total > 1 else 0.0


def _check_sizes(unit: Unit, path: tuple) -> None:
    for op in unit.ops:
        out = getattr(op, "out_size", (1, 1))
        if min(out) < 1:
            raise PlanError(path, f"{unit.name}.{op.path} leaves a {out[0]}x{out[1]} map: the spatial size collapses")
    if min(unit.out_size) < 1:
        h, w = unit.out_size
        raise PlanError(path, f"{unit.name} leaves a {h}x{w} map: the spatial size collapses; use a larger input")

