"""The Swin Transformer (Liu et al. 2021) and Swin V2 (2022) as step graphs, in torchvision's layout.

torchvision's ``SwinTransformer``: ``features.0`` (conv patch x patch / patch, bias; ``Permute`` to
NHWC; LayerNorm), then per stage ``features.<2s+1>.<i>`` blocks (``norm1``, ``attn`` a
``ShiftedWindowAttention`` with ``qkv``, ``proj``, ``relative_position_bias_table`` and
``relative_position_index``; ``stochastic_depth``; ``norm2``; ``mlp`` ``0`` Linear, ``1`` GELU, ``2``
dropout, ``3`` Linear, ``4`` dropout) with patch merging ``features.<2s>`` between stages (``norm``,
``reduction``); then ``norm``, ``permute``, ``avgpool``, ``flatten``, ``head``. V2 blocks have
``attn.logit_scale`` and ``attn.cpb_mlp`` (``0`` Linear(2, 512), ``1`` ReLU, ``2`` Linear(512, heads))
over the ``attn.relative_coords_table`` buffer instead of the table.

Maps are channels-last ``(H, W, C)``; a unit's ``in_size``/``out_size`` is its (H, W). Patch merging
is held by the first unit of the stage it opens (as ConvNeXt's downsampling), its steps under
``downsample.``. The attention is ``shifted_window_attention``'s steps (plan/window_steps.py, and those
it shares with MaxViT in plan/partition_steps.py); its two matmuls carry the MACs FlopCounterMode counts
(2 x nW x N x N x C per block), the qkv and projection Linears theirs, and V2's position MLP its own once
per forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv, Linear, Norm, Size
from .options import no_options, register_options
from .registry import register_head, register_planner, register_stem
from .steps import Act, AdaptiveAvgPool, Add, Flatten, Mul, Permute, Select, Softmax
from .types import Unit, UnitOptions
from .partition_steps import BiasAdd, Departition, MergeHeads, Partition, RelativePositionBias
from .vit import nearest_sizes
from .window_steps import (Crop, LogitScale, Normalize, PatchMerge, Roll, TableLinear, TableParam, TableReLU,
                           WindowBuffer, WindowHeads, WindowLinear, WindowMatMul, WindowPad)

no_options("stem_swin_patch_embed", "swin_classifier")  # their steps say everything
CPB_HIDDEN = 512  # Swin V2's continuous position bias MLP: Linear(2, 512), ReLU, Linear(512, heads)
LOG_10 = math.log(10.0)  # V2's logit scale starts at log(10) (torchvision: torch.log(10 * torch.ones(...)))


@register_options("swin")
@dataclass(frozen=True)
class SwinOptions(UnitOptions):
    """What a Swin block holds beyond its records: its attention's layout and its rates."""

    heads: int
    window: int
    shift: tuple[int, int]  # rows and columns its windows are shifted by (0 along a side one window covers)
    version: int
    drop_path: float  # this unit's stochastic-depth rate (already decayed); identity in eval


def map_norm(path: str, channels: int, size: Size, eps: float) -> Norm:
    """``nn.LayerNorm(channels)`` over each position of an (H, W, C) map."""
    return Norm(path, channels, size, eps=eps, kind="layer", channels_last=True)


@register_stem("swin_patch_embed")
def plan_swin_patch_embed(stem: Any, cin: int, size: Size, first_width: int | None = None) -> Unit:
    """conv patch x patch / patch to ``width``, permuted to (H, W, C), LayerNorm."""
    p = stem.patch
    if any(s % p for s in size) or min(size) < p:
        raise PlanError(("stem", "patch"), f"a {size[0]}x{size[1]} input does not divide into {p}x{p} patches "
                        f"(the patch embedding would drop its last rows or columns); use an input of "
                        f"{nearest_sizes(size, p)} (multiples of {p}), or a patch size that divides {size[0]} "
                        f"and {size[1]}")
    conv = Conv("proj", cin, stem.width, p, size, stride=p, bias=True, padding=0)
    g = GraphBuilder(cin, size)
    g.chain(INPUT, conv, Permute("permute", (1, 2, 0)), map_norm("norm", stem.width, conv.out_size, stem.norm_eps))
    graph = g.build()
    return Unit("stem", None, 0, "stem_swin_patch_embed", cin, stem.width, size, conv.out_size, stride=p,
                ops=graph.weighted, graph=graph)


def _patch_merging(g: GraphBuilder, x: str, cin: int, width: int, size: Size, version: int, eps: float) -> str:
    """torchvision's ``PatchMerging`` (V2: ``PatchMergingV2``): odd sides padded, 2x2 neighbours
    concatenated, LayerNorm(4C) and Linear(4C, width) without bias (V2: the Linear, then LayerNorm(width))."""
    h, w = size
    if h % 2 or w % 2:
        x = g.add(WindowPad("downsample.pad", h % 2, w % 2), x)
    x = g.add(PatchMerge("downsample.merge"), x)
    half = g.shape(x)[:2]
    norm = map_norm("downsample.norm", 4 * cin if version == 1 else width, half, eps)
    reduction = Linear("downsample.reduction", 4 * cin, width, bias=False, size=half)
    return g.chain(x, *((norm, reduction) if version == 1 else (reduction, norm)))


def _heads_error(ctx: UnitContext, heads: int, width: int) -> PlanError:
    divisors = [h for h in range(1, width + 1) if width % h == 0]
    near = sorted(sorted(divisors, key=lambda h: abs(h - heads))[:2])
    return PlanError(ctx.block_path + ("heads",), f"{heads} heads do not divide the width {width} of unit "
                     f"{ctx.name}; use {' or '.join(map(str, near))} (or give the stage a `block: {{heads: N}}`)")


def padded_size(size: Size, window: int) -> Size:
    """The map padded to multiples of the window (torchvision pads the bottom and right)."""
    return (size[0] + -size[0] % window, size[1] + -size[1] % window)


def window_shifts(size: Size, window: int, shift: int) -> tuple[int, int]:
    """The shift along each side: none along a side one window covers (torchvision drops it per axis)."""
    padded = padded_size(size, window)
    return (shift if window < padded[0] else 0, shift if window < padded[1] else 0)


def _window_attention(g: GraphBuilder, x: str, block: Any, width: int, size: Size, shifts: tuple[int, int]) -> str:
    """torchvision's ``shifted_window_attention`` on the (H, W, C) map ``x``, as steps."""
    k, heads, v2 = block.window, block.heads, block.version == 2
    padded = padded_size(size, k)
    pad_b, pad_r = padded[0] - size[0], padded[1] - size[1]
    if pad_b or pad_r:
        x = g.add(WindowPad("attn.pad", pad_b, pad_r), x)
    if any(shifts):
        x = g.add(Roll("attn.roll", (-shifts[0], -shifts[1])), x)
    x = g.add(Partition("attn.windows", width, padded, (k, k), channels_last=True, fold_batch=True), x)
    windows, tokens = g.shape(x)[:2]
    qkv = g.add(WindowLinear("attn.qkv", width, 3 * width, size=(windows, tokens), zero_k_bias=v2), x)
    split = g.add(WindowHeads("attn.heads", heads), qkv)
    q, key, v = (g.add(Select(f"attn.{n}", i, batch_first=False), split) for i, n in enumerate("qkv"))
    d = width // heads
    index = g.add(WindowBuffer("attn.relative_position_index", "index", k))
    if v2:
        q, key = g.add(Normalize("attn.q_normalized"), q), g.add(Normalize("attn.k_normalized"), key)
        scores = g.add(WindowMatMul.window("attn.scores", g.shape(q), g.shape(key), True, (heads > 1, True)), q, key)
        scale = g.add(LogitScale("attn.logit_scale_exp"), g.add(TableParam("attn.logit_scale", (heads, 1, 1),
                                                                             ("fill", LOG_10))))
        scores = g.add(Mul("attn.scaled"), scores, scale)  # the cosine logits times the per-head scale
        span = 2 * k - 1
        table = g.chain(g.add(WindowBuffer("attn.relative_coords_table", "coords", k)),
                        TableLinear("attn.cpb_mlp.0", 2, CPB_HIDDEN, size=(span, span)), TableReLU("attn.cpb_mlp.1"),
                        TableLinear("attn.cpb_mlp.2", CPB_HIDDEN, heads, bias=False, size=(span, span)))
        bias = g.add(RelativePositionBias("attn.relative_position_bias", k, heads, v2=True), table, index)
    else:
        scores = g.add(WindowMatMul.window("attn.scores", g.shape(q), g.shape(key), True, (heads > 1, True),
                                           scale=d ** -0.5), q, key)
        table = g.add(TableParam("attn.relative_position_bias_table", ((2 * k - 1) ** 2, heads),
                                 ("trunc_normal", 0.02)))
        bias = g.add(RelativePositionBias("attn.relative_position_bias", k, heads), table, index)
    scores = g.add(BiasAdd("attn.add_bias"), scores, bias)
    if any(shifts):
        mask = g.add(WindowBuffer("attn.mask", "mask", k, padded, shifts))
        scores = g.add(BiasAdd("attn.add_mask", windows), scores, mask)
    attn = sg.dropout(g, g.add(Softmax("attn.softmax"), scores), block.attention_dropout, "attn.attention_dropout")
    out = g.add(WindowMatMul.window("attn.context", g.shape(attn), g.shape(v), False, (False, True)), attn, v)
    out = g.chain(out, MergeHeads("attn.merge", fold_batch=True),
                  WindowLinear("attn.proj", width, width, size=(windows, tokens)))
    out = g.add(Departition("attn.unwindow", width, padded, (k, k), channels_last=True),
                sg.dropout(g, out, block.dropout, "attn.dropout"))
    if any(shifts):
        out = g.add(Roll("attn.unroll", shifts), out)
    if pad_b or pad_r:
        out = g.add(Crop("attn.crop", size), out)
    return out


@register_planner("swin")
def plan_swin(block: Any, ctx: UnitContext) -> Unit:
    """One Swin block on an (H, W, C) map, after patch merging when it opens a stride-2 stage."""
    cin, size = ctx.in_channels, ctx.in_size
    width = ctx.width if ctx.width is not None else cin
    if ctx.stride not in (1, 2):
        raise PlanError(ctx.block_path, f"a swin stage's stride is 1, or 2 for patch merging; not {ctx.stride}")
    if ctx.stride == 1 and width != cin:
        hint = (f"; the stem's `width` ({cin}) is the first stage's: make them equal" if ctx.stage == 0 and ctx.index == 0
                else "; give the stage `stride: 2`")
        raise PlanError(ctx.block_path, f"unit {ctx.name} widens {cin} to {width} without patch merging: only the "
                        f"first unit of a stride-2 stage changes the width{hint}")
    if width % block.heads:
        raise _heads_error(ctx, block.heads, width)
    g = GraphBuilder.of_shape((*size, cin))
    x, eps, v2 = INPUT, block.norm_eps, block.version == 2
    if ctx.stride == 2:
        x = _patch_merging(g, x, cin, width, size, block.version, eps)
        size = g.shape(x)[:2]
    shifts = window_shifts(size, block.window, block.window // 2 if ctx.index % 2 else 0)  # odd units shift
    if v2:
        y = g.add(map_norm("norm1", width, size, eps), _window_attention(g, x, block, width, size, shifts))
    else:
        y = _window_attention(g, g.add(map_norm("norm1", width, size, eps), x), block, width, size, shifts)
    x = g.add(Add("add_1"), x, sg.drop_path(g, y, ctx.drop_path, "stochastic_depth_1"))
    hidden = int(width * block.mlp_ratio)
    if hidden < 1:
        raise PlanError(ctx.block_path + ("mlp_ratio",), f"an MLP ratio of {block.mlp_ratio:g} leaves unit {ctx.name}'s "
                        f"MLP no hidden unit (int({width} x {block.mlp_ratio:g}) = 0); use at least {1 / width:.3g}")
    y = x if v2 else g.add(map_norm("norm2", width, size, eps), x)
    y = g.chain(y, Linear("mlp.0", width, hidden, size=size), Act("mlp.1", "gelu", inplace=False))
    y = sg.dropout(g, g.add(Linear("mlp.3", hidden, width, size=size), sg.dropout(g, y, block.dropout, "mlp.2")),
                   block.dropout, "mlp.4")
    if v2:
        y = g.add(map_norm("norm2", width, size, eps), y)
    g.add(Add("add_2"), x, sg.drop_path(g, y, ctx.drop_path, "stochastic_depth_2"))
    graph = g.build()
    return Unit(name=ctx.name, stage=ctx.stage, index=ctx.index, block="swin", in_channels=cin, out_channels=width,
                in_size=ctx.in_size, out_size=size, stride=ctx.stride, inner_channels=hidden, shortcut="identity",
                merge="add", ops=graph.weighted, width=width, graph=graph,
                options=SwinOptions(block.heads, block.window, shifts, block.version, ctx.drop_path))


@register_head("swin_classifier")
def plan_swin_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """LayerNorm over the (H, W, C) map, permuted to (C, H, W), global average pool, flatten, FC."""
    g = GraphBuilder.of_shape((*size, channels))
    g.chain(INPUT, map_norm("norm", channels, size, head.norm_eps), Permute("permute", (2, 0, 1)),
            AdaptiveAvgPool("avgpool"), Flatten("flatten"), Linear("head", channels, classes))
    graph = g.build()
    return Unit("head", None, 0, "swin_classifier", channels, classes, size, (1, 1), ops=graph.weighted, graph=graph)
