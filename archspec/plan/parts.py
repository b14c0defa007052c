"""Plan rows around the blocks: pool and transition units that end strided stages, the
training-only aux heads (GoogLeNet's, Inception-v3's), their typed options, and the
conv-BN record pair every family plans with. Stems are in plan/stems.py, heads in plan/heads.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from . import steps
from .errors import PlanError
from .graph import INPUT, Graph, GraphBuilder
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
    """The unit that ends a strided stage: a pool (VGG, GoogLeNet) or a DenseNet transition
    (BN-ReLU-conv1x1-avgpool)."""
    if spec.type == "pool":
        if spec.padding * 2 > spec.kernel:
            raise PlanError(path + ("padding",), f"padding {spec.padding} exceeds half the kernel {spec.kernel}")
        pool = Pool(spec.kind, spec.kernel, stride, spec.padding, spec.ceil)
        g = GraphBuilder(channels, size)
        g.add(pool_step("pool", pool), INPUT)
        return Unit(name, stage, index, "pool", channels, channels, size, pooled(size, pool), stride=stride,
                    graph=g.build(), options=PoolOptions(pool))
    out = math.floor(spec.compression * channels)
    if out < 1:
        raise PlanError(path + ("compression",), f"compression {spec.compression} leaves no channels of {channels}")
    conv = Conv("conv", channels, out, 1, size, padding=0)
    pool = Pool("avg", stride, stride, 0, False)
    g = GraphBuilder(channels, size)
    g.chain(INPUT, Norm("bn", channels, size), steps.Act("relu", "relu"), conv, pool_step("pool", pool))
    graph = g.build()
    return Unit(name, stage, index, "transition", channels, out, size, pooled(size, pool), stride=stride,
                ops=graph.weighted, graph=graph, options=TransitionOptions(pool, spec.compression))


def pool_step(name: str, pool: Pool) -> steps.Pool:
    """The graph step of a pooling window the options describe."""
    return steps.Pool(name, pool.kind, pool.kernel, pool.stride, pool.padding, pool.ceil)


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
        graph = _aux_graph(head, tap, classes)
        units.append(Unit(f"aux.{i}", head.stage, head.unit, "aux_classifier", tap.out_channels, classes,
                          tap.out_size, (1, 1), inner_channels=head.width, ops=graph.weighted, graph=graph,
                          options=AuxOptions(after=tap.name, pool_size=head.pool_size, dropout=head.dropout)))
    return tuple(units)


def _aux_graph(head: Any, tap: Unit, classes: int) -> Graph:
    """GoogLeNet's aux head: adaptive pool, conv1x1-BN-ReLU, flatten, FC-ReLU, dropout (any rate), FC."""
    p = (head.pool_size, head.pool_size)
    g = GraphBuilder(tap.out_channels, tap.out_size)
    x = g.add(steps.AdaptiveAvgPool("pool", p), INPUT)
    x = g.chain(x, Conv("conv.conv", tap.out_channels, head.width, 1, p, padding=0),
                Norm("conv.bn", head.width, p, eps=head.bn_eps), steps.Act("conv.act", "relu"),
                steps.Flatten("flatten"),
                Linear("fc1", head.width * head.pool_size**2, head.hidden), steps.Act("relu", "relu"),
                steps.Dropout("dropout", head.dropout), Linear("fc2", head.hidden, classes))
    return g.build()


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
    g = GraphBuilder(tap.out_channels, tap.out_size)
    x = g.add(pool_step("pool", pool), INPUT)
    x = g.chain(x, *conv_norm("conv0", tap.out_channels, head.width, 1, size, eps=head.bn_eps),
                steps.Act("conv0.act", "relu"))
    x = g.chain(x, *conv_norm("conv1", head.width, head.conv_width, head.kernel, size, eps=head.bn_eps, padding=0),
                steps.Act("conv1.act", "relu"), steps.AdaptiveAvgPool("avgpool"), steps.Flatten("flatten"),
                Linear("fc", head.conv_width, classes, init="aux_linear"))
    graph = g.build()
    return Unit(f"aux.{i}", head.stage, head.unit, "aux_conv", tap.out_channels, classes, tap.out_size, (1, 1),
                inner_channels=head.width, ops=graph.weighted, graph=graph,
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
