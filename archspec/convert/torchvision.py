"""torchvision's naming of the residual family (``torchvision.models.resnet``).

ResNet, ResNeXt and Wide ResNet share one layout: ``conv1``/``bn1`` stem, units at
``layer{stage+1}.{index}`` with the same layer names as ours, the projection shortcut
as ``downsample.0`` (conv) and ``downsample.1`` (BN), and ``fc``.
"""

from __future__ import annotations

from ..plan.heads import ClassifierOptions
from ..plan.stems import StemOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

RESNET_SHORTCUT = {"shortcut.conv": "downsample.0", "shortcut.bn": "downsample.1"}


def require_conv_stem(unit: Unit, family: str, act: str = "relu", pool: str = "max") -> None:
    """The ImageNet stems of torchvision: one stride-2 conv with BN and ``act``, then ``pool`` (or none)."""
    conv_stride = unit.op("conv").stride if unit.block == "stem_conv" and unit.has("conv") else None
    opts = unit.options
    ok = isinstance(opts, StemOptions) and opts.act == act and opts.pool == pool and conv_stride == 2
    require(unit, ok, family, f"the stem is a stride-2 conv, BN, {act} and "
            + ("a 3x3 max-pool" if pool == "max" else "no pool") + f" (stem: {{stride: 2, act: {act}, pool: {pool}}})")


def resnet_stem(unit: Unit, plan: Plan) -> LayerNames:
    require_conv_stem(unit, "resnet")
    return {"conv": "conv1", "bn": "bn1"}


def resnet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ClassifierOptions) and not unit.options.pre, "resnet",
            "the head is pool and fc only (head.pre: [])")
    return {"fc": "fc"}


RESNET = Family("resnet", stem=resnet_stem, head=resnet_head)


@register_rule("basic", "bottleneck", family=RESNET)
def resnet_unit(unit: Unit, plan: Plan) -> LayerNames:
    if unit.block == "bottleneck":
        require(unit, unit.stride == 1 or unit.options.stride_on == "3x3", "resnet",
                "torchvision's bottleneck strides on the 3x3 conv (ResNet v1.5): set the block's stride_on: 3x3")
    require(unit, unit.shortcut in ("identity", "projection"), "resnet",
            f"the shortcut is the identity or a strided 1x1 conv with BN (shortcut.type: projection), not {unit.shortcut}")
    prefix = f"layer{unit.stage + 1}.{unit.index}"  # type: ignore[operator]
    return {op.path: f"{prefix}.{RESNET_SHORTCUT.get(op.path, op.path)}" for op in unit.ops}
