"""torchvision's naming of MobileNetV2 and MobileNetV3 (``models/mobilenetv2.py``, ``mobilenetv3.py``).

Both keep one flat ``features`` list: ``features.0`` the stem (``0`` conv, ``1`` BN), then
one entry per body unit in network order (not per stage, as EfficientNet groups them), then
the last conv-BN. Inside a unit the parts that exist are numbered in order:

- V2 (``InvertedResidual.conv``): expand and depthwise are Conv2dNormActivation (``0`` conv,
  ``1`` BN); the projection is a bare conv and BN, so they take a number each.
- V3 (``InvertedResidual.block``): expand, depthwise, SE (``fc1``/``fc2``), project, each
  conv-BN part a Conv2dNormActivation. Its classifier is ``0`` FC, ``3`` FC.

MobileNetV2's units are ``mbconv`` like EfficientNet's: the rules refuse each other's
layouts (ReLU6 and no SE here; SiLU with SE there), so ``family_of`` picks one.
"""

from __future__ import annotations

from ..plan.heads import ConvClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require
from .torchvision import require_conv_stem

CONV_NORM = {"conv": "0", "bn": "1"}  # Conv2dNormActivation's children


def features_index(unit: Unit, plan: Plan) -> int:
    """The unit's place in torchvision's flat ``features`` list (the stem is 0)."""
    return 1 + [u.name for u in plan.body].index(unit.name)


def _numbered(unit: Unit, prefix: str, parts: tuple[str, ...], split: frozenset[str] = frozenset()) -> LayerNames:
    """Each present part numbered in order; a part in ``split`` numbers its conv and BN separately."""
    names: dict[str, str] = {}
    i = 0
    for part in parts:
        ops = [op for op in unit.ops if op.path.startswith(f"{part}.")]
        for op in ops:
            layer = op.path.split(".", 1)[1]
            if part in split:
                names[op.path] = f"{prefix}.{i}"
                i += 1
            else:
                names[op.path] = f"{prefix}.{i}.{CONV_NORM.get(layer, layer)}"
        if ops and part not in split:
            i += 1
    return names


def _stem(family: str, act: str):
    def stem(unit: Unit, plan: Plan) -> LayerNames:
        require_conv_stem(unit, family, act=act, pool="none")
        return {"conv": "features.0.0", "bn": "features.0.1"}

    return stem


def mobilenet_v2_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ConvClassifierOptions) and unit.options.act == "relu6", "mobilenet_v2",
            "the head is conv1x1-BN-ReLU6, pool, dropout, FC (head: {type: conv_classifier, act: relu6})")
    last = f"features.{len(plan.body) + 1}"
    return {"conv": f"{last}.0", "bn": f"{last}.1", "fc": "classifier.1"}


def mobilenet_v3_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "conv_mlp" and unit.options.act == "hardswish", "mobilenet_v3",
            "the head is conv1x1-BN-Hardswish, pool, FC-Hardswish, dropout, FC (head: {type: conv_mlp, act: hardswish})")
    last = f"features.{len(plan.body) + 1}"
    return {"conv": f"{last}.0", "bn": f"{last}.1", "fc1": "classifier.0", "fc2": "classifier.3"}


MOBILENET_V2 = Family("mobilenet_v2", stem=_stem("mobilenet_v2", "relu6"), head=mobilenet_v2_head)
MOBILENET_V3 = Family("mobilenet_v3", stem=_stem("mobilenet_v3", "hardswish"), head=mobilenet_v3_head)


@register_rule("mbconv", family=MOBILENET_V2)
def mobilenet_v2_unit(unit: Unit, plan: Plan) -> LayerNames:
    # an existing (dict-options) unit kind: read in its current style until its options are typed
    require(unit, unit.options.act == "relu6" and unit.options.se_channels == 0, "mobilenet_v2",
            "every inverted residual uses ReLU6 and no squeeze-excite (block: {type: mbconv, act: relu6, se_ratio: 0})")
    prefix = f"features.{features_index(unit, plan)}.conv"
    return _numbered(unit, prefix, ("expand", "dw", "project"), split=frozenset({"project"}))


@register_rule("bneck", family=MOBILENET_V3)
def mobilenet_v3_unit(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.options.se_gate == "hardsigmoid" or not unit.options.se_channels, "mobilenet_v3",
            "the squeeze-excite gate is hardsigmoid (block: {type: bneck, se_gate: hardsigmoid})")
    prefix = f"features.{features_index(unit, plan)}.block"
    return _numbered(unit, prefix, ("expand", "dw", "se", "project"))
