"""Space file -> :class:`Space`: the same safe reading and located errors as a spec.

The file is read by :mod:`archspec.spec.yaml_safety` (size caps, no tags, duplicate keys,
a mark per field) and validated by the models of :mod:`.model`. Then every ``vary`` and
``tie`` path is checked against the base spec's schema by setting its end values (every
value of a choice) into the base and validating: an unknown field gets the spec loader's
did-you-mean, located at the path's key in the space file. Values that validate but do not
resolve (a depth that does not divide) are the sampler's business: rejections, not errors.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from ..spec.compose import load_base, override_path, set_path
from ..spec.errors import FieldPath, Problem, SourceMap, SpecError, dotted, problem
from ..spec.limits import Limits, current
from ..spec.loader import _closest, _data_path, _message, validate
from ..spec.models import Spec
from ..spec.yaml_safety import parse_yaml, read_spec_text, spec_file_name
from .model import Budget, Choice, Dimension, FloatRange, IntRange, SpaceFile


@dataclass(frozen=True)
class Axis:
    """One sampled value: the ``vary`` key as written, its path, its range, the paths tied to it."""

    key: str
    path: FieldPath
    dim: Dimension
    tied: tuple[FieldPath, ...] = ()

    @property
    def paths(self) -> tuple[FieldPath, ...]:
        return (self.path, *self.tied)


@dataclass(frozen=True)
class Space:
    """A loaded, checked design space."""

    file: str
    base: Spec
    base_data: dict
    base_source: SourceMap
    axes: tuple[Axis, ...]
    budget: Budget

    def changes(self, values: dict[str, Any]) -> list[tuple[FieldPath, Any]]:
        """The (path, value) settings a sample's values make, ties included."""
        return [(path, values[axis.key]) for axis in self.axes for path in axis.paths]

    @property
    def size(self) -> int | None:
        """How many different draws the space has: the product of its axes' sizes (None with a
        real-valued axis). An upper bound on its distinct samples, which the budget, values that
        do not resolve and values that expand alike can only make fewer."""
        total = 1
        for axis in self.axes:
            count = axis_size(axis.dim)
            if count is None:
                return None
            total *= count
        return total


def load_space(path: str | Path, limits: Limits | None = None) -> Space:
    """Read and check a space file; raise :class:`SpecError` naming every problem, located."""
    limits = limits or current()
    file = spec_file_name(path)
    data, marks = parse_yaml(read_spec_text(path, limits), file, limits)
    return _check(data, SourceMap(file, marks), limits)


def load_space_text(text: str, file: str = "<space>", limits: Limits | None = None) -> Space:
    """A space given as YAML text (a relative ``base`` path is relative to ``file``'s directory)."""
    limits = limits or current()
    data, marks = parse_yaml(text, file, limits)
    return _check(data, SourceMap(file, marks), limits)


def _check(data: dict, source: SourceMap, limits: Limits) -> Space:
    try:
        model = SpaceFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_problems(exc, data, source)) from None
    base, base_data, base_source = _base(model, source, limits)
    axes = _axes(model, source)
    found = _check_ties(axes, base, source)  # a mistyped tie would only fail again below
    mistied = {p.path for p in found}
    for axis in axes:
        if f"tie.{axis.key}" not in mistied:
            found += _check_axis(axis, base_data, base_source, source)
    if found:
        raise SpecError(found)
    return Space(source.file, base, base_data, base_source, tuple(axes), model.budget)


def _base(model: SpaceFile, source: SourceMap, limits: Limits) -> tuple[Spec, dict, SourceMap]:
    if isinstance(model.base, dict):  # inline: its marks are the space file's, under `base`
        marks = {p[1:]: loc for p, loc in source.marks.items() if p[:1] == ("base",)}
        base_source = SourceMap(source.file, marks)
        data = copy.deepcopy(model.base)
    else:
        where = source.locate(("base",))

        def refuse(why: str) -> SpecError:
            return problem(source.file, f"{why}; the path is relative to the space file", where.line, where.column,
                           "base")

        data, marks, name = load_base(model.base, source.file, limits, refuse)
        base_source = SourceMap(name, marks)
    return validate(copy.deepcopy(data), base_source), data, base_source


def _axes(model: SpaceFile, source: SourceMap) -> list[Axis]:
    bad: list[Problem] = []
    tied: dict[str, tuple[FieldPath, ...]] = {}
    for key, targets in model.tie.items():
        if key not in model.vary:
            hint = _closest(key, model.vary)
            bad.append(source.problem(("tie", key), f"`{key}` is not a `vary` path; a tie names a vary path and the "
                                                     "paths that take its value" + (f"; did you mean `{hint}`?" if hint else "")))
        tied[key] = tuple(override_path(t) for t in targets)
    seen: dict[FieldPath, str] = {}
    axes = []
    for key, dim in model.vary.items():
        path = override_path(key)
        if any(part == "" for part in path) or not path:
            bad.append(source.problem(("vary", key), f"`{key}` is not a field path; write it as --set does, "
                                                     "e.g. body.depth or body.stages[1].units"))
            continue
        axis = Axis(key, path, dim, tied.get(key, ()))
        for p in axis.paths:
            if p in seen:
                bad.append(source.problem(("vary", key), f"{dotted(p)} is set twice (also by `{seen[p]}`); "
                                                         "vary or tie each field once"))
            seen[p] = key
        axes.append(axis)
    if bad:
        raise SpecError(bad)
    return axes


def axis_size(dim: Dimension) -> int | None:
    """The number of values an axis can take: grid points of an int range, distinct choices; None for reals."""
    if isinstance(dim, Choice):
        return len({json.dumps(v, sort_keys=True, default=str) for v in dim.choice})
    if isinstance(dim, FloatRange):
        return None if dim.bounds[0] != dim.bounds[1] else 1
    lo, hi = dim.bounds
    return (hi - lo) // dim.step + 1


def representatives(dim: Dimension) -> list[Any]:
    """The values whose validity is checked when the space is loaded: both ends, or every choice."""
    if isinstance(dim, Choice):
        return list(dim.choice)
    lo, hi = dim.bounds
    return [lo, hi] if lo != hi else [lo]


def _check_axis(axis: Axis, base_data: dict, base_source: SourceMap, source: SourceMap) -> list[Problem]:
    where = ("vary", axis.key)
    for value in representatives(axis.dim):
        data = copy.deepcopy(base_data)
        for path in axis.paths:
            missing = put(data, path, value)
            if missing:
                return [source.problem(where, missing)]
        try:
            validate(data, base_source)
        except SpecError as exc:
            return [_relocated(p, axis, value, source) for p in exc.problems]
    return []


def _relocated(found: Problem, axis: Axis, value: Any, source: SourceMap) -> Problem:
    """A base-spec problem caused by an axis value, told at the axis's key in the space file."""
    message = found.message
    if not message.startswith("unknown field"):
        message = f"the value `{value}` is not allowed here: {message}"
    if found.path and found.path not in {dotted(p) for p in axis.paths}:
        message = f"{found.path}: {message}"
    loc = source.locate(("vary", axis.key))
    return Problem(loc.file, loc.line, loc.column, f"vary.{axis.key}", message)


def put(data: Any, path: FieldPath, value: Any) -> str | None:
    """Set ``path`` in plain data exactly as ``--set`` does; None, or what is missing from the base."""
    try:
        set_path(data, path, value, dotted(path), "<space>")
    except SpecError as exc:
        return exc.problems[0].message.partition(": ")[2] + " in the base spec"
    return None


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    return "bool" if isinstance(value, bool) else type(value).__name__


def value_at(obj: Any, path: FieldPath) -> Any:
    """The validated base's value at ``path`` (None where it has none)."""
    for part in path:
        try:
            obj = obj[part] if isinstance(part, int) or isinstance(obj, dict) else getattr(obj, part)
        except (AttributeError, IndexError, KeyError, TypeError):
            return None
    return obj


def _check_ties(axes: Iterable[Axis], base: Spec, source: SourceMap) -> list[Problem]:
    bad = []
    for axis in axes:
        if not axis.tied:
            continue
        kinds = {dotted(p): _kind(value_at(base, p)) for p in axis.paths}
        known = {k for k in kinds.values() if k}
        if len(known) > 1:
            listed = ", ".join(f"{p} ({k})" for p, k in kinds.items() if k)
            bad.append(source.problem(("tie", axis.key), f"a tie shares one value, but these fields have different "
                                                         f"types: {listed}; tie fields of one type"))
    return bad


def _problems(exc: ValidationError, data: dict, source: SourceMap) -> list[Problem]:
    """Located problems of the space file itself (the spec loader's wording, the space's fields)."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc, tag = err["loc"], None
        if len(loc) >= 3 and loc[0] == "vary" and loc[2] in ("int", "float", "choice"):  # the range's kind
            loc, tag = loc[:2] + loc[3:], loc[2]
        path = _data_path(loc, data)
        if err["type"] == "extra_forbidden":
            allowed = _FIELDS.get((tag,) if tag else tuple(loc[:1]) if len(loc) == 2 else (), [])
            hint = _closest(str(path[-1]), allowed)
            message = f"unknown field `{path[-1]}`" + (f"; did you mean `{hint}`?" if hint else "")
            message += " Allowed here: " + ", ".join(allowed) + "." if allowed else ""
        elif err["type"] == "dimension":
            message = err["msg"]
        else:
            message = _message(err, path)
        problem_ = source.problem(path, message)
        if problem_ not in out:
            out.append(problem_)
    return out


_FIELDS = {  # the keys allowed where an unknown one was found
    (): ["base", "vary", "tie", "budget"],
    ("budget",): ["params", "macs"],
    ("int",): ["int", "step", "log"],
    ("float",): ["float", "log"],
    ("choice",): ["choice"],
}


__all__ = ["Axis", "FloatRange", "IntRange", "Space", "load_space", "load_space_text", "put", "value_at"]
