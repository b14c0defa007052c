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


def variant_mismatches(spec: Spec, plan: Plan) -> list[tuple[tuple[Any, ...], str]]:
    """The mismatches of a variant made with ``--set``: its reference describes the spec as written."""
    return [(path, f"{message.split('; fix the spec')[0]}: --set changed the network, and its reference "
                   f"describes the spec as written; add --set reference=null to say the change is meant")
            for path, message in reference_mismatches(spec, plan)]


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
