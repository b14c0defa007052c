"""The tensor flow of the multi-branch and ConvNeXt block kinds (and ConvNeXt's stem and head),
for the memory model: Inception, Inception-v3, ShuffleNetV2, SqueezeNet's fire, ConvNeXt (the
mobile kinds replay their graphs). Same contract as ``dataflow.py``:
one program per kind, in the order of its module's ``forward``, proven against autograd.
"""

from __future__ import annotations

from ..plan.parts import pooled
from ..plan.shufflenet import BRANCH1, BRANCH2
from ..plan.types import Unit
from .dataflow import area, conv_norm_act
from .memory import Flow, register_flow


@register_flow("inception_v3")
def inception_v3(flow: Flow, unit: Unit, x: int) -> int:
    """blocks.inception_v3: per branch the pool, the conv chain, the side-by-side convs and their concat."""
    outputs = []
    for branch in unit.options.branches:  # type: ignore[attr-defined]
        y, channels, size = x, unit.in_channels, unit.in_size
        if branch.pool is not None:
            size = pooled(size, branch.pool)
            y = flow.pool(branch.pool.kind, y, channels * area(size))
        for name in branch.chain:
            y = conv_norm_act(flow, unit, name, "relu", y)
        if branch.split:
            halves = tuple(conv_norm_act(flow, unit, name, "relu", y) for name in branch.split)
            y = flow.merge("cat", halves, sum(flow.elements(h) for h in halves))
        outputs.append(y)
    return flow.merge("cat", tuple(outputs), unit.out_activations)


@register_flow("shuffle")
def shuffle(flow: Flow, unit: Unit, x: int) -> int:
    """blocks.shufflenet.ShuffleUnit. A stride-1 unit's ``chunk`` halves are views of ``x``: the
    first half is concatenated as it is, and branch2's first conv saves its half, which is
    ``x``'s whole storage. A strided unit's branches both read (and save) ``x``."""
    kept = x
    if not unit.options.split:
        for part, act in BRANCH1:
            kept = conv_norm_act(flow, unit, f"branch1.{part}", act, kept)
    out = x
    for part, act in BRANCH2:
        out = conv_norm_act(flow, unit, f"branch2.{part}", act, out)
    return flow.shuffle(flow.merge("cat", (kept, out), unit.out_activations))


@register_flow("convnext")
def convnext(flow: Flow, unit: Unit, x: int) -> int:
    """blocks.convnext.ConvNeXtUnit: [down.norm, down.conv], dwconv, norm, pwconv1, GELU, pwconv2, layer
    scale, stochastic depth, add (the permutes are views)."""
    x = flow.chain(unit, ["down.norm", "down.conv"], x) if unit.has("down.conv") else x
    out = flow.chain(unit, ["dwconv", "norm", "pwconv1"], x)
    out = flow.chain(unit, ["pwconv2", "layer_scale"], flow.act(unit.options.act, out))
    return flow.merge("add", (flow.drop_path(unit.options.drop_path, out), x), unit.out_activations)


@register_flow("stem_patchify")
def stem_patchify(flow: Flow, unit: Unit, x: int) -> int:
    return flow.chain(unit, ["conv", "norm"], x)


@register_flow("norm_classifier")
def norm_classifier(flow: Flow, unit: Unit, x: int) -> int:
    """Pool (a mean: nothing saved), LayerNorm on the 1x1 map, flatten (a view), FC."""
    x = flow.adaptive_pool(x, unit.in_channels, unit.in_size, (1, 1))
    return flow.chain(unit, ["norm", "fc"], x)
