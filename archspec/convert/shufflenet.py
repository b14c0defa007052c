"""torchvision's naming of ShuffleNetV2 (``torchvision.models.shufflenetv2``, x0.5 to x2.0).

``conv1`` is the stem (``0`` conv, ``1`` BN), ``stage{2,3,4}.{j}`` the units (``InvertedResidual``),
``conv5`` the head's conv-BN and ``fc`` its FC. Inside a unit, ``branch1`` (strided units only)
is ``0`` depthwise conv, ``1`` BN, ``2`` conv1x1, ``3`` BN (``4``, ReLU, holds nothing) and
``branch2`` is ``0`` conv1x1, ``1`` BN, ``3`` depthwise conv, ``4`` BN, ``5`` conv1x1, ``6`` BN
(``2`` and ``7`` are its ReLUs).
"""

from __future__ import annotations

from ..plan.heads import ConvClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require
from .torchvision import require_conv_stem

STAGES = 3  # torchvision's stage2, stage3, stage4
FIRST_STAGE = 2
LAYERS = {
    "branch1.dw.conv": "branch1.0", "branch1.dw.bn": "branch1.1",
    "branch1.pw.conv": "branch1.2", "branch1.pw.bn": "branch1.3",
    "branch2.pw1.conv": "branch2.0", "branch2.pw1.bn": "branch2.1",
    "branch2.dw.conv": "branch2.3", "branch2.dw.bn": "branch2.4",
    "branch2.pw2.conv": "branch2.5", "branch2.pw2.bn": "branch2.6",
}


def shufflenet_stem(unit: Unit, plan: Plan) -> LayerNames:
    require_conv_stem(unit, "shufflenet_v2")
    return {"conv": "conv1.0", "bn": "conv1.1"}


def shufflenet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ConvClassifierOptions) and unit.options.act == "relu", "shufflenet_v2",
            "the head is conv5 (conv1x1-BN-ReLU), a global mean and fc (head: {type: conv_classifier, act: relu})")
    return {"conv": "conv5.0", "bn": "conv5.1", "fc": "fc"}


SHUFFLENET = Family("shufflenet_v2", stem=shufflenet_stem, head=shufflenet_head)


@register_rule("shuffle", family=SHUFFLENET)
def shuffle(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, len(plan.stages) == STAGES, "shufflenet_v2",
            f"the body has {STAGES} stages (torchvision's stage2 to stage4), not {len(plan.stages)}")
    require(unit, unit.options.split == (unit.index > 0), "shufflenet_v2",
            "each stage's first unit is strided (two branches) and the others split their input: give every stage stride 2")
    prefix = f"stage{unit.stage + FIRST_STAGE}.{unit.index}"  # type: ignore[operator]
    return {op.path: f"{prefix}.{LAYERS[op.path]}" for op in unit.ops}
