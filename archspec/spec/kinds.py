"""The one list of unit kinds, read off the spec language's own unions.

A body block's kind is its spec model's ``type``; stems, heads and downsampling units
are rows of their own kinds. The planner, builder and converter registries refuse a
kind that is not listed here (plan/registry.py, blocks/registry.py, convert/rules.py),
and tests/test_block_kinds.py asserts that every spec block has a planner and every
kind a builder, so a new block type is: its spec model in the union, one planner, the
frozen options type its planner stores (declared with ``plan.options.register_options``;
tests/test_unit_options.py checks every kind has one), one builder (and converter rules
where torchvision has the family).
"""

from __future__ import annotations

from typing import Annotated, Any, Union, get_args, get_origin

from .blocks import BlockSpec
from .layout import DownsampleSpec
from .models import HeadSpec, StemSpec

__all__ = ["AUX_KINDS", "BLOCK_KINDS", "DOWNSAMPLE_KINDS", "HEAD_KINDS", "STEM_KINDS", "UNIT_KINDS", "kinds_of"]


def kinds_of(annotated_union: Any) -> tuple[str, ...]:
    """The ``type`` literals of a discriminated union's members, in the union's order (members
    tagged with ``Tag`` unwrapped; the user block, whose ``type`` is any name, left out)."""
    union = get_args(annotated_union)[0]
    if get_origin(union) is not Union:
        raise TypeError(f"{annotated_union!r} is not an annotated union of spec models")
    kinds = []
    for member in get_args(union):
        model = get_args(member)[0] if get_origin(member) is Annotated else member
        literal = get_args(model.model_fields["type"].annotation)
        if literal:
            kinds.append(literal[0])
    return tuple(kinds)


BLOCK_KINDS = kinds_of(BlockSpec)  # body units: one planner and one builder each
STEM_KINDS = tuple(f"stem_{kind}" for kind in kinds_of(StemSpec))
HEAD_KINDS = kinds_of(HeadSpec)
DOWNSAMPLE_KINDS = tuple(kind for kind in kinds_of(DownsampleSpec) if kind != "strided")  # strided: no unit
AUX_KINDS = ("aux_classifier", "aux_conv")  # GoogLeNet's and Inception-v3's
UNIT_KINDS = BLOCK_KINDS + STEM_KINDS + HEAD_KINDS + DOWNSAMPLE_KINDS + AUX_KINDS  # every Plan row's ``block``
