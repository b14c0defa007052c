"""Plan rows around the blocks: pool and transition units that end strided stages,
layer-list and empty stems, the VGG / AlexNet, EfficientNet and SqueezeNet heads and
training-only aux heads, and the typed options of each of these kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..spec.families import Activation
from .errors import PlanError
from .ops import Conv, Linear, Norm, Op, Size, Window, pool_out
from .options import Pool, register_options
from .types import Stage, Unit, UnitOptions


@register_options("pool")
@dataclass(frozen=True)
class PoolOptions(UnitOptions):
    pool: Pool


@register_options("transition")
@dataclass(frozen=True)
class TransitionOptions(UnitOptions):
    pool: Pool  # the average pool after the 1x1 conv
    compression: float  # the 1x1 conv keeps floor(compression x channels)


@dataclass(frozen=True)
class StemConv:
    """A conv of a layer-list stem: ``<name>.conv``, ``<name>.bn`` where the Plan has one, ``act``."""

    name: str
    act: Activation


@dataclass(frozen=True)
class StemPool:
    name: str
    pool: Pool


@register_options("stem_layers")
@dataclass(frozen=True)
class LayersStemOptions(UnitOptions):
    layers: tuple[StemConv | StemPool, ...]  # in forward's order


@register_options("mlp")
@dataclass(frozen=True)
class MLPOptions(UnitOptions):
    pool_size: int  # the adaptive average pool's output side
    dropout: float  # after each hidden FC-ReLU, or before each FC with ``dropout_first``
    dropout_first: bool  # AlexNet's dropout-FC-ReLU order (VGG: FC-ReLU-dropout)


@register_options("conv_classifier")
@dataclass(frozen=True)
class ConvClassifierOptions(UnitOptions):
    act: Activation  # after the conv1x1-BN
    dropout: float  # before the FC


@register_options("aux_classifier")
@dataclass(frozen=True)
class AuxOptions(UnitOptions):
    after: str  # the body unit whose output it classifies
    pool_size: int  # the adaptive average pool's output side
    dropout: float  # between its FCs


def pooled(size: Size, pool: Pool) -> Size:
    return pool_out(size, pool.kernel, pool.stride, pool.padding, pool.ceil)


def plan_downsample(spec: Any, name: str, stage: int, index: int, channels: int, size: Size, stride: int,
                    path: tuple) -> Unit:
    """The unit that ends a strided stage: a pool (VGG, GoogLeNet) or a DenseNet transition."""
    if spec.type == "pool":
        if spec.padding * 2 > spec.kernel:
            raise PlanError(path + ("padding",), f"padding {spec.padding} exceeds half the kernel {spec.kernel}")
        pool = Pool(spec.kind, spec.kernel, stride, spec.padding, spec.ceil)
        return Unit(name, stage, index, "pool", channels, channels, size, pooled(size, pool), stride=stride,
                    options=PoolOptions(pool))
    out = math.floor(spec.compression * channels)
    if out < 1:
        raise PlanError(path + ("compression",), f"compression {spec.compression} leaves no channels of {channels}")
    conv = Conv("conv", channels, out, 1, size, padding=0)
    pool = Pool("avg", stride, stride, 0, False)
    return Unit(name, stage, index, "transition", channels, out, size, pooled(size, pool), stride=stride,
                ops=(Norm("bn", channels, size), conv), options=TransitionOptions(pool, spec.compression))


def plan_layers_stem(stem: Any, cin: int, size: Size) -> Unit:
    """A stem given as a list: convs named ``conv<i>`` (with ``.conv``/``.bn``), pools ``pool<i>``."""
    ops: list[Op] = []
    layers: list[StemConv | StemPool] = []
    c, out, n_conv, n_pool, stride = cin, size, 0, 0, 1
    for layer in stem.layers:
        stride *= layer.stride
        if layer.type == "conv":
            n_conv += 1
            name = f"conv{n_conv}"
            bias = layer.norm == "none" if layer.bias is None else layer.bias
            conv = Conv(f"{name}.conv", c, layer.width, layer.kernel, out, stride=layer.stride, bias=bias,
                        padding=layer.padding)
            ops.append(conv)
            if layer.norm == "bn":
                ops.append(Norm(f"{name}.bn", layer.width, conv.out_size, eps=stem.bn_eps))
            layers.append(StemConv(name, layer.act))
            c, out = layer.width, conv.out_size
        else:
            n_pool += 1
            kind = "max" if layer.type == "max_pool" else "avg"
            pool = Pool(kind, layer.kernel, layer.stride, layer.padding, layer.ceil)
            layers.append(StemPool(f"pool{n_pool}", pool))
            out = pooled(out, pool)
        if min(out) < 1:
            raise PlanError(("stem", "layers", len(layers) - 1), f"the stem leaves a {out[0]}x{out[1]} map")
    return Unit("stem", None, 0, "stem_layers", cin, c, size, out, stride=stride, ops=tuple(ops),
                options=LayersStemOptions(tuple(layers)))


def plan_no_stem(cin: int, size: Size) -> Unit:
    return Unit("stem", None, 0, "stem_none", cin, cin, size, size)


def plan_mlp_head(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """VGG, AlexNet: pool to ``pool_size``, then FCs ``fc1``... with the last one giving the classes.

    ``dropout_first`` (AlexNet) puts each hidden layer's dropout before its FC, not after its ReLU.
    """
    widths = [channels * head.pool_size**2, *head.hidden, classes]
    ops = tuple(Linear(f"fc{i + 1}", a, b) for i, (a, b) in enumerate(zip(widths, widths[1:])))
    return Unit("head", None, 0, "mlp", channels, classes, size, (1, 1), inner_channels=widths[0], ops=ops,
                options=MLPOptions(pool_size=head.pool_size, dropout=head.dropout,
                                   dropout_first=head.dropout_first))


def plan_conv_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """EfficientNet: conv1x1 to ``expansion`` x the width (ShuffleNetV2, MNASNet, EfficientNetV2: to ``width``), BN,
    act, pool, dropout, FC."""
    width = head.width if head.width is not None else head.expansion * channels  # the spec gives exactly one
    conv = Conv("conv", channels, width, 1, size, padding=0)
    ops = (conv, Norm("bn", width, size), Linear("fc", width, classes))
    return Unit("head", None, 0, "conv_classifier", channels, classes, size, (1, 1), inner_channels=width, ops=ops,
                options=ConvClassifierOptions(act=head.act, dropout=head.dropout))


@register_options("conv_pool")
@dataclass(frozen=True)
class ConvPoolOptions(UnitOptions):
    """A ``conv_pool`` head's module beyond its conv record: the dropout before the conv, the activation after."""

    dropout: float
    act: Activation


def plan_conv_pool(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """SqueezeNet: dropout, conv1x1 (bias) to the classes, activation, global average pool."""
    conv = Conv("conv", channels, classes, 1, size, bias=True, padding=0)
    return Unit("head", None, 0, "conv_pool", channels, classes, size, (1, 1), ops=(conv,),
                options=ConvPoolOptions(dropout=head.dropout, act=head.act))  # type: ignore[arg-type]


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
        if head.type == "conv":
            units.append(_plan_conv_aux(head, i, tap, classes, path))
            continue
        p = (head.pool_size, head.pool_size)
        ops = (
            Conv("conv.conv", tap.out_channels, head.width, 1, p, padding=0),
            Norm("conv.bn", head.width, p, eps=head.bn_eps),
            Linear("fc1", head.width * head.pool_size**2, head.hidden),
            Linear("fc2", head.hidden, classes),
        )
        units.append(Unit(f"aux.{i}", head.stage, head.unit, "aux_classifier", tap.out_channels, classes,
                          tap.out_size, (1, 1), inner_channels=head.width, ops=ops,
                          options=AuxOptions(after=tap.name, pool_size=head.pool_size, dropout=head.dropout)))
    return tuple(units)


@register_options("aux_conv")
@dataclass(frozen=True)
class ConvAuxOptions(UnitOptions):
    """Inception-v3's aux head: the unit it reads (``after``) and its first pool."""

    after: str
    pool: Pool


def _plan_conv_aux(head: Any, i: int, tap: Unit, classes: int, path: tuple) -> Unit:
    """torchvision's InceptionAux: avg-pool, conv0 1x1-BN-ReLU, conv1 kxk (unpadded)-BN-ReLU, global pool, fc."""
    pool = Pool("avg", head.pool_kernel, head.pool_stride, 0, False)
    size = pooled(tap.out_size, pool)
    if min(size) < head.kernel:
        raise PlanError(path, f"the aux head on {tap.name} pools its {tap.out_size[0]}x{tap.out_size[1]} map to "
                              f"{size[0]}x{size[1]}, smaller than its {head.kernel}x{head.kernel} conv (Inception-v3's "
                              "needs a 299x299 input); use a larger input or drop the training-only head "
                              "(--set body.aux_heads=[])")
    ops = [*conv_norm("conv0", tap.out_channels, head.width, 1, size, eps=head.bn_eps),
           *conv_norm("conv1", head.width, head.conv_width, head.kernel, size, eps=head.bn_eps, padding=0),
           Linear("fc", head.conv_width, classes)]
    return Unit(f"aux.{i}", head.stage, head.unit, "aux_conv", tap.out_channels, classes, tap.out_size, (1, 1),
                inner_channels=head.width, ops=tuple(ops),
                options=ConvAuxOptions(tap.name, pool))  # type: ignore[arg-type]


def conv_norm(prefix: str, cin: int, cout: int, kernel: Window, size: Size, *, stride: int = 1, groups: int = 1,
              norm: bool = True, eps: float | None = None, bias: bool | None = None,
              padding: Window | None = None) -> list[Op]:
    """``<prefix>.conv`` (bias only without BN unless told) and ``<prefix>.bn``; bare names without a prefix.

    ``padding`` defaults to ``(k - 1) // 2`` per side (a 1x7 kernel pads (0, 3)).
    """
    name = f"{prefix}." if prefix else ""
    if padding is None:
        padding = (kernel - 1) // 2 if isinstance(kernel, int) else ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    conv = Conv(f"{name}conv", cin, cout, kernel, size, stride=stride, groups=groups,
                bias=(not norm) if bias is None else bias, padding=padding)
    return [conv, Norm(f"{name}bn", cout, conv.out_size, eps=eps)] if norm else [conv]
