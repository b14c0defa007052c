"""torchvision's naming of EfficientNet (``torchvision.models.efficientnet``, B0-B7 and V2 S/M/L).

``features.0`` is the stem (``0`` conv, ``1`` BN), ``features.{s+1}.{j}`` the MBConv units,
``features.{stages+1}`` the head's conv-BN and ``classifier.1`` its FC (``classifier.0``
is the dropout). Inside a unit, ``block`` numbers the parts that exist: expand (absent at
expand ratio 1), depthwise, squeeze-excite, project; a conv-BN part stores ``0`` conv,
``1`` BN, the SE stores ``fc1``/``fc2``.

EfficientNetV2 is the same module class with the same names (one family): its Fused-MBConv
units store the fused kxk conv-BN at ``block.0`` and the 1x1 project conv-BN, where there
is one (expand ratio > 1), at ``block.1``.
"""

from __future__ import annotations

from ..plan.heads import ConvClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require
from .torchvision import require_conv_stem

PARTS = ("expand", "dw", "se", "project")  # torchvision's order inside ``block``
CONV_NORM = {"conv": "0", "bn": "1"}  # Conv2dNormActivation's children


def efficientnet_stem(unit: Unit, plan: Plan) -> LayerNames:
    require_conv_stem(unit, "efficientnet", act="silu", pool="none")
    return {"conv": "features.0.0", "bn": "features.0.1"}


def efficientnet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ConvClassifierOptions) and unit.options.act == "silu", "efficientnet",
            "the head is conv1x1-BN-SiLU, pool, dropout, FC (head: {type: conv_classifier, act: silu})")
    last = f"features.{len(plan.stages) + 1}"
    return {"conv": f"{last}.0", "bn": f"{last}.1", "fc": "classifier.1"}


EFFICIENTNET = Family("efficientnet", stem=efficientnet_stem, head=efficientnet_head)


@register_rule("mbconv", family=EFFICIENTNET)
def mbconv(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.options.act == "silu" and unit.options.se_channels > 0, "efficientnet",
            "every MBConv unit uses SiLU and squeeze-excite (block: {type: mbconv, act: silu, se_ratio: 0.25})")
    return numbered_parts(unit, PARTS)


FUSED_PARTS = ("fused", "project")  # torchvision's FusedMBConv ``block``: the kxk conv-BN-SiLU, then the project


@register_rule("fused_mbconv", family=EFFICIENTNET)
def fused_mbconv(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.options.act == "silu", "efficientnet",
            "every Fused-MBConv unit uses SiLU (block: {type: fused_mbconv, act: silu})")
    return numbered_parts(unit, FUSED_PARTS)


def numbered_parts(unit: Unit, parts: tuple[str, ...]) -> LayerNames:
    """``features.{stage+1}.{index}.block.{k}``: torchvision numbers the parts a unit has, in ``parts``'
    order (MBConv's expand is absent at ratio 1); a conv-BN part stores ``0`` conv, ``1`` BN."""
    present = [part for part in parts if any(op.path.startswith(f"{part}.") for op in unit.ops)]
    prefix = f"features.{unit.stage + 1}.{unit.index}.block"  # type: ignore[operator]
    names = {}
    for op in unit.ops:
        part, layer = op.path.split(".", 1)
        names[op.path] = f"{prefix}.{present.index(part)}.{CONV_NORM.get(layer, layer)}"
    return names
