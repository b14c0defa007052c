"""torchvision's naming of SqueezeNet 1.0 and 1.1 (``torchvision.models.squeezenet``).

``features`` is one flat Sequential: the stem's conv-ReLU and max-pool, then one entry
per fire unit (``features.{i}.squeeze``... : our op paths are torchvision's ``Fire``
attributes) and per max-pool. The classifier is ``Dropout, Conv2d, ReLU, pool``: our
head's ``conv`` is ``classifier.1``. Strides, padding and ceil mode are not in any shape,
so the rules check them.
"""

from __future__ import annotations

from ..plan.ops import Conv, Norm
from ..plan.options import Pool
from ..plan.heads import ConvPoolOptions
from ..plan.parts import PoolOptions
from ..plan.stems import StemConv, StemPool
from ..plan.types import Plan, Unit
from .alexnet import features_index, stem_entries, stem_layers
from .rules import Family, LayerNames, register_rule, require

MAX_POOL = Pool("max", kernel=3, stride=2, padding=0, ceil=True)


def squeezenet_stem(unit: Unit, plan: Plan) -> LayerNames:
    entries, _ = stem_entries(unit)
    layers = stem_layers(unit)
    convs = [op for op in unit.ops if isinstance(op, Conv)]
    ok = (unit.block == "stem_layers" and [bool(path) for path, _ in entries] == [True, False]
          and not any(isinstance(op, Norm) for op in unit.ops)
          and all((c.stride, c.pad, c.bias) == (2, 0, True) for c in convs)
          and isinstance(layers[0], StemConv) and layers[0].act == "relu"
          and isinstance(layers[-1], StemPool) and layers[-1].pool == MAX_POOL)
    require(unit, ok, "squeezenet", "the stem is one conv (stride 2, no padding, a bias, no BN)-ReLU, then a "
            "3x3/2 max-pool with ceil: true")
    return {path: f"features.{index}" for path, index in entries if path}


def squeezenet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ConvPoolOptions) and unit.options.act == "relu", "squeezenet",
            "the head is dropout, conv1x1 to the classes, ReLU, global average pool (head: {type: conv_pool})")
    return {"conv": "classifier.1"}


SQUEEZENET = Family("squeezenet", stem=squeezenet_stem, head=squeezenet_head)


def _entries(unit: Unit) -> int:
    return 1  # a Fire module or a max-pool


@register_rule("fire", family=SQUEEZENET)
def fire(unit: Unit, plan: Plan) -> LayerNames:
    index = features_index(unit, plan, _entries)
    return {op.path: f"features.{index}.{op.path}" for op in unit.ops}


@register_rule("pool", family=SQUEEZENET)
def squeezenet_pool(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, PoolOptions) and unit.options.pool == MAX_POOL, "squeezenet",
            "stages end in 3x3/2 max-pools with ceil: true "
            "(downsample: {type: pool, kind: max, kernel: 3, ceil: true})")
    return {}
