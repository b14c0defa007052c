"""torchvision's naming of RegNet (``torchvision.models.regnet``, RegNetX and RegNetY).

``stem.0``/``stem.1`` are the stem's conv and BN (``SimpleStemIN``); stage ``s`` is
``trunk_output.block{s+1}`` and its unit ``i`` is ``block{s+1}-{i}`` in it; inside a unit,
``f.a``, ``f.b`` and ``f.c`` are the three conv-BN parts (``0`` conv, ``1`` BN), ``f.se`` the
squeeze-excite (``fc1``/``fc2``) and ``proj`` the projection shortcut (``0`` conv, ``1`` BN);
the head's FC is ``fc``.
"""

from __future__ import annotations

from ..plan.heads import ClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require
from .torchvision import require_conv_stem

PARTS = {"conv1": "f.a.0", "bn1": "f.a.1", "conv2": "f.b.0", "bn2": "f.b.1", "se.fc1": "f.se.fc1",
         "se.fc2": "f.se.fc2", "conv3": "f.c.0", "bn3": "f.c.1", "shortcut.conv": "proj.0", "shortcut.bn": "proj.1"}


def regnet_stem(unit: Unit, plan: Plan) -> LayerNames:
    require_conv_stem(unit, "regnet", act="relu", pool="none")
    return {"conv": "stem.0", "bn": "stem.1"}


def regnet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ClassifierOptions) and not unit.options.pre and not unit.options.dropout,
            "regnet", "the head is pool and fc only (head: {type: classifier, pre: [], dropout: 0})")
    return {"fc": "fc"}


REGNET = Family("regnet", stem=regnet_stem, head=regnet_head)


@register_rule("regnet", family=REGNET)
def regnet_unit(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.shortcut in ("identity", "projection"), "regnet",
            f"the shortcut is the identity or a strided 1x1 conv with BN (shortcut.type: projection), not {unit.shortcut}")
    prefix = f"trunk_output.block{unit.stage + 1}.block{unit.stage + 1}-{unit.index}"  # type: ignore[operator]
    return {op.path: f"{prefix}.{PARTS[op.path]}" for op in unit.ops}
