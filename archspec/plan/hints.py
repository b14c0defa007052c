"""Hints: specs that are valid but probably mean something else than they say.

Each hint is a located :class:`~archspec.spec.errors.Problem` (file, line, field) that the
CLI prints as a warning, or as an error under ``--strict``:

- DenseNet strides in ResNet order. A transition ends every strided stage, so
  ``[1, 2, 2]`` puts no transition after the first dense block and one after the last,
  before the head: a different network from DenseNet's ``[2, 2, 1]`` (DenseNet-BC-250-24:
  20.8M parameters instead of 15.3M).
- An even ``depth`` split where the paper's network is uneven: ``depth: 50`` over four
  bottleneck stages is [4, 4, 4, 4], not ResNet-50's [3, 4, 6, 3].
- ``--set`` overrides that change the network but keep its name, so that reports and
  files of two different networks carry the same name.
- A squeeze-excite whose bottleneck rounds to fewer than 4 channels (SE at reduction 16 on
  17-channel units keeps 1): a gate computed from one to three numbers.

The planner's own error for a depth that does not divide (ResNet-101, -152) names the
known layout too, through :func:`known_layout`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ..spec.errors import Problem
from ..spec.loader import source_of
from ..spec.models import Spec
from .types import Plan

# He et al. 2016, Table 1 (and torchvision): units per stage of the four-stage ImageNet ResNets,
# by (weighted layers per unit, depth). ResNet-18 and -26 are even splits, so they are not here.
KNOWN_LAYOUTS: dict[tuple[int, int], tuple[int, ...]] = {
    (2, 34): (3, 4, 6, 3),
    (3, 50): (3, 4, 6, 3),
    (3, 101): (3, 4, 23, 3),
    (3, 152): (3, 8, 36, 3),
    (3, 200): (3, 24, 36, 3),
}


def known_layout(spec: Spec) -> tuple[int, ...] | None:
    """The well-known uneven units per stage for the spec's ``depth``, if there is one."""
    body = spec.body
    if body.depth is None or len(body.stages) != 4 or body.depth_offset != 2:
        return None
    layers = {(s.block or body.block).layers_per_unit for s in body.stages}
    return KNOWN_LAYOUTS.get((layers.pop(), body.depth)) if len(layers) == 1 else None


def layout_suggestion(spec: Spec, units: Sequence[int]) -> str:
    """The explicit ``units`` form of the body's stages, to paste instead of ``depth``."""
    stages = ", ".join(f"{{units: {n}, stride: {s.stride}}}" for n, s in zip(units, spec.body.stages))
    return f"remove `depth` and write `stages: [{stages}]`"


def spec_hints(spec: Spec) -> list[Problem]:
    """Every hint the spec itself gives rise to."""
    source = source_of(spec)
    return [source.problem(path, message) for path, message in (*_dense_strides(spec), *_even_depth(spec))]


def _dense_strides(spec: Spec) -> list[tuple[tuple, str]]:
    body = spec.body
    if not body.stages:  # derived by the widening rule (regnet): no dense transitions to place
        return []
    strides = [s.stride for s in body.stages]
    last = len(strides) - 1
    ends_in_transition = (body.stages[last].downsample or body.downsample).type == "transition"
    if len(strides) < 2 or strides[last] == 1 or not ends_in_transition:
        return []
    order = strides[1:] + strides[:1] if strides[0] == 1 else strides[:last] + [1]
    first = ", and the first dense block has none after it" if strides[0] == 1 else ""
    return [(("body", "stages", last, "stride"),
             f"the last stage has stride {strides[last]}: a transition ends every strided stage, so one follows the "
             f"last dense block, right before the head{first}; DenseNet strides every stage but the last: did you "
             f"mean strides {order}?")]


def _even_depth(spec: Spec) -> list[tuple[tuple, str]]:
    layout = known_layout(spec)
    body = spec.body
    if layout is None:
        return []
    even = (body.depth - body.depth_offset) // (len(body.stages) * body.block.layers_per_unit)
    return [(("body", "depth"),
             f"depth {body.depth} splits evenly into {[even] * len(body.stages)} units per stage, not ResNet-"
             f"{body.depth}'s {list(layout)}; for that layout {layout_suggestion(spec, layout)}")]


def shape(plan: Plan) -> tuple:
    """What makes a network itself, not the input it is counted at: parameters, classes and every
    unit's block, width and stride (``input.size`` changes MACs, not the network)."""
    return plan.params, plan.classes, tuple((u.block, u.out_channels, u.stride) for u in plan.units)


def override_hints(base: Plan, changed: Plan, overrides: Iterable[str], spec: Spec) -> list[Problem]:
    """``--set`` that changes the network (its parameters or its units) but not its name."""
    sets = list(overrides)
    if not sets or base.name != changed.name or shape(base) == shape(changed):
        return []
    return [source_of(spec).problem(("name",),
                                    f"--set {', '.join(sets)} changes the network ({base.params:,} -> "
                                    f"{changed.params:,} params, {len(base.units)} -> {len(changed.units)} units) "
                                    f"but its name stays `{changed.name}`; give it its own, e.g. "
                                    f"--set name={changed.name}-variant")]


NARROW_SE = 4  # fewer hidden channels than this: the excitation is computed from almost nothing
# Where each block kind writes the SE's width: the field a user changes to widen it.
SE_FIELDS = {"se": ("se", "reduction"), "se_ratio": ("se_ratio",), "se_reduction": ("se_reduction",)}


def plan_hints(spec: Spec, plan: Plan) -> list[Problem]:
    """Hints that need the resolved widths: squeeze-excites that round to fewer than 4 channels."""
    source = source_of(spec)
    return [source.problem(path, message) for path, message in _narrow_se(spec, plan)]


def _narrow_se(spec: Spec, plan: Plan) -> list[tuple[tuple, str]]:
    """One hint per block (the body's or a stage's) whose SE keeps fewer than NARROW_SE channels somewhere."""
    narrow: dict[tuple, list[tuple[str, int, int]]] = {}
    for stage, planned in zip(spec.body.stages or [None] * len(plan.stages), plan.stages):
        own = stage is not None and stage.block is not None
        block = stage.block if own else spec.body.block
        field = next((SE_FIELDS[f] for f in SE_FIELDS if getattr(block, f, None)), None)
        if field is None:
            continue
        path = (("body", "stages", planned.index, "block") if own else ("body", "block")) + field
        for unit in planned.units:
            fc1 = next((op for op in unit.ops if getattr(op, "path", "").endswith("se.fc1")), None)
            if fc1 is not None and fc1.cout < NARROW_SE:
                narrow.setdefault(path, []).append((unit.name, fc1.cin, fc1.cout))
    hints = []
    for path, units in narrow.items():
        name, cin, cout = units[0]
        more = f" and {len(units) - 1} more unit{'s' if len(units) > 2 else ''}" if len(units) > 1 else ""
        hints.append((path, f"the squeeze-excite keeps {cout} of {cin} channels in {name}{more}: fewer than "
                            f"{NARROW_SE}, so its gate is computed from {cout} number{'s' if cout > 1 else ''}; "
                            f"a smaller reduction (a larger ratio) keeps at least {NARROW_SE}"))
    return hints
