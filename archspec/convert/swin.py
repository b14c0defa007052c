"""torchvision's naming of the Swin Transformer (``torchvision.models.swin_transformer``, swin_t to swin_v2_b).

The stem is ``features.0`` (``0`` the conv, ``2`` the LayerNorm); stage ``s``'s block ``i`` is
``features.<2s+1>.<i>`` with archspec's step names (``norm1``, ``attn.qkv``, ``attn.proj``,
``attn.relative_position_bias_table`` and ``attn.relative_position_index``; V2's ``attn.logit_scale``,
``attn.cpb_mlp.0``, ``attn.cpb_mlp.2`` and ``attn.relative_coords_table``; ``norm2``, ``mlp.0``,
``mlp.3``); the patch merging that archspec's first unit of stage ``s`` holds (``downsample.``) is
``features.<2s>``; the head is ``norm`` and ``head``.
"""

from __future__ import annotations

from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require


def swin_stem(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "stem_swin_patch_embed", "swin",
            "the stem is a patch embedding to a channels-last map with LayerNorm (stem: {type: swin_patch_embed})")
    return {"proj": "features.0.0", "norm": "features.0.2"}


def swin_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "swin_classifier", "swin",
            "the head is LayerNorm, average pool, FC (head: {type: swin_classifier})")
    return {"norm": "norm", "head": "head"}


SWIN = Family("swin", stem=swin_stem, head=swin_head)


@register_rule("swin", family=SWIN)
def swin_unit(unit: Unit, plan: Plan) -> LayerNames:
    s = unit.stage
    opens_later_stage = s > 0 and unit.index == 0  # type: ignore[operator]
    require(unit, unit.has("downsample.reduction") == opens_later_stage, "swin",
            "every stage after the first opens with patch merging (stride 2), and no other unit merges")
    prefix = f"features.{2 * s + 1}.{unit.index}"  # type: ignore[operator]
    merging = f"features.{2 * s}"  # type: ignore[operator]
    return {op.path: (f"{merging}.{op.path.removeprefix('downsample.')}" if op.path.startswith("downsample.")
                      else f"{prefix}.{op.path}") for op in unit.ops}
