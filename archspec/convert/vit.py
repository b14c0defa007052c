"""torchvision's naming of the Vision Transformer (``torchvision.models.vision_transformer``, vit_b_16 to vit_h_14).

The stem is ``conv_proj``, ``class_token`` and ``encoder.pos_embedding`` (bare parameters, as
archspec's); encoder layer ``i`` is ``encoder.layers.encoder_layer_<i>`` with archspec's step
names (``ln_1``, ``self_attention``, ``ln_2``, ``mlp.0``, ``mlp.3``); the head is ``encoder.ln``
and ``heads.head``. torchvision's attention is an ``nn.MultiheadAttention``, whose packed input
projection is two bare parameters (``in_proj_weight``, ``in_proj_bias``): they are archspec's
``self_attention.in_proj`` Linear under other names, renamed before mapping.
"""

from __future__ import annotations

from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

LAYER = ("ln_1", "self_attention.in_proj", "self_attention.out_proj", "ln_2", "mlp.0", "mlp.3")


def vit_stem(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "stem_patch_embed", "vit",
            "the stem is a patch embedding with a class token and a position embedding (stem: {type: patch_embed})")
    return {"conv_proj": "conv_proj", "class_token": "class_token", "pos_embedding": "encoder.pos_embedding"}


def vit_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "token_classifier", "vit",
            "the head is LayerNorm, the class token, FC (head: {type: token_classifier})")
    return {"ln": "encoder.ln", "head": "heads.head"}


def packed_in_projection(name: str) -> str:
    """``...self_attention.in_proj_weight`` -> ``...self_attention.in_proj.weight`` (and the bias)."""
    for suffix in ("weight", "bias"):
        if name.endswith(f".self_attention.in_proj_{suffix}"):
            return f"{name[: -len(suffix) - 1]}.{suffix}"
    return name


VIT = Family("vit", stem=vit_stem, head=vit_head, rename=packed_in_projection)


@register_rule("vit", family=VIT)
def vit_unit(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.stage == 0, "vit", "the encoder layers are one stage (body.stages: [{units: N}])")
    prefix = f"encoder.layers.encoder_layer_{unit.index}"
    return {path: f"{prefix}.{path}" for path in LAYER}
