"""Compound scaling (EfficientNet) as pure functions, with the rounding made visible.

Widths are multiplied and rounded to a multiple of the divisor the way the paper's
code (and torchvision's ``_make_divisible``) does; unit counts are multiplied and
rounded up. Every rounding is returned as a record the planner stores on the unit.
MobileNetV3's bneck tables have their widths scaled row by row (torchvision's
``_mobilenet_v3_conf(width_mult=...)``: ``adjust_channels`` on every expanded and output
width); a head's fixed width follows the head's own ``width_scaling`` rule.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .types import Unit


def make_divisible(value: float, divisor: int) -> int:
    """Nearest multiple of ``divisor`` (halves up), at least ``divisor``, never more than 10 % below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def scaled_width(base: int | None, scaling: Any, base_units: int = 1, units: int = 1) -> tuple[int | None, dict[str, Any]]:
    """A unit's width under ``scaling`` (None: unchanged) and the record of both roundings."""
    if scaling is None:
        return base, {}
    record: dict[str, Any] = {"depth_mult": scaling.depth_mult, "base_units": base_units, "units": units}
    if base is None:
        return None, record
    raw = base * scaling.width_mult
    width = make_divisible(raw, scaling.divisor)
    record.update(base_width=base, width_mult=scaling.width_mult, raw_width=raw, divisor=scaling.divisor, width=width)
    return width, record


def scaled_stem(stem: Any, scaling: Any) -> tuple[Any, dict[str, Any]]:
    """A conv stem with its width scaled; other stems are left as written."""
    if scaling is None or stem.type != "conv":
        return stem, {}
    width, record = scaled_width(stem.width, scaling)
    record = {k: v for k, v in record.items() if k not in ("depth_mult", "base_units", "units")}
    return stem.model_copy(update={"width": width}), record


def annotate(unit: Unit, record: dict[str, Any]) -> Unit:
    """The unit with its scaling record in ``scaling`` (unchanged without scaling), after any
    rounding its planner recorded itself (MobileNetV3's SE widths)."""
    return unit.with_scaling({**(unit.scaling or {}), **record}) if record else unit


def scaled_units(counts: Sequence[int], scaling: Any) -> list[int]:
    """Units per stage times ``depth_mult``, rounded up (torchvision: ``int(math.ceil(n * d))``)."""
    if scaling is None:
        return list(counts)
    return [int(math.ceil(n * scaling.depth_mult)) for n in counts]


def scaled_rows(layers: Sequence[Sequence[Any]], scaling: Any) -> tuple[list[tuple], list[dict[str, Any]]]:
    """A bneck table with its expanded and output widths scaled (torchvision's ``adjust_channels``),
    and per row the record of the output width's rounding and of the expanded width's."""
    if scaling is None:
        return [tuple(row) for row in layers], [{} for _ in layers]
    rows, records = [], []
    for kernel, expanded, out, se, act in layers:
        width, record = scaled_width(out, scaling)
        inner = make_divisible(expanded * scaling.width_mult, scaling.divisor)
        record = {k: v for k, v in record.items() if k not in ("depth_mult", "base_units", "units")}
        rows.append((kernel, inner, width, se, act))
        records.append({**record, "base_expanded": expanded, "expanded": inner})
    return rows, records


def scaled_table(block: Any, scaling: Any) -> Any:
    """A bneck block with its rows scaled; any other block unchanged."""
    if scaling is None or block.type != "bneck":
        return block
    return block.model_copy(update={"layers": scaled_rows(block.layers, scaling)[0]})


HEAD_WIDTHS = {"conv_classifier": ("width", "width_scaling"), "conv_mlp": ("hidden", "hidden_scaling")}


def scaled_head(head: Any, scaling: Any) -> tuple[Any, dict[str, Any]]:
    """The head with its fixed width scaled by its rule (``fixed``, ``scaled``, ``up``), and the record.

    torchvision: MobileNetV2's last conv is ``_make_divisible(1280 * max(1.0, width_mult), 8)`` (``up``),
    MobileNetV3's hidden FC ``_make_divisible(1280 * width_mult, 8)`` (``scaled``), MNASNet's conv 1280 (``fixed``).
    """
    field, rule_field = HEAD_WIDTHS.get(head.type, (None, None))
    base = getattr(head, field, None) if field else None
    rule = getattr(head, rule_field, "fixed") if rule_field else "fixed"
    if scaling is None or base is None or rule == "fixed":
        return head, {}
    mult = scaling.width_mult if rule == "scaled" else max(1.0, scaling.width_mult)
    raw = base * mult
    width = make_divisible(raw, scaling.divisor)
    record = {"base_width": base, "width_mult": mult, "raw_width": raw, "divisor": scaling.divisor, "width": width}
    return head.model_copy(update={field: width}), record
