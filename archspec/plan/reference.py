"""The spec's ``reference:`` figures against its Plan: what ``archspec validate`` checks.

A mismatch is reported against the block's field (``reference.macs``), located in the
file like any other problem. Overrides that change the network (``--set input.size=160``)
change its counts, so a reference no longer applies: ``validate`` then names the mismatch
as a hint (a warning; an error under ``--strict``), and ``--set reference=null`` says the
change is meant.
"""

from __future__ import annotations

from typing import Any

from ..spec.models import Spec
from .types import Plan

FIGURES = {"params": "parameters", "macs": "MACs per image"}


Mismatch = tuple[tuple[Any, ...], str]


def variant_mismatches(spec: Spec, plan: Plan,
                       written: tuple[Spec, Plan] | None = None) -> tuple[list[Mismatch], list[Mismatch]]:
    """(errors, hints) of a variant made with ``--set``. A mismatch is only a hint when the --set
    changed that very count from the spec as written (``written``: its Spec and Plan), whose own
    reference held: ``--set description=x`` leaves a wrong reference an error, as does a --set
    of the reference itself. Without ``written`` (standard input, read once) every one is a hint."""
    errors, hints = [], []
    held = written is not None and not reference_mismatches(*written)
    for path, message in reference_mismatches(spec, plan):
        field = path[-1]
        if written is None or (held and getattr(written[1], field) != getattr(plan, field)):
            hints.append((path, f"{message.split('; fix the spec')[0]}: --set changed the network, and its "
                                "reference describes the spec as written; add --set reference=null to say the "
                                "change is meant"))
        else:
            errors.append((path, message))
    return errors, hints


def reference_mismatches(spec: Spec, plan: Plan) -> list[tuple[tuple[Any, ...], str]]:
    """(field path, message) for every figure of ``spec.reference`` the Plan does not reproduce."""
    reference = spec.reference
    if reference is None:
        return []
    size = "x".join(map(str, plan.input_size))
    found = []
    for field, what in FIGURES.items():
        claimed, counted = getattr(reference, field), getattr(plan, field)
        if claimed is not None and claimed != counted:
            found.append((("reference", field),
                          f"the spec claims {claimed:,} {what}, but the network it describes has {counted:,} "
                          f"at {size} ({counted - claimed:+,}); fix the spec or the figure, or drop the "
                          f"reference with --set reference=null when the change is meant"))
    return found
