"""Checkpoint names a spec declares (its ``checkpoint:`` rules, spec/checkpoint.py), applied to the Plan.

torchvision's names need Python rules per family (the other modules here): its module trees
are not the units'. A network written from YAML blocks whose step names are the reference
code's own (timm's, xautodl's) differs only in its frame, which the spec states as data; this
module turns those rules into the per-unit names :func:`archspec.convert.engine.map_weights`
checks tensor by tensor. No model has Python of its own here.
"""

from __future__ import annotations

from typing import get_args

from ..plan.types import Plan, Unit
from ..spec.checkpoint import UNIT_INDEX, CheckpointNames, NameRule
from .errors import ConversionError
from .rules import LayerNames

DECLARED_FORMATS: tuple[str, ...] = get_args(CheckpointNames.model_fields["format"].annotation)


class DeclaredNames:
    """Every layer's checkpoint name under the spec's rules, computed once and checked for collisions."""

    def __init__(self, plan: Plan, fmt: str):
        declared = plan.checkpoint
        if declared is None:
            raise ConversionError(
                f"spec {plan.name} declares no checkpoint names, so a {fmt} state_dict cannot be mapped onto it: "
                f"add a `checkpoint:` section (format: {fmt}, names: prefix rules; docs/weights.md#timm-checkpoints), "
                "or give a torchvision checkpoint (--weights-format torchvision) or archspec's own (archspec)")
        if declared.format != fmt:
            raise ConversionError(f"spec {plan.name} declares the names of {declared.format} checkpoints, not {fmt}'s: "
                                  f"use --weights-format {declared.format}")
        self.plan, self.rules, self.ignore = plan, declared.names, tuple(declared.ignore)
        body = {u.name: k for k, u in enumerate(plan.body)}
        self.names: dict[str, LayerNames] = {}
        self.squeeze: set[str] = set()
        owner: dict[str, str] = {}
        for unit in plan.units:
            layers = self.names[unit.name] = {}
            for op in unit.ops:
                ours = f"{unit.name}.{op.path}"
                theirs, rule = self._rename(ours, body.get(unit.name))
                if theirs in owner:
                    raise ConversionError(f"the checkpoint names of spec {plan.name} give layers {owner[theirs]} and "
                                          f"{ours} the same name {theirs!r}; make its `checkpoint.names` rules tell them apart")
                layers[op.path], owner[theirs] = theirs, ours
                if rule is not None and rule.reshape == "squeeze":
                    self.squeeze.add(ours)

    def _rename(self, path: str, unit_index: int | None) -> tuple[str, NameRule | None]:
        """The first matching rule's name for ``path`` (the rest of the path appended), else the path."""
        for rule in self.rules:
            found = rule.match(path)
            if found is None:
                continue
            bound, rest = found
            env = {**bound, **({UNIT_INDEX: unit_index} if unit_index is not None else {})}
            try:
                head = rule.render(env)
            except ValueError as exc:
                where = "" if unit_index is not None else f" ({UNIT_INDEX} is defined for the body's units only)"
                raise ConversionError(f"spec {self.plan.name}, checkpoint.names, for layer {path}: {exc}{where}") from None
            return (f"{head}.{rest}" if rest else head), rule
        return path, None

    def for_unit(self, unit: Unit) -> LayerNames:
        return self.names[unit.name]
