"""The stems: ResNet's conv stem, the deep stem, layer lists (GoogLeNet, AlexNet, SqueezeNet,
Inception-v3) and none (VGG), each registered by its ``type`` with the typed options its
builder reads. ConvNeXt's patchify stem lives with its family (plan/convnext.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..spec.families import Activation
from ..spec.models import ConvStem
from . import steps
from . import subgraphs as sg
from .errors import PlanError
from .graph import INPUT, Graph, GraphBuilder
from .ops import Conv, Norm, Op, Size, conv_out
from .options import Pool, register_options
from .parts import pool_step, pooled
from .registry import register_stem
from .types import Unit, UnitOptions


@register_options("stem_conv", "stem_deep")
@dataclass(frozen=True)
class StemOptions(UnitOptions):
    pool: Literal["max", "none"]  # a 3x3/2 max-pool after the convs
    act: Activation  # after each BN (or once, after a conv without BN); the deep stem's is relu


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


@register_stem("conv")
@register_stem("deep")
def plan_conv_stem(stem: Any, cin: int, size: Size, first_width: int | None = None) -> Unit:
    """ResNet's conv stem (conv-[BN]-act, optionally a 3x3/2 max-pool) or the deep stem (3x3 convs, BN-ReLU)."""
    ops: list[Op] = []
    if isinstance(stem, ConvStem):
        conv = Conv("conv", cin, stem.width, stem.kernel, size, stride=stem.stride)
        ops.append(conv)
        if stem.norm == "bn":
            ops.append(Norm("bn", stem.width, conv.out_size))
        out, width = conv.out_size, stem.width
    else:  # DeepStem
        c, out = cin, size
        for i, w in enumerate(stem.widths, start=1):
            conv = Conv(f"conv{i}", c, w, 3, out, stride=2 if i == 1 else 1)
            ops += [conv, Norm(f"bn{i}", w, conv.out_size)]
            c, out = w, conv.out_size
        width = c
    if min(out) < 1:
        raise PlanError(("stem",), f"the stem leaves a {out[0]}x{out[1]} map; use a larger input")
    stride = math.prod(op.stride for op in ops if isinstance(op, Conv))
    if stem.pool == "max":
        out = conv_out(out, 3, 2, 1)
        stride *= 2
    act = stem.act if isinstance(stem, ConvStem) else "relu"
    graph = _conv_stem_graph(cin, size, ops, act, stem.pool == "max")
    return Unit("stem", None, 0, f"stem_{stem.type}", cin, width, size, out, stride=stride, ops=graph.weighted,
                graph=graph, options=StemOptions(pool=stem.pool, act=act))


def _conv_stem_graph(cin: int, size: Size, ops: list[Op], act: str, max_pool: bool) -> Graph:
    """Each conv and BN, the activation after each BN (``bn2`` -> ``relu2``), or once after a conv
    without BN, then the 3x3/2 max-pool."""
    g = GraphBuilder(cin, size)
    x = INPUT
    for op in ops:
        x = g.add(op, x)
        if isinstance(op, Norm):
            x = sg.act(g, op.path.replace("bn", act), act, x)
    if not any(isinstance(op, Norm) for op in ops):
        x = sg.act(g, act, act, x)
    if max_pool:
        g.add(steps.Pool("pool", "max", 3, 2, 1), x)
    return g.build()


@register_stem("layers")
def plan_layers_stem(stem: Any, cin: int, size: Size, first_width: int | None = None) -> Unit:
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
    graph = _layers_stem_graph(cin, size, ops, layers)
    return Unit("stem", None, 0, "stem_layers", cin, c, size, out, stride=stride, ops=graph.weighted, graph=graph,
                options=LayersStemOptions(tuple(layers)))


def _layers_stem_graph(cin: int, size: Size, ops: list[Op], layers: list[StemConv | StemPool]) -> Graph:
    """The layers in order: ``<name>.conv``, ``<name>.bn`` where planned, ``<name>.act``; pools at their names."""
    g = GraphBuilder(cin, size)
    records = {op.path: op for op in ops}
    x = INPUT
    for layer in layers:
        if isinstance(layer, StemPool):
            x = g.add(pool_step(layer.name, layer.pool), x)
        else:
            x = sg.conv_norm_act(g, x, records[f"{layer.name}.conv"], records.get(f"{layer.name}.bn"), layer.act,
                                 f"{layer.name}.act")
    return g.build()


@register_stem("none")
def plan_no_stem(stem: Any, cin: int, size: Size, first_width: int | None = None) -> Unit:
    """No stem (VGG): the body starts on the input (an empty graph)."""
    return Unit("stem", None, 0, "stem_none", cin, cin, size, size, graph=GraphBuilder(cin, size).build())
