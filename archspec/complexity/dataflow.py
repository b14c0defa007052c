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
from ..plan.parts import pooled
from ..plan.stems import StemPool
from ..plan.types import Unit
from .memory import Flow, register_flow


def area(size: Size) -> int:
    return size[0] * size[1]


def conv_norm_act(flow: Flow, unit: Unit, prefix: str, act: str, x: int) -> int:
    """``<prefix>.conv``, ``<prefix>.bn`` where the unit has one, the activation (blocks.parts.ConvNormAct)."""
    name = f"{prefix}." if prefix else ""
    paths = [f"{name}conv"] + ([f"{name}bn"] if unit.has(f"{name}bn") else [])
    return flow.act(act, flow.chain(unit, paths, x))


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


@register_flow("dense")
def dense(flow: Flow, unit: Unit, x: int) -> int:
    plan = ["bn1", "relu", "conv1"] + (["bn2", "relu", "conv2"] if unit.has("conv2") else []) + ["dropout"]
    new = steps(flow, unit, x, plan)
    return flow.merge("cat", (x, new), unit.out_activations)


@register_flow("plain")
def plain(flow: Flow, unit: Unit, x: int) -> int:
    return conv_norm_act(flow, unit, "", unit.options.act, x)


@register_flow("pool")
def pool_unit(flow: Flow, unit: Unit, x: int) -> int:
    return flow.pool(unit.options.pool.kind, x, unit.out_activations)


@register_flow("transition")
def transition(flow: Flow, unit: Unit, x: int) -> int:
    out = steps(flow, unit, x, ["bn", "relu", "conv"])
    return flow.pool("avg", out, unit.out_activations)


@register_flow("stem_none")
def stem_none(flow: Flow, unit: Unit, x: int) -> int:
    return x


@register_flow("stem_conv", "stem_deep")
def stem(flow: Flow, unit: Unit, x: int) -> int:
    """blocks.network.Stem: each conv, its BN, the activation after each BN (or once at the end), max-pool."""
    act = unit.options.act
    for op in unit.ops:
        x = flow.layer(op, x)
        if op.path.startswith("bn"):
            x = flow.act(act, x)
    if not any(op.path.startswith("bn") for op in unit.ops):
        x = flow.act(act, x)
    return flow.pool("max", x, unit.out_activations) if unit.options.pool == "max" else x


@register_flow("stem_layers")
def stem_layers(flow: Flow, unit: Unit, x: int) -> int:
    channels, size = unit.in_channels, unit.in_size
    for layer in unit.options.layers:
        if isinstance(layer, StemPool):
            size = pooled(size, layer.pool)
            x = flow.pool(layer.pool.kind, x, channels * area(size))
        else:
            conv = unit.op(f"{layer.name}.conv")
            channels, size = conv.cout, conv.out_size
            x = conv_norm_act(flow, unit, layer.name, layer.act, x)
    return x


@register_flow("classifier")
def classifier(flow: Flow, unit: Unit, x: int) -> int:
    x = flow.layer(unit.op("bn"), x) if unit.has("bn") else x
    x = flow.act("relu", x) if "relu" in unit.options.pre else x
    x = flow.adaptive_pool(x, unit.in_channels, unit.in_size, (1, 1))
    return flow.layer(unit.op("fc"), flow.dropout(unit.options.dropout, x))


@register_flow("mlp")
def mlp(flow: Flow, unit: Unit, x: int) -> int:
    """Adaptive pool to ``pool_size`` (a mean when 1), then per hidden layer FC-ReLU-dropout
    (or dropout-FC-ReLU, ``dropout_first``), then the last FC."""
    size, rate, first = unit.options.pool_size, unit.options.dropout, unit.options.dropout_first
    x = flow.adaptive_pool(x, unit.in_channels, unit.in_size, (size, size))
    fcs = list(unit.ops)
    for fc in fcs[:-1]:
        x = flow.dropout(rate, x) if first else x
        x = flow.act("relu", flow.layer(fc, x))
        x = x if first else flow.dropout(rate, x)
    return flow.layer(fcs[-1], x)


@register_flow("conv_classifier")
def conv_classifier(flow: Flow, unit: Unit, x: int) -> int:
    x = flow.act(unit.options.act, flow.chain(unit, ["conv", "bn"], x))
    x = flow.adaptive_pool(x, unit.op("bn").channels, unit.in_size, (1, 1))
    return flow.layer(unit.op("fc"), flow.dropout(unit.options.dropout, x))


@register_flow("conv_pool")
def conv_pool(flow: Flow, unit: Unit, x: int) -> int:
    """Dropout, the conv, its activation, a global average pool (a mean: nothing saved)."""
    conv = unit.op("conv")
    x = flow.act(unit.options.act, flow.layer(conv, flow.dropout(unit.options.dropout, x)))
    return flow.adaptive_pool(x, conv.cout, conv.out_size, (1, 1))

