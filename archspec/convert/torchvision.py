"""torchvision's naming of the residual family (``torchvision.models.resnet``).

ResNet, ResNeXt and Wide ResNet share one layout: ``conv1``/``bn1`` stem, units at
``layer{stage+1}.{index}`` with the same layer names as ours, the projection shortcut
as ``downsample.0`` (conv) and ``downsample.1`` (BN), and ``fc``.
"""

from __future__ import annotations

from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

RESNET_SHORTCUT = {"shortcut.conv": "downsample.0", "shortcut.bn": "downsample.1"}


def resnet_stem(unit: Unit, plan: Plan) -> LayerNames:
    conv_stride = unit.op("conv").stride if unit.has("conv") else None
    require(unit, unit.options.get("act") == "relu" and unit.options.get("pool") == "max" and conv_stride == 2,
            "resnet", "the stem is a stride-2 conv, BN, ReLU and a 3x3 max-pool (stem: {stride: 2, act: relu, pool: max})")
    return {"conv": "conv1", "bn": "bn1"}


def resnet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, not unit.options.get("pre"), "resnet", "the head is pool and fc only (head.pre: [])")
    return {"fc": "fc"}


RESNET = Family("resnet", stem=resnet_stem, head=resnet_head)


@register_rule("basic", "bottleneck", family=RESNET)
def resnet_unit(unit: Unit, plan: Plan) -> LayerNames:
    if unit.block == "bottleneck":
        require(unit, unit.stride == 1 or unit.options.get("stride_on") == "3x3", "resnet",
                "torchvision's bottleneck strides on the 3x3 conv (ResNet v1.5): set the block's stride_on: 3x3")
    require(unit, unit.shortcut in ("identity", "projection"), "resnet",
            f"the shortcut is the identity or a strided 1x1 conv with BN (shortcut.type: projection), not {unit.shortcut}")
    prefix = f"layer{unit.stage + 1}.{unit.index}"  # type: ignore[operator]
    return {op.path: f"{prefix}.{RESNET_SHORTCUT.get(op.path, op.path)}" for op in unit.ops}
