"""torchvision's naming of DenseNet (``torchvision.models.densenet``).

Everything sits under ``features``: ``conv0``/``norm0`` stem, ``denseblock{s+1}.denselayer{j+1}``
with ``norm1, conv1, norm2, conv2``, ``transition{s+1}`` with ``norm, conv`` after every
block but the last, and the final BN ``norm5`` before ``classifier``. Our layers are
named ``bn*`` where torchvision's are ``norm*``; the numbering is the same.

The files torchvision downloads for DenseNet predate that naming (``denselayer1.norm.1``
for ``denselayer1.norm1``); torchvision renames them on load, and so do we.
"""

from __future__ import annotations

import re

from ..plan.heads import ClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require
from .torchvision import require_conv_stem


def _norm_named(path: str) -> str:
    return path.replace("bn", "norm")


LEGACY_LAYER = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$")


def modern_name(name: str) -> str:
    """``...denselayer3.conv.2.weight`` -> ``...denselayer3.conv2.weight`` (torchvision's own rule)."""
    match = LEGACY_LAYER.match(name)
    return match[1] + match[2] if match else name


def densenet_stem(unit: Unit, plan: Plan) -> LayerNames:
    require_conv_stem(unit, "densenet")
    return {"conv": "features.conv0", "bn": "features.norm0"}


def densenet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ClassifierOptions) and unit.options.pre == ("bn", "relu"), "densenet",
            "the head is BN (norm5), ReLU, pool and FC (head: {type: classifier, pre: [bn, relu]})")
    return {"bn": "features.norm5", "fc": "classifier"}


DENSENET = Family("densenet", stem=densenet_stem, head=densenet_head, rename=modern_name)


@register_rule("dense", family=DENSENET)
def dense_layer(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.has("conv2"), "densenet", "every dense layer has the 1x1 bottleneck (block.bottleneck: 4)")
    prefix = f"features.denseblock{unit.stage + 1}.denselayer{unit.index + 1}"  # type: ignore[operator]
    return {op.path: f"{prefix}.{_norm_named(op.path)}" for op in unit.ops}


@register_rule("transition", family=DENSENET)
def transition(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.stride == 2, "densenet", "a transition halves the size with a 2x2 average pool (stage stride: 2)")
    return {op.path: f"features.transition{unit.stage + 1}.{_norm_named(op.path)}" for op in unit.ops}  # type: ignore[operator]
