"""Fit one numeric field of a spec so that the network's params or MACs come closest to a target.

The counts are assumed monotone in the field (a width, a depth, a widening alpha): the
search walks away from the spec's own value in doubling steps until the count crosses the
target, then bisects. Values that do not resolve (a depth that does not divide into whole
units) are stepped over, by scanning the nearest whole numbers for integer fields. For an
integer field the result names the values on both sides of the target; for a real field
the two sides of the step the target falls in, each written with as few digits as keep
its exact counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from ..spec.compose import override_path
from ..spec.errors import FieldPath, SpecError, dotted
from ..plan.expand import spec_hash
from ..spec.loader import load, source_of
from ..spec.models import Spec
from .load import value_at
from .variants import Counter, Unresolved, with_changes

METRICS = ("params", "macs")
SCAN = 64  # whole numbers scanned for a value that resolves near an invalid one
MAX_DOUBLINGS = 80


@dataclass(frozen=True)
class Point:
    """A value of the field and the exact counts of the network it gives."""

    value: int | float
    params: int
    macs: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "params": self.params, "macs": self.macs}


@dataclass(frozen=True)
class FitResult:
    """The fitted value (the closer of ``below`` and ``above``), its counts, and the spec it gives."""

    path: str
    metric: str
    target: int
    value: int | float
    params: int
    macs: int
    below: Point | None  # the closest count under the target (None when a value hits it exactly)
    above: Point | None
    spec: Spec = field(repr=False)
    evaluations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "metric": self.metric, "target": self.target, "value": self.value,
                "params": self.params, "macs": self.macs, "below": self.below and self.below.as_dict(),
                "above": self.above and self.above.as_dict(), "sha256": spec_hash(self.spec)}

    def spec_yaml(self) -> str:
        """The spec with the fitted value set (as ``--set`` would), as YAML, named by its sha256."""
        data = self.spec.model_dump(mode="json", exclude_unset=True)
        head = (f"# {self.spec.name}: {self.path} = {self.value} fitted by `archspec fit` to {self.target:,} "
                f"{self.metric}\n# spec-sha256: {spec_hash(self.spec)}\n")
        return head + yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                                default_flow_style=None, width=100)


class _Probe:
    """The counts at a value of the field (None where the network does not resolve), remembered."""

    def __init__(self, base: Spec, path: FieldPath, metric: str):
        self.base, self.path, self.metric = base, path, metric
        self.counter = Counter()
        self.seen: dict[Any, Point | None] = {}
        self.outside: set[Any] = set()  # values the schema refuses (not merely unresolved)
        self.limit_hit: str | None = None

    def __call__(self, value: Any) -> Point | None:
        if value not in self.seen:
            try:
                counted = self.counter.count(with_changes(self.base, [(self.path, value)]))
                self.seen[value] = Point(value, counted.params, counted.macs)
            except Unresolved as exc:
                if "limit" in exc.message:
                    self.limit_hit = exc.message
                if exc.reason.startswith("invalid"):
                    self.outside.add(value)
                self.seen[value] = None
        return self.seen[value]

    def count(self, point: Point) -> int:
        return getattr(point, self.metric)


def fit(spec: Spec | str | Path, path: str, params: int | None = None, macs: int | None = None,
        overrides: Iterable[str] = ()) -> FitResult:
    """The value of the numeric field at ``path`` whose network comes closest to ``params`` (or ``macs``).

    Raises :class:`SpecError`, located at the field, when the field is not numeric, does not
    change the count, or cannot reach the target within the values that resolve.
    """
    if (params is None) == (macs is None):
        raise ValueError("give exactly one target: params or macs")
    metric, target = ("params", params) if params is not None else ("macs", macs)
    if not isinstance(target, int) or isinstance(target, bool) or target < 1:
        raise ValueError(f"the target must be a whole number of {metric} >= 1 (got {target!r})")
    base = spec if isinstance(spec, Spec) else load(spec, overrides)
    field_path = override_path(path)
    where = source_of(base)

    def fail(message: str) -> SpecError:
        return SpecError([where.problem(field_path, message)])

    kind, start = _numeric(base, field_path, fail)
    probe = _Probe(base, field_path, metric)
    origin = probe(start)
    if origin is None:
        raise fail(f"the spec does not resolve with {dotted(field_path)} = {start}; fix it before fitting")
    if probe.count(origin) == target:
        return _result(path, metric, target, origin, None, None, probe)
    low, high = _bracket(probe, origin, kind, target, fail)
    low, high = _bisect(probe, low, high, kind, target)
    if kind is float:
        low, high = _tidy(probe, low, high), _tidy(probe, high, low)
    for end in (low, high):
        if probe.count(end) == target:
            return _result(path, metric, target, end, None, None, probe)
    below, above = (low, high) if probe.count(low) < target else (high, low)
    best = below if target - probe.count(below) <= probe.count(above) - target else above
    return _result(path, metric, target, best, below, above, probe)


def _result(path: str, metric: str, target: int, best: Point, below: Point | None, above: Point | None,
            probe: _Probe) -> FitResult:
    spec = with_changes(probe.base, [(probe.path, best.value)])
    return FitResult(dotted(probe.path), metric, target, best.value, best.params, best.macs, below, above, spec,
                     len(probe.seen))


def _numeric(base: Spec, path: FieldPath, fail: Callable[[str], SpecError]) -> tuple[type, int | float]:
    """The field's number type and the spec's value of it (for an unset field: 1 or 1.0, if allowed)."""
    value = value_at(base, path)
    if isinstance(value, bool) or (value is not None and not isinstance(value, (int, float))):
        shown = getattr(value, "type", None) or getattr(value, "rule", None) or value
        raise fail(f"`{shown}` is not a number; fit varies one int or float field (a width, depth, alpha, k...)")
    if value is not None:
        return type(value), value
    why = ""
    for kind, trial in ((float, 1.5), (int, 1)):
        try:
            with_changes(base, [(path, trial)])
            return kind, kind(1)
        except Unresolved as exc:
            why = exc.message
    if why.startswith(("unknown field", "there is no")):
        raise fail(why)
    raise fail("this field is not set in the spec and takes no number; fit varies one int or float field")


def _side(probe: _Probe, point: Point, target: int) -> int:
    count = probe.count(point)
    return (count > target) - (count < target)


def _valid_near(probe: _Probe, value: int, step: int, bound: int | None) -> Point | None:
    """The first value from ``value`` in the direction of ``step`` that resolves (integer fields)."""
    for i in range(SCAN):
        x = value + i * (1 if step > 0 else -1)
        if bound is not None and (x - bound) * step >= 0:
            return None
        point = probe(x)
        if point is not None:
            return point
        if x in probe.outside and step < 0:  # below what the schema allows: nothing further down either
            return None
    return None


def _bracket(probe: _Probe, origin: Point, kind: type, target: int, fail: Callable[[str], SpecError]) -> tuple[Point, Point]:
    """Two resolving values whose counts lie on either side of the target (walking one way, then the other)."""
    side = _side(probe, origin, target)
    reached = []
    for direction in _directions(probe, origin, kind, target):
        last, step = origin, (1 if kind is int else max(abs(origin.value), 1.0) / 16)
        for _ in range(MAX_DOUBLINGS):
            x = origin.value + direction * step
            step *= 2
            if kind is int:
                point = _valid_near(probe, int(x), direction, None)
                if point is None and direction < 0:
                    break
            else:
                point = probe(float(x))
            if point is None:
                if kind is float or probe.limit_hit:
                    break
                continue
            if _side(probe, point, target) != side:
                return last, point
            last = point
        reached.append(last)
        if abs(probe.count(last) - target) < abs(probe.count(origin) - target):
            reached.append(origin)  # it came closer this way and ran out: the other way leads further off
            break
    lo, hi = sorted(reached, key=lambda p: p.value)
    changes = probe.count(lo) != probe.count(hi)
    if not changes:
        raise fail(f"changing {dotted(probe.path)} does not change the {probe.metric} "
                   f"({probe.count(origin):,} from {lo.value} to {hi.value})")
    raise fail(f"the target {target:,} {probe.metric} is out of reach: values of {dotted(probe.path)} that resolve give "
               f"from {probe.count(lo):,} (at {lo.value}) to {probe.count(hi):,} (at {hi.value})"
               + ("; beyond that the size limits refuse the network" if probe.limit_hit else ""))


def _directions(probe: _Probe, origin: Point, kind: type, target: int) -> tuple[int, int]:
    """Up first, unless one step up moves the count away from the target."""
    step_up = _valid_near(probe, origin.value + 1, 1, None) if kind is int else probe(origin.value + max(abs(origin.value), 1.0) / 16)
    if step_up is not None and abs(probe.count(step_up) - target) > abs(probe.count(origin) - target):
        return (-1, 1)
    return (1, -1)


def _bisect(probe: _Probe, a: Point, b: Point, kind: type, target: int) -> tuple[Point, Point]:
    side_a = _side(probe, a, target)
    for _ in range(200):
        if kind is int:
            if abs(b.value - a.value) <= 1:
                break
            mid = (a.value + b.value) // 2
            point = probe(mid)
            if point is None:  # scan both ways inside the bracket for a value that resolves
                step = 1 if b.value > a.value else -1
                point = _valid_near(probe, mid, step, b.value) or _valid_near(probe, mid, -step, a.value)
                if point is None:
                    break
        else:
            mid = (a.value + b.value) / 2
            if mid in (a.value, b.value):
                break
            point = probe(mid)
            if point is None:
                break
        if probe.count(point) == target:
            return point, point
        if _side(probe, point, target) == side_a:
            a = point
        else:
            b = point
    return a, b


def _tidy(probe: _Probe, point: Point, other: Point) -> Point:
    """The shortest decimal near ``point.value``, on its side of ``other``, with the same counts."""
    away = math.ceil if point.value > other.value else math.floor  # rounding away from the other side
    for digits in range(13):
        scale = 10**digits
        for x in (round(point.value, digits), away(point.value * scale) / scale):
            if (x - other.value) * (point.value - other.value) <= 0:
                continue
            tidy = probe(x)
            if tidy is not None and (tidy.params, tidy.macs) == (point.params, point.macs):
                return tidy
    return point
