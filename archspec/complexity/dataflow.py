"""The tensor flow of each block kind, for the memory model (``memory.py``).

One program per block kind, in the order of its module's ``forward``
(``archspec/blocks``): weighted layers come from the unit's records by path, so shapes are
the Plan's; the program adds only what the records cannot say (where the activations,
pools, merges and dropouts sit). What each step saves is decided in ``memory.py``.
A new block kind needs one program here or in ``dataflow_families.py`` (the multi-branch,
mobile and ConvNeXt kinds); ``report --verify`` and the test suite prove it against autograd.
"""

from __future__ import annotations

from ..plan.ops import Size
from ..plan.shortcuts import pooled as strided
from ..plan.types import Unit
from .memory import Flow, register_flow


def area(size: Size) -> int:
    return size[0] * size[1]


def conv_norm_act(flow: Flow, unit: Unit, prefix: str, act: str, x: int) -> int:
    """``<prefix>.conv``, ``<prefix>.bn`` where the unit has one, the activation (blocks.parts.ConvNormAct)."""
    name = f"{prefix}." if prefix else ""
    paths = [f"{name}conv"] + ([f"{name}bn"] if unit.has(f"{name}bn") else [])
    return flow.act(act, flow.chain(unit, paths, x))


def squeeze_excite(flow: Flow, unit: Unit, act: str, x: int) -> int:
    """Mean, fc1, act, fc2, sigmoid, rescale (blocks.residual.SqueezeExcite)."""
    fc1 = unit.op("se.fc1")
    scale = flow.layer(fc1, flow.mean(x, fc1.cin))
    scale = flow.sigmoid(flow.layer(unit.op("se.fc2"), flow.act(act, scale)))
    return flow.mul(x, scale)


def shortcut(flow: Flow, unit: Unit, x: int) -> int:
    """blocks.shortcuts: identity, zero-padded (after a slice or a 2x2 average pool), projections."""
    kind, stride = unit.shortcut, unit.stride
    if kind == "identity":
        return x
    if kind in ("zero_pad", "avgpool_zero_pad"):
        if kind == "avgpool_zero_pad" and stride > 1:
            x = flow.pool("avg", x, unit.in_channels * area(strided(unit.in_size, stride)))
        return flow.reshape(x, unit.out_activations)  # a strided slice is a view of x
    if kind == "avgpool_projection" and stride > 1:
        x = flow.pool("avg", x, unit.in_channels * area(strided(unit.in_size, stride)))
    paths = ["shortcut.conv"] + (["shortcut.bn"] if unit.has("shortcut.bn") else [])
    return flow.chain(unit, paths, x)


def steps(flow: Flow, unit: Unit, x: int, plan: list[str]) -> int:
    """Layers by path, ``relu`` and ``dropout`` in between: a residual branch as its forward reads."""
    for item in plan:
        if item == "relu":
            x = flow.act("relu", x)
        elif item == "dropout":
            x = flow.dropout(unit.options.dropout, x)
        else:
            x = flow.layer(unit.op(item), x)
    return x


@register_flow("regnet")
def regnet(flow: Flow, unit: Unit, x: int) -> int:
    """blocks.regnet.RegNetUnit: the SE on the inner width, before the last 1x1."""
    out = steps(flow, unit, x, ["conv1", "bn1", "relu", "conv2", "bn2", "relu"])
    out = squeeze_excite(flow, unit, "relu", out) if unit.options.se else out  # type: ignore[attr-defined]
    out = steps(flow, unit, out, ["conv3", "bn3"])
    out = flow.merge("add", (out, shortcut(flow, unit, x)), unit.out_activations)
    return flow.act("relu", out)
