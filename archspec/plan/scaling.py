"""Compound scaling (EfficientNet) as pure functions, with the rounding made visible.

Widths are multiplied and rounded to a multiple of the divisor the way the paper's
code (and torchvision's ``_make_divisible``) does; unit counts are multiplied and
rounded up. Every rounding is returned as a record the planner stores on the unit.
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
