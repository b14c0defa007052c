"""Plan rows around the blocks: pool and transition units that end strided stages,
layer-list and empty stems, the VGG / EfficientNet heads and training-only aux heads.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .errors import PlanError
from .ops import Conv, Linear, Norm, Op, Size, pool_out
from .types import Stage, Unit


def pool_options(kind: str, kernel: int, stride: int, padding: int = 0, ceil: bool = False) -> dict[str, Any]:
    """A parameter-free pooling window as plain data (pools own no weights, so they are not ops)."""
    return {"kind": kind, "kernel": kernel, "stride": stride, "padding": padding, "ceil": ceil}


def pooled(size: Size, pool: dict[str, Any]) -> Size:
    return pool_out(size, pool["kernel"], pool["stride"], pool["padding"], pool["ceil"])


def plan_downsample(spec: Any, name: str, stage: int, index: int, channels: int, size: Size, stride: int,
                    path: tuple) -> Unit:
    """The unit that ends a strided stage: a pool (VGG, GoogLeNet) or a DenseNet transition."""
    if spec.type == "pool":
        if spec.padding * 2 > spec.kernel:
            raise PlanError(path + ("padding",), f"padding {spec.padding} exceeds half the kernel {spec.kernel}")
        pool = pool_options(spec.kind, spec.kernel, stride, spec.padding, spec.ceil)
        return Unit(name, stage, index, "pool", channels, channels, size, pooled(size, pool), stride=stride,
                    options={"pool": pool})
    out = math.floor(spec.compression * channels)
    if out < 1:
        raise PlanError(path + ("compression",), f"compression {spec.compression} leaves no channels of {channels}")
    conv = Conv("conv", channels, out, 1, size, padding=0)
    pool = pool_options("avg", stride, stride)
    return Unit(name, stage, index, "transition", channels, out, size, pooled(size, pool), stride=stride,
                ops=(Norm("bn", channels, size), conv), options={"pool": pool, "compression": spec.compression})


def plan_layers_stem(stem: Any, cin: int, size: Size) -> Unit:
    """A stem given as a list: convs named ``conv<i>`` (with ``.conv``/``.bn``), pools ``pool<i>``."""
    ops: list[Op] = []
    layers: list[dict[str, Any]] = []
    c, out, n_conv, n_pool, stride = cin, size, 0, 0, 1
    for layer in stem.layers:
        stride *= layer.stride
        if layer.type == "conv":
            n_conv += 1
            name = f"conv{n_conv}"
            conv = Conv(f"{name}.conv", c, layer.width, layer.kernel, out, stride=layer.stride,
                        bias=layer.norm == "none")
            ops.append(conv)
            if layer.norm == "bn":
                ops.append(Norm(f"{name}.bn", layer.width, conv.out_size, eps=stem.bn_eps))
            layers.append({"name": name, "act": layer.act})
            c, out = layer.width, conv.out_size
        else:
            n_pool += 1
            pool = pool_options(layer.type.removesuffix("_pool"), layer.kernel, layer.stride, layer.padding, layer.ceil)
            layers.append({"name": f"pool{n_pool}", "pool": pool})
            out = pooled(out, pool)
        if min(out) < 1:
            raise PlanError(("stem", "layers", len(layers) - 1), f"the stem leaves a {out[0]}x{out[1]} map")
    return Unit("stem", None, 0, "stem_layers", cin, c, size, out, stride=stride, ops=tuple(ops),
                options={"layers": layers})


def plan_no_stem(cin: int, size: Size) -> Unit:
    return Unit("stem", None, 0, "stem_none", cin, cin, size, size)


def plan_mlp_head(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """VGG: pool to ``pool_size``, then FCs ``fc1``... with the last one giving the classes."""
    widths = [channels * head.pool_size**2, *head.hidden, classes]
    ops = tuple(Linear(f"fc{i + 1}", a, b) for i, (a, b) in enumerate(zip(widths, widths[1:])))
    return Unit("head", None, 0, "mlp", channels, classes, size, (1, 1), inner_channels=widths[0], ops=ops,
                options={"pool_size": head.pool_size, "dropout": head.dropout})


def plan_conv_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """EfficientNet: conv1x1 to ``expansion`` x the width (or the fixed ``width``), BN, act, pool, dropout, FC."""
    width = head.width if head.width is not None else head.expansion * channels
    conv = Conv("conv", channels, width, 1, size, padding=0)
    ops = (conv, Norm("bn", width, size), Linear("fc", width, classes))
    return Unit("head", None, 0, "conv_classifier", channels, classes, size, (1, 1), inner_channels=width, ops=ops,
                options={"act": head.act, "dropout": head.dropout})


def plan_aux_heads(heads: Sequence[Any], stages: Sequence[Stage], classes: int) -> tuple[Unit, ...]:
    """GoogLeNet's auxiliary classifiers, each on the output of the unit it names."""
    units = []
    for i, head in enumerate(heads):
        path = ("body", "aux_heads", i)
        if head.stage >= len(stages):
            raise PlanError(path + ("stage",), f"stage {head.stage} does not exist; the body has {len(stages)} stages")
        body = stages[head.stage].units
        if head.unit >= len(body):
            raise PlanError(path + ("unit",), f"stage {head.stage} has {len(body)} units (0..{len(body) - 1})")
        tap = body[head.unit]
        p = (head.pool_size, head.pool_size)
        ops = (
            Conv("conv.conv", tap.out_channels, head.width, 1, p, padding=0),
            Norm("conv.bn", head.width, p, eps=head.bn_eps),
            Linear("fc1", head.width * head.pool_size**2, head.hidden),
            Linear("fc2", head.hidden, classes),
        )
        units.append(Unit(f"aux.{i}", head.stage, head.unit, "aux_classifier", tap.out_channels, classes,
                          tap.out_size, (1, 1), inner_channels=head.width, ops=ops,
                          options={"after": tap.name, "pool_size": head.pool_size, "dropout": head.dropout}))
    return tuple(units)



def conv_norm(prefix: str, cin: int, cout: int, kernel: int, size: Size, *, stride: int = 1, groups: int = 1,
              norm: bool = True, eps: float | None = None, bias: bool | None = None) -> list[Op]:
    """``<prefix>.conv`` (bias only without BN unless told) and ``<prefix>.bn``; bare names without a prefix."""
    name = f"{prefix}." if prefix else ""
    conv = Conv(f"{name}conv", cin, cout, kernel, size, stride=stride, groups=groups,
                bias=(not norm) if bias is None else bias, padding=(kernel - 1) // 2)
    return [conv, Norm(f"{name}bn", cout, conv.out_size, eps=eps)] if norm else [conv]
