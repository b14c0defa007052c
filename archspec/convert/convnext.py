"""torchvision's naming of ConvNeXt (``torchvision.models.convnext``, tiny to large).

``features.0`` is the stem (``0`` conv, ``1`` LayerNorm2d), ``features.{2s+1}.{i}`` the blocks of
stage ``s`` (``block.0`` dwconv, ``block.2`` LayerNorm, ``block.3`` and ``block.5`` the Linears,
``1``/``4``/``6`` being the permutes and GELU; ``layer_scale`` a bare parameter), and
``features.{2s}`` the downsampling before stage ``s >= 1`` (``0`` LayerNorm2d, ``1`` conv2x2/2),
which archspec's first unit of that stage holds as ``down.norm``/``down.conv``. The head is
``classifier.0`` (LayerNorm2d) and ``classifier.2`` (FC); ``classifier.1`` is the flatten.
"""

from __future__ import annotations

from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

BLOCK = {"dwconv": "block.0", "norm": "block.2", "pwconv1": "block.3", "pwconv2": "block.5", "layer_scale": "layer_scale"}


def convnext_stem(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "stem_patchify", "convnext",
            "the stem is a 4x4/4 patchify conv with LayerNorm (stem: {type: patchify, patch: 4})")
    return {"conv": "features.0.0", "norm": "features.0.1"}


def convnext_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "norm_classifier", "convnext",
            "the head is pool, LayerNorm, FC (head: {type: norm_classifier})")
    return {"norm": "classifier.0", "fc": "classifier.2"}


CONVNEXT = Family("convnext", stem=convnext_stem, head=convnext_head)


@register_rule("convnext", family=CONVNEXT)
def convnext_unit(unit: Unit, plan: Plan) -> LayerNames:
    s = unit.stage
    opens_later_stage = s > 0 and unit.index == 0  # type: ignore[operator]
    require(unit, unit.has("down.conv") == opens_later_stage, "convnext",
            "every stage after the first opens with LayerNorm + conv2x2/2 (stride 2 and a new width), "
            "and no other unit downsamples")
    require(unit, not opens_later_stage or unit.stride == 2, "convnext",
            f"torchvision downsamples by a 2x2/2 conv between stages, not stride {unit.stride}")
    prefix = f"features.{2 * s + 1}.{unit.index}"  # type: ignore[operator]
    names = {path: f"{prefix}.{name}" for path, name in BLOCK.items()}
    if opens_later_stage:
        names.update({"down.norm": f"features.{2 * s}.0", "down.conv": f"features.{2 * s}.1"})  # type: ignore[operator]
    return names
