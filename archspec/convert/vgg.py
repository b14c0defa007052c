"""torchvision's naming of VGG (``torchvision.models.vgg``), with or without BN.

The convolutional part is one flat ``features`` Sequential: conv, [BN], ReLU per plain
unit and one max-pool per pool unit, so a unit's index is the number of modules the
units before it contribute. The classifier is ``Linear, ReLU, Dropout`` per hidden
layer, then the last ``Linear``: our ``fc{i}`` is ``classifier.{3 (i - 1)}``.
"""

from __future__ import annotations

from ..plan.options import Pool
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

MODULES_PER_FC = 3  # Linear, ReLU, Dropout


def modules_of(unit: Unit) -> int:
    """How many entries of ``features`` a body unit is: conv, [BN], ReLU; or one pool."""
    return 1 if unit.block == "pool" else len(unit.ops) + 1


def vgg_stem(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "stem_none", "vgg", "the first conv sees the input: no stem (stem: {type: none})")
    return {}


def vgg_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "mlp", "vgg", "the head is the 3-layer MLP classifier (head: {type: mlp})")
    return {op.path: f"classifier.{MODULES_PER_FC * i}" for i, op in enumerate(unit.ops)}


VGG = Family("vgg", stem=vgg_stem, head=vgg_head)


@register_rule("plain", family=VGG)
def plain(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.options.act == "relu" and unit.stride == 1, "vgg",
            "every conv is a 3x3/1 conv, [BN], ReLU (block: {type: plain, act: relu}); pools downsample")
    first = sum(modules_of(u) for u in plan.body[: plan.body.index(unit)])
    return {op.path: f"features.{first + i}" for i, op in enumerate(unit.ops)}


@register_rule("pool", family=VGG)
def vgg_pool(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.options.pool == Pool("max", 2, 2, 0, False), "vgg",
            "every stage ends in a 2x2/2 max-pool (downsample: {type: pool, kind: max, kernel: 2}, stride: 2)")
    return {}
