"""torchvision's naming of AlexNet (``torchvision.models.alexnet``).

The convolutional part is one flat ``features`` Sequential: conv11/4-ReLU-pool and
conv5-ReLU-pool (our layer-list stem), then conv3-ReLU three times (plain units) and the
max-pool that ends their stage. The classifier is ``Dropout, Linear, ReLU`` per hidden layer,
then the last ``Linear``: our hidden ``fc{i}`` is ``classifier.{3 (i - 1) + 1}``, the last FC
``classifier.{3 x hidden layers}``. Padding and strides are not in any tensor's shape, so the
rules check them.
"""

from __future__ import annotations

from typing import Callable

from ..plan.ops import Conv, Norm
from ..plan.options import Pool
from ..plan.heads import MLPOptions
from ..plan.parts import PoolOptions
from ..plan.stems import LayersStemOptions, StemPool
from ..plan.plain import PlainOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require
from .vgg import modules_of

MODULES_PER_FC = 3  # Dropout, Linear, ReLU
STEM = [("conv", 4, 2), ("pool",), ("conv", 1, 2), ("pool",)]  # conv11/4 pad 2, max-pool 3/2, conv5 pad 2, max-pool
MAX_POOL = Pool("max", kernel=3, stride=2, padding=0, ceil=False)


def stem_entries(unit: Unit) -> tuple[list[tuple[str, int]], int]:
    """Each stem layer's conv path ("" for a pool) with its index in a flat ``features``, and how
    many entries the stem takes there: a conv is conv, [BN], [activation]; a pool one entry."""
    entries, index = [], 0
    for layer in stem_layers(unit):
        if isinstance(layer, StemPool):
            entries.append(("", index))
            index += 1
        else:
            entries.append((f"{layer.name}.conv", index))
            index += 1 + unit.has(f"{layer.name}.bn") + (layer.act != "none")
    return entries, index


def stem_layers(unit: Unit) -> tuple:
    """A layer-list stem's layers in forward's order; none for any other stem."""
    return unit.options.layers if isinstance(unit.options, LayersStemOptions) else ()


def features_index(unit: Unit, plan: Plan, entries_of: Callable[[Unit], int] = modules_of) -> int:
    """Where a body unit starts in ``features``: after the stem's entries and the units before it."""
    return stem_entries(plan.stem)[1] + sum(entries_of(u) for u in plan.body[: plan.body.index(unit)])


def _layout(unit: Unit) -> list[tuple]:
    convs = {op.path: op for op in unit.ops if isinstance(op, Conv)}
    entries, _ = stem_entries(unit)
    return [("conv", convs[path].stride, convs[path].pad) if path else ("pool",) for path, _ in entries]


def alexnet_stem(unit: Unit, plan: Plan) -> LayerNames:
    layers = stem_layers(unit)
    ok = (unit.block == "stem_layers" and _layout(unit) == STEM
          and not any(isinstance(op, Norm) for op in unit.ops) and all(op.bias for op in unit.ops)
          and all(layer.act == "relu" for layer in layers if not isinstance(layer, StemPool))
          and all(layer.pool == MAX_POOL for layer in layers if isinstance(layer, StemPool)))
    require(unit, ok, "alexnet", "the stem is conv11/4 (padding 2)-ReLU, max-pool 3/2, conv5 (padding 2)-ReLU, "
            "max-pool 3/2, every conv with a bias and no BN")
    return {path: f"features.{index}" for path, index in stem_entries(unit)[0] if path}


def alexnet_head(unit: Unit, plan: Plan) -> LayerNames:
    ok = isinstance(unit.options, MLPOptions) and unit.options.dropout_first
    require(unit, bool(ok), "alexnet", "the head is the MLP classifier with dropout before each hidden FC "
            "(head: {type: mlp, dropout_at: before_fc})")
    fcs = list(unit.ops)
    names = {op.path: f"classifier.{MODULES_PER_FC * i + 1}" for i, op in enumerate(fcs[:-1])}
    return {**names, fcs[-1].path: f"classifier.{MODULES_PER_FC * (len(fcs) - 1)}"}


ALEXNET = Family("alexnet", stem=alexnet_stem, head=alexnet_head)


@register_rule("plain", family=ALEXNET)
def plain(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, PlainOptions) and unit.options.act == "relu" and unit.stride == 1 and len(unit.ops) == 1, "alexnet",
            "the last three convs are 3x3/1 conv-ReLU without BN (block: {type: plain, norm: none})")
    return {unit.ops[0].path: f"features.{features_index(unit, plan)}"}


@register_rule("pool", family=ALEXNET)
def alexnet_pool(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, PoolOptions) and unit.options.pool == MAX_POOL, "alexnet",
            "the features end in a 3x3/2 max-pool (downsample: {type: pool, kind: max, kernel: 3}, stride: 2)")
    return {}
