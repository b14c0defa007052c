"""torchvision's naming of MNASNet (``torchvision.models.mnasnet``, 0.5 to 1.3).

torchvision keeps the whole network in one ``layers`` Sequential: ``0``/``1`` the stem's
conv and BN (``2`` its ReLU), ``3``/``4`` the depthwise conv and BN and ``6``/``7`` the
conv1x1 and BN of the depthwise-separable layer that is our first stage (an MBConv unit
without expansion), ``8`` to ``13`` the six stacks of inverted residuals (``layers.{7+s}.{j}``,
each unit a ``layers`` Sequential of conv-BN-ReLU, depthwise conv-BN-ReLU, conv-BN at
``0 1 - 3 4 - 6 7``), then the head's conv1x1 and BN; ``classifier.1`` is the FC
(``classifier.0`` the dropout).

MobileNetV2 and EfficientNet stack ``mbconv`` units too; these rules refuse their layouts:
MNASNet's units use ReLU (not ReLU6 or SiLU) and no squeeze-excite, and only its first
stage is a single unit without expansion.
"""

from __future__ import annotations

from ..plan.heads import ConvClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require
from .torchvision import require_conv_stem

SEPARABLE = {"dw.conv": "layers.3", "dw.bn": "layers.4", "project.conv": "layers.6", "project.bn": "layers.7"}
INVERTED = {"expand.conv": "0", "expand.bn": "1", "dw.conv": "3", "dw.bn": "4", "project.conv": "6", "project.bn": "7"}
FIRST_STACK = 8  # ``layers`` index of the first stack (our stage 1)


def mnasnet_stem(unit: Unit, plan: Plan) -> LayerNames:
    require_conv_stem(unit, "mnasnet", act="relu", pool="none")
    return {"conv": "layers.0", "bn": "layers.1"}


def mnasnet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ConvClassifierOptions) and unit.options.act == "relu", "mnasnet",
            "the head is conv1x1-BN-ReLU, pool, dropout, FC (head: {type: conv_classifier, act: relu})")
    last = FIRST_STACK + len(plan.stages) - 1
    return {"conv": f"layers.{last}", "bn": f"layers.{last + 1}", "fc": "classifier.1"}


MNASNET = Family("mnasnet", stem=mnasnet_stem, head=mnasnet_head)


@register_rule("mbconv", family=MNASNET)
def mbconv(unit: Unit, plan: Plan) -> LayerNames:
    options = unit.options
    require(unit, options.act == "relu" and options.se_channels == 0, "mnasnet",
            "every unit uses ReLU and no squeeze-excite (block: {type: mbconv, act: relu, se_ratio: 0.0})")
    separable = unit.stage == 0
    if separable:
        require(unit, options.expand == 1 and len(plan.stages[0].units) == 1 and unit.stride == 1, "mnasnet",
                "the first stage is one depthwise-separable unit: stride 1, no expansion (block: {expand: 1})")
        return SEPARABLE
    require(unit, options.expand > 1, "mnasnet",
            "after the first stage every unit expands (torchvision's _InvertedResidual always has its conv1x1)")
    prefix = f"layers.{FIRST_STACK + unit.stage - 1}.{unit.index}.layers"  # type: ignore[operator]
    return {op.path: f"{prefix}.{INVERTED[op.path]}" for op in unit.ops}
