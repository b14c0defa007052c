"""torchvision's naming of GoogLeNet (``torchvision.models.googlenet``).

The stem convs are ``conv1``-``conv3`` and the modules ``inception3a``-``inception5b``
(stage ``s``, unit ``j``: ``inception{s+3}{a,b,...}``), each with our own op paths
(``branch2.1.conv``...). The pools have no weights. A checkpoint with the training-only
``aux1``/``aux2`` heads converts with them dropped.

Not in any tensor: pretrained GoogLeNet sets ``transform_input=True``, which maps
ImageNet-normalised input to the ``(x - 0.5) / 0.5`` scale of the original weights inside
``forward``. The compiled network has no such step; see docs/weights.md.
"""

from __future__ import annotations

import string

from ..plan.ops import Norm
from ..plan.options import Pool
from ..plan.stems import LayersStemOptions, StemConv, StemPool
from ..plan.heads import ClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

BN_EPS = 1e-3  # torchvision's BasicConv2d
STEM = ["conv", "pool", "conv", "conv", "pool"]  # conv7/2, max-pool 3/2, conv1x1, conv3x3, max-pool 3/2
STAGE_POOL_KERNELS = (3, 2)  # maxpool3 (3x3/2) after inception3b, maxpool4 (2x2/2) after inception4e


def _max_pool(pool: Pool, kernel: int) -> bool:
    return pool == Pool("max", kernel, 2, 0, True)


def _require_eps(unit: Unit) -> None:
    eps = {op.eps for op in unit.ops if isinstance(op, Norm)}
    require(unit, eps <= {BN_EPS}, "googlenet", f"every BN has eps {BN_EPS} (bn_eps: {BN_EPS}), not {sorted(eps)}")


def googlenet_stem(unit: Unit, plan: Plan) -> LayerNames:
    layers = unit.options.layers if isinstance(unit.options, LayersStemOptions) else ()
    kinds = ["pool" if isinstance(layer, StemPool) else "conv" for layer in layers]
    convs = [op for op in unit.ops if not isinstance(op, Norm)]
    pools = [layer.pool for layer in layers if isinstance(layer, StemPool)]
    acts = [layer.act for layer in layers if isinstance(layer, StemConv)]
    ok = (unit.block == "stem_layers" and kinds == STEM and all(act == "relu" for act in acts)
          and [(c.stride, c.pad) for c in convs] == [(2, 3), (1, 0), (1, 1)]
          and all(_max_pool(p, 3) for p in pools))
    require(unit, ok, "googlenet", "the stem is conv7/2, max-pool 3/2 (ceil), conv1x1, conv3x3, max-pool 3/2 (ceil), "
            "every conv with BN and ReLU and padded to keep the size (no stem `padding`)")
    _require_eps(unit)
    return {op.path: op.path for op in unit.ops}


def googlenet_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ClassifierOptions) and not unit.options.pre, "googlenet",
            "the head is pool, dropout and fc (head: {type: classifier, pre: []})")
    return {"fc": "fc"}


GOOGLENET = Family("googlenet", stem=googlenet_stem, head=googlenet_head, ignore=("aux1.", "aux2."))


@register_rule("inception", family=GOOGLENET)
def inception(unit: Unit, plan: Plan) -> LayerNames:
    _require_eps(unit)
    prefix = f"inception{unit.stage + 3}{string.ascii_lowercase[unit.index]}"  # type: ignore[operator]
    return {op.path: f"{prefix}.{op.path}" for op in unit.ops}


@register_rule("pool", family=GOOGLENET)
def googlenet_pool(unit: Unit, plan: Plan) -> LayerNames:
    kernel = STAGE_POOL_KERNELS[unit.stage] if unit.stage < len(STAGE_POOL_KERNELS) else None  # type: ignore[operator]
    require(unit, kernel is not None and _max_pool(unit.options.pool, kernel), "googlenet",
            "stages 0 and 1 end in max-pools 3x3/2 and 2x2/2 with ceil: true; stage 2 does not downsample")
    return {}
