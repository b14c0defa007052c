"""torchvision's naming of Inception-v3 (``torchvision.models.inception_v3``).

The stem convs are ``Conv2d_1a_3x3`` ... ``Conv2d_4a_3x3`` and the modules ``Mixed_5b`` ...
``Mixed_7c`` (stage ``s``, unit ``j``: ``Mixed_{s+5}`` and the letter ``j``, from ``b`` in the
first stage, whose ``Mixed_5a`` torchvision never had). Inside a module the op paths are
torchvision's own (``branch7x7dbl_3.conv``). The pools have no weights. A checkpoint with
the training-only ``AuxLogits`` head converts with it dropped, as GoogLeNet's aux heads are.

Not in any tensor: pretrained Inception-v3 sets ``transform_input=True`` (see
convert/googlenet.py and docs/weights.md: the spec normalises with mean and std 0.5).
"""

from __future__ import annotations

import string

from ..plan.ops import Conv, Norm
from ..plan.options import Pool
from ..plan.stems import LayersStemOptions, StemConv, StemPool
from ..plan.heads import ClassifierOptions
from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

BN_EPS = 1e-3  # torchvision's BasicConv2d
STEM_NAMES = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
# (kernel, stride, padding) of each stem conv; a max-pool 3x3/2 after the third and the fifth
STEM_CONVS = [(3, 2, 0), (3, 1, 0), (3, 1, 1), (1, 1, 0), (3, 1, 0)]
STEM = ["conv", "conv", "conv", "pool", "conv", "conv", "pool"]
MAX_POOL = Pool("max", kernel=3, stride=2, padding=0, ceil=False)
FIRST_LETTER = (1, 0, 0)  # Mixed_5b, Mixed_6a, Mixed_7a


def _require_eps(unit: Unit) -> None:
    eps = {op.eps for op in unit.ops if isinstance(op, Norm)}
    require(unit, eps <= {BN_EPS}, "inception_v3", f"every BN has eps {BN_EPS} (batchnorm: {{eps: {BN_EPS}}}), "
            f"not {sorted(eps)}")


def inception_v3_stem(unit: Unit, plan: Plan) -> LayerNames:
    layers = unit.options.layers if isinstance(unit.options, LayersStemOptions) else ()
    kinds = ["pool" if isinstance(layer, StemPool) else "conv" for layer in layers]
    convs = [op for op in unit.ops if isinstance(op, Conv)]
    ok = (unit.block == "stem_layers" and kinds == STEM and len(unit.ops) == 2 * len(convs)
          and all(layer.act == "relu" for layer in layers if isinstance(layer, StemConv))
          and [(c.kernel, c.stride, c.pad) for c in convs] == STEM_CONVS
          and all(layer.pool == MAX_POOL for layer in layers if isinstance(layer, StemPool)))
    require(unit, ok, "inception_v3", "the stem is conv3x3/2, conv3x3, conv3x3 (padding 1), max-pool 3x3/2, "
            "conv1x1, conv3x3, max-pool 3x3/2, every conv unpadded unless said, with BN and ReLU")
    _require_eps(unit)
    names = {}
    for op in unit.ops:  # conv<i>.conv / conv<i>.bn
        layer, part = op.path.split(".", 1)
        names[op.path] = f"{STEM_NAMES[int(layer.removeprefix('conv')) - 1]}.{part}"
    return names


def inception_v3_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, isinstance(unit.options, ClassifierOptions) and not unit.options.pre, "inception_v3",
            "the head is pool, dropout and fc (head: {type: classifier, pre: []})")
    return {"fc": "fc"}


INCEPTION_V3 = Family("inception_v3", stem=inception_v3_stem, head=inception_v3_head, ignore=("AuxLogits.",))


@register_rule("inception_v3", family=INCEPTION_V3)
def mixed(unit: Unit, plan: Plan) -> LayerNames:
    _require_eps(unit)
    stage: int = unit.stage  # type: ignore[assignment]
    first = FIRST_LETTER[stage] if stage < len(FIRST_LETTER) else 0
    prefix = f"Mixed_{stage + 5}{string.ascii_lowercase[first + unit.index]}"
    return {op.path: f"{prefix}.{op.path}" for op in unit.ops}
