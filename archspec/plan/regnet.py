"""RegNet (Radosavovic et al. 2020) as torchvision builds it: the quantized linear widening rule,
which also decides the stages, and the residual bottleneck unit (``regnet`` blocks).

The rule is ``BlockParams.from_init_params`` in ``torchvision/models/regnet.py``. torchvision
computes it with float32 tensors (``torch.arange(depth) * w_a + w_0``, ``torch.log``,
``torch.pow``, ``torch.round``), so :func:`regnet_widths` does each step in float32 too
(every result rounded to the nearest float32, rounding halves to even), without torch:
an exponent or a width that lands near a rounding boundary comes out as torchvision's.
Every step is recorded on the unit it concerns (``Unit.scaling``) and shown by ``report``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from ..spec.models import Spec, StageSpec
from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv, Norm
from .options import register_options
from .registry import register_planner
from .scaling import make_divisible
from .shortcuts import plan_shortcut
from .types import Stage, Unit, UnitOptions

STRIDE = 2  # every RegNet stage halves the map
_F32 = struct.Struct("f")


def f32(x: float) -> float:
    """``x`` rounded to the nearest float32 (what a float32 tensor op stores)."""
    return _F32.unpack(_F32.pack(x))[0]


@dataclass(frozen=True)
class RegNetWidths:
    """The rule's outcome: units and (adjusted) width per stage, group width per stage, one record per unit."""

    units: tuple[int, ...]
    widths: tuple[int, ...]
    group_widths: tuple[int, ...]
    records: tuple[Mapping[str, Any], ...]  # per unit, in order: how its width came about


def regnet_widths(rule: Any, block: Any) -> RegNetWidths:
    """The quantized linear rule of ``rule`` (``widening: {rule: regnet}``) for ``block``'s groups."""
    return _widths(rule.depth, rule.w0, rule.wa, rule.wm, rule.quantum, block.group_width, block.bottleneck_ratio)


@lru_cache(maxsize=1024)  # samplers plan the same rule again and again
def _widths(depth: int, w0: int, wa: float, wm: float, quantum: int, group_width: int, ratio: float) -> RegNetWidths:
    wa32, wm32, w032 = f32(wa), f32(wm), f32(w0)
    log_wm = f32(math.log(wm))
    steps = []
    for i in range(depth):
        continuous = f32(f32(i * wa32) + w032)  # torch.arange(depth) * w_a + w_0
        exponent = f32(f32(math.log(f32(continuous / w032))) / log_wm)
        capacity = round(exponent)  # torch.round: halves to even, as Python's round
        raw = f32(w032 * f32(wm32 ** capacity))
        quantized = round(f32(raw / quantum)) * quantum
        steps.append((i, continuous, exponent, capacity, raw, quantized))
    runs: list[list[tuple]] = []
    for step in steps:  # consecutive units of one width form a stage
        if runs and runs[-1][-1][-1] == step[-1]:
            runs[-1].append(step)
        else:
            runs.append([step])
    units, widths, groups, records = [], [], [], []
    for s, run in enumerate(runs):
        quantized = run[0][-1]
        bottleneck = int(quantized * ratio)  # _adjust_widths_groups_compatibilty
        if bottleneck < 1:
            raise PlanError(("body", "block", "bottleneck_ratio"),
                            f"bottleneck_ratio {ratio:g} leaves stage {s} (width {quantized}) no inner channels")
        group = min(group_width, bottleneck)
        divisible = make_divisible(bottleneck, group)
        width = int(divisible / ratio)
        if width < 1:
            raise PlanError(("body", "block", "bottleneck_ratio"), f"stage {s} would get width {width}")
        units.append(len(run))
        widths.append(width)
        groups.append(group)
        for i, continuous, exponent, capacity, raw, _ in run:
            records.append({
                "rule": "regnet", "unit": i, "w0": w0, "wa": wa, "wm": wm, "quantum": quantum,
                "continuous": continuous, "exponent": exponent, "capacity": capacity, "raw": raw,
                "quantized": quantized, "bottleneck": bottleneck, "group_width": group, "divisible": divisible,
                "adjusted": width,
            })
    return RegNetWidths(tuple(units), tuple(widths), tuple(groups), tuple(records))


def describe(record: Mapping[str, Any]) -> str:
    """One unit's width in words, e.g. RegNetY-800MF's last unit:
    ``56 + 38.84 x 13 = 560.92 -> 56 x 2.4^3 = 774.144 -> 776 -> 784 (inner 776 -> 784, groups of 16)``."""
    text = (f"{record['w0']} + {record['wa']:g} x {record['unit']} = {record['continuous']:.6g} -> "
            f"{record['w0']} x {record['wm']:g}^{record['capacity']} = {record['raw']:.6g} -> {record['quantized']}")
    if record["adjusted"] != record["quantized"]:
        text += f" -> {record['adjusted']} (inner {record['bottleneck']} -> {record['divisible']}, groups of {record['group_width']})"
    return text


@register_options("regnet")
@dataclass(frozen=True)
class RegNetOptions(UnitOptions):
    """What a RegNet unit's module needs beyond its layer records."""

    se: bool  # squeeze-excite between the 3x3 and the last 1x1 (RegNetY)
    group_width: int  # channels per group of the 3x3 (after the cap at the inner width)


@register_planner("regnet")
def plan_regnet(block: Any, ctx: UnitContext) -> Unit:
    """torchvision's ResBottleneckBlock: a (1x1), b (3x3, groups, stride), [se], c (1x1), the shortcut (a
    projection where the shape changes), the add, a ReLU; as a graph in that order."""
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"regnet unit {ctx.name} needs a width: give `widening` or stage `width`")
    w, cin, size = ctx.width, ctx.in_channels, ctx.in_size
    inner = int(round(w * block.bottleneck_ratio))  # BottleneckTransform's w_b
    if inner < 1:
        raise PlanError(ctx.block_path + ("bottleneck_ratio",), f"unit {ctx.name} gets no inner channels at width {w}")
    group_width = min(block.group_width, inner)
    groups = inner // group_width
    if inner % groups:
        raise PlanError(ctx.block_path + ("group_width",),
                        f"{groups} groups of {group_width} do not divide the inner width {inner} of unit {ctx.name}; "
                        "choose a width whose inner width is a multiple of the group width")
    conv1 = Conv("conv1", cin, inner, 1, size, padding=0)
    conv2 = Conv("conv2", inner, inner, 3, size, stride=ctx.stride, groups=groups)
    out_size = conv2.out_size
    g = GraphBuilder(cin, size)
    x = sg.conv_norm_act(g, INPUT, conv1, Norm("bn1", inner, size), "relu", "relu1")
    x = sg.conv_norm_act(g, x, conv2, Norm("bn2", inner, out_size), "relu", "relu2")
    if block.se_ratio is not None:  # on the inner width, before the last 1x1 (torchvision's BottleneckTransform)
        squeeze = int(round(block.se_ratio * cin))  # of the unit's input width, as torchvision and the paper
        if squeeze < 1:
            raise PlanError(ctx.block_path + ("se_ratio",), f"se_ratio {block.se_ratio:g} leaves no SE channels of {cin}")
        one = (1, 1)
        x = sg.squeeze_excite(g, x, Conv("se.fc1", inner, squeeze, 1, one, bias=True),
                              Conv("se.fc2", squeeze, inner, 1, one, bias=True))
    x = sg.conv_norm_act(g, x, Conv("conv3", inner, w, 1, out_size, padding=0), Norm("bn3", w, out_size), "none", "")
    kind, short = plan_shortcut(ctx.shortcut, cin, w, ctx.stride, size, ctx.shortcut_path)
    x = sg.residual_add(g, x, sg.shortcut(g, INPUT, kind, ctx.stride, w - cin, short))
    graph = g.build(g.add(sg.Act("relu3", "relu"), x))
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="regnet",
        in_channels=cin, out_channels=w, in_size=size, out_size=out_size, stride=ctx.stride,
        inner_channels=inner, groups=groups, shortcut=kind, merge="add", ops=graph.weighted, width=w,
        options=RegNetOptions(se=block.se_ratio is not None, group_width=group_width),  # type: ignore[arg-type]
        graph=graph,
    )


def with_derived_stages(spec: Spec) -> Spec:
    """The spec with the stages its widening rule derives (RegNet's: one per run of equal widths, stride 2).

    Unchanged for every other rule: their stages are written in the spec.
    """
    rule = spec.body.widening
    if rule is None or rule.rule != "regnet" or spec.body.stages:
        return spec
    if spec.scaling is not None:
        raise PlanError(("scaling",), "compound scaling and the regnet widening rule both set the widths; drop one")
    derived = regnet_widths(rule, spec.body.block)
    stages = [StageSpec(units=n, stride=STRIDE) for n in derived.units]
    return spec.model_copy(update={"body": spec.body.model_copy(update={"stages": stages})})


def with_rule_records(spec: Spec, stages: list[Stage]) -> list[Stage]:
    """Each unit with its record of how the regnet rule gave its width (``Unit.scaling``)."""
    rule = spec.body.widening
    if rule is None or rule.rule != "regnet":
        return stages
    records = iter(regnet_widths(rule, spec.body.block).records)
    return [Stage(s.index, tuple(u.with_scaling(next(records)) for u in s.units), s.downsampled) for s in stages]
