"""Planning with its guards: a spec (or a spec file) in, its Plan out, huge numbers refused first.

Everything that turns a spec into a Plan for a caller goes through here (the API, the
weights converters, the design-space sampler), so the checks cannot be skipped and
errors are located the same way everywhere.

Planning allocates one row per unit, and the widening rules turn widths into
floats, so ``depth: 1000000000`` or ``width: 10**400`` must be refused *before*
planning: :func:`check_before` bounds the unit count and every width-like number
analytically (a layer producing ``w`` channels has at least ``w`` parameters).
:func:`check_after` compares the Plan's exact counts with ``--max-params`` and
``--max-macs`` before anything is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Union

from ..spec.base import attribute
from ..spec.bundled import load_any
from ..spec.errors import FieldPath, Problem, SpecError, dotted
from ..spec.limits import Limits, current
from ..spec.loader import source_of
from ..spec.models import Spec
from .errors import PlanError
from .memo import UnitMemo
from .ops import Size
from .planner import make_plan, units_per_stage
from .types import Plan

SpecLike = Union[Spec, Mapping[str, Any], str, Path]


def resolve(spec: SpecLike, input_size: Size | int | None = None, overrides: Iterable[str] = ()) -> Plan:
    """A spec, a spec file, a bundled spec's name, YAML text or a dict, resolved into its Plan.

    What :func:`archspec.plan` does; errors name the file, line and field. ``overrides``
    (``path=value`` strings, the CLI's ``--set``) apply when a path is given.
    """
    spec = load_any(spec, overrides)
    size = checked_size(input_size)
    try:
        return checked_plan(spec, size)  # make_plan, guarded by the size limits
    except PlanError as exc:
        raise located(spec, exc) from None


def located(spec: Spec, exc: PlanError) -> SpecError:
    """A planner's (or the memory estimate's) error at the file, line and field that caused it.

    Stages a widening rule derived (regnet) are not in the file: their errors point at the rule.
    """
    if getattr(exc, "problem", None) is not None:  # located in a block file (plan/user_block.py)
        return SpecError([exc.problem])  # type: ignore[attr-defined]
    path, message = exc.path, exc.message
    if tuple(path[:2]) == ("body", "stages") and not spec.body.stages and spec.body.widening is not None:
        stage = f"stage {path[2]} (derived by the {spec.body.widening.rule} rule)" if len(path) > 2 else "the stages"
        path, message = ("body", "widening"), f"{stage}: {message}"
    return SpecError([source_of(spec).problem(path, message)])


def checked_size(size: Any) -> Size | None:
    """``None``, N or (H, W) with positive whole numbers; anything else is a SpecError."""
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
    if (isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)):
        return (pair[0], pair[1])
    raise SpecError([Problem("<input_size>", None, None, "input_size",
                             f"{size!r} is not a size: give N or (H, W) with positive whole numbers")])


def checked_plan(spec: Spec, input_size: Size | None = None, limits: Limits | None = None,
                 memo: UnitMemo | None = None) -> Plan:
    """:func:`make_plan` guarded by the limits; raises :class:`PlanError` with a field path.

    ``memo`` shares units planned for earlier variants (see :mod:`archspec.plan.memo`).
    """
    limits = limits or current()
    check_before(spec, limits)
    plan = make_plan(spec, input_size, memo)
    check_after(plan, limits)
    return plan


def check_before(spec: Spec, limits: Limits) -> None:
    rule = spec.body.widening
    if rule is not None and rule.rule == "regnet":  # the rule runs once per unit: bound it before it runs
        if rule.depth > limits.max_units:
            raise PlanError(("body", "widening", "depth"), f"depth {rule.depth:,} exceeds the limit of "
                                                           f"{limits.max_units:,} units; is the depth a typo?")
        ramp = rule.w0 + rule.wa * rule.depth  # the widths stay within a factor sqrt(wm) of the ramp
        if ramp * rule.wm > limits.max_params:
            raise PlanError(("body", "widening"), f"w0 + wa x depth = {_big(ramp)} channels alone mean more than "
                                                  f"{_big(limits.max_params)} parameters (the --max-params limit)")
    counts = units_per_stage(spec)
    if sum(counts) > limits.max_units:
        body = spec.body
        biggest = max(range(len(counts)), key=counts.__getitem__)
        path = ("body", "depth") if body.depth is not None else ("body", "stages", biggest, "units")
        raise PlanError(path, f"{sum(counts):,} units in the body (stage {biggest} alone has {counts[biggest]:,}) "
                              f"exceed the limit of {limits.max_units:,} units; is the depth a typo?")
    scaling = spec.scaling
    if scaling is not None and sum(counts) * scaling.depth_mult > limits.max_units:
        raise PlanError(("scaling", "depth_mult"), f"depth_mult {scaling.depth_mult:g} scales {sum(counts):,} units "
                                                   f"past the limit of {limits.max_units:,}; is this a typo?")
    widths = list(_widths(spec, len(counts)))
    if scaling is not None:
        widths.append((("scaling", "width_mult"), max(w for _, w in widths) * scaling.width_mult))
    for path, width in widths:
        if width > limits.max_params:
            raise PlanError(path, f"{_big(width)} channels alone mean more than {_big(limits.max_params)} "
                                  "parameters (the --max-params limit); is this a typo?")


def _widths(spec: Spec, n_stages: int) -> Iterator[tuple[FieldPath, Any]]:
    """Lower bounds on every width the spec can produce, each with the field that sets it."""
    yield ("input", "channels"), spec.input.channels
    yield ("classes",), spec.classes
    stem_width = attribute(spec.stem, "width", None)
    if stem_width is not None:
        yield ("stem", "width"), stem_width
    for i, width in enumerate(attribute(spec.stem, "widths", ()) or ()):
        yield ("stem", "widths", i), width
    rule = spec.body.widening
    base = attribute(rule, "base", None) or stem_width or 1
    doublings = sum(1 for s in spec.body.stages[1:] if s.stride > 1)
    bounds = {
        "step_doubling": lambda: base * attribute(rule, "k", 1) * 2**doublings,
        "additive": lambda: base + attribute(rule, "alpha", 0),
        "multiplicative": lambda: base * attribute(rule, "alpha", 1),
        "explicit": lambda: max(max(w, default=0) if isinstance(w, list) else w for w in rule.widths),
    }
    if rule is not None and rule.rule in bounds:
        yield ("body", "widening"), bounds[rule.rule]()
    for s, stage in enumerate(spec.body.stages):
        if stage.width is not None:
            yield ("body", "stages", s, "width"), stage.width
    yield from _family_widths(spec)


def _family_widths(spec: Spec) -> Iterator[tuple[FieldPath, Any]]:
    """Widths the dense, inception and bneck blocks, layer-list stem, MLP heads and aux heads write out."""
    blocks = [(("body", "block"), spec.body.block)]
    blocks += [(("body", "stages", s, "block"), st.block) for s, st in enumerate(spec.body.stages) if st.block]
    for path, block in blocks:
        if attribute(block, "growth", None) is not None:
            yield path + ("growth",), block.growth * max(attribute(block, "bottleneck", None) or 1, 1)
        for i, row in enumerate(attribute(block, "modules", ())):
            yield path + ("modules", i), sum(attribute(row, "widths", row))  # a GoogLeNet row or an Inception-v3 module
        for i, row in enumerate(attribute(block, "layers", ())):  # bneck rows: [kernel, expanded, out, se, act]
            yield path + ("layers", i), max(row[1], row[2])
    for i, layer in enumerate(attribute(spec.stem, "layers", ())):
        yield ("stem", "layers", i), attribute(layer, "width", 1)
    hidden = attribute(spec.head, "hidden", ())
    if isinstance(hidden, int):  # one hidden FC (conv_mlp)
        yield ("head", "hidden"), hidden
    else:
        for i, width in enumerate(hidden):
            yield ("head", "hidden", i), width
    for i, aux in enumerate(spec.body.aux_heads):
        yield ("body", "aux_heads", i), max(aux.width, attribute(aux, "hidden", 0), attribute(aux, "conv_width", 0))


def check_after(plan: Plan, limits: Limits) -> None:
    for total, limit, what, option in ((plan.params, limits.max_params, "parameters", "--max-params"),
                                       (plan.macs, limits.max_macs, "MACs per image", "--max-macs")):
        if total > limit:
            path, part = _biggest(plan, what)
            raise PlanError(path, f"the network would have {_big(total)} {what} (most of them in "
                                  f"{dotted(path)}: {_big(part)}), above the limit of {_big(limit)}; lower "
                                  f"the depth, widths or input size, or raise {option}")


def _biggest(plan: Plan, what: str) -> tuple[FieldPath, int]:
    def count(x: Any) -> int:
        return x.params if what == "parameters" else x.macs

    parts: list[tuple[FieldPath, int]] = [(("stem",), count(plan.stem)), (("head",), count(plan.head))]
    parts += [(("body", "stages", s.index), count(s)) for s in plan.stages]
    return max(parts, key=lambda p: p[1])


def _big(n: float) -> str:
    """Readable big numbers: exact with separators up to 10^15, scientific beyond."""
    if n < 10**15:
        return f"{int(n):,}"
    try:
        return f"{float(n):.3g}"
    except OverflowError:
        return "more than 1e308"
