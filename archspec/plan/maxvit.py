"""MaxViT (Tu et al. 2022) as step graphs, in torchvision's layout (``torchvision.models.maxvit``).

A ``maxvit`` unit is torchvision's ``MaxVitLayer``, in its forward's order:

- ``mbconv``: the shortcut first (``proj``: 3x3/2 average pool where strided, 1x1 conv with a
  bias, where the shape changes), then ``pre_norm`` BN, ``conv_a`` 1x1-BN-GELU to
  ``int(width x expand)``, ``conv_b`` depthwise 3x3 (the stride)-BN-GELU, ``se`` (average pool,
  1x1 to ``int(width x se_ratio)``, SiLU, 1x1, sigmoid, rescale), ``conv_c`` 1x1 with a bias,
  stochastic depth, the add;
- ``window``: block attention. :class:`~archspec.plan.partition_steps.Partition` into P x P
  windows, LayerNorm, relative-position multi-head attention, dropout, stochastic depth, add;
  LayerNorm, MLP (``mlp.1`` Linear, ``mlp.2`` GELU, ``mlp.3`` Linear, ``mlp.4`` dropout),
  stochastic depth, add; departition;
- ``grid``: the same on the (H / P) x (W / P) windows with the token axes swapped, so that each
  attended sequence is a P x P grid spread over the map.

The attention (torchvision's ``RelativePositionalMultiHeadAttention``): ``to_qkv`` one Linear to
3 x width, per head q, k and v, k times ``width ** -0.5`` (torchvision's scale: the width, not
the head's), ``q @ k^T``, the relative position bias, softmax, ``@ v``, heads merged, ``merge``
Linear. Its two matmuls carry the MACs FlopCounterMode counts (2 x G x P^2 x P^2 x width per
attention, G windows of P^2 tokens).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv, Linear, Norm, Size, conv_out
from .options import no_options, register_options
from .partition_steps import BiasAdd, Departition, Heads, MergeHeads, Partition, RelativePositionBias, Scale
from .registry import register_head, register_planner
from .steps import Act, Add, AdaptiveAvgPool, Flatten, MatMul, Mul, Permute, Pool, Softmax
from .types import Unit, UnitOptions
from .vit import nearest_sizes

no_options("prelogits_classifier")  # its steps say everything


@register_options("maxvit")
@dataclass(frozen=True)
class MaxViTOptions(UnitOptions):
    """What a MaxViT layer holds beyond its records: its attention's shape and its rates."""

    heads: int
    partition: int
    se_channels: int
    drop_path: float
    mlp_dropout: float
    attention_dropout: float


def check_partition(ctx: UnitContext, size: Size, partition: int) -> None:
    """The map after the unit's stride must divide into partition x partition windows (and a grid of them)."""
    if not any(s % partition for s in size):
        return
    h, w = size
    message = (f"{ctx.name} makes a {h}x{w} map, which does not divide into {partition}x{partition} windows (block "
               f"and grid attention need whole partitions: the map's sides must be multiples of {partition})")
    if ctx.network_input is not None and ctx.strides:  # multiples of partition x stride: every map divides
        stride = math.prod(ctx.strides)
        message += (f"; use an input of {nearest_sizes(ctx.network_input, partition * stride)} (multiples of "
                    f"{partition} x the network's stride {stride}), or another partition size")
    raise PlanError(ctx.block_path + ("partition",), message)


def token_norm(path: str, width: int, groups: int, tokens: int, eps: float) -> Norm:
    """``nn.LayerNorm(width)`` over each token of ``groups`` windows of ``tokens``."""
    return Norm(path, width, (groups, tokens), eps=eps, kind="layer", channels_last=True)


def mbconv(g: GraphBuilder, block: Any, ctx: UnitContext, width: int, rate: float) -> tuple[str, int, Size]:
    """torchvision's MaxViT MBConv on the unit's input; returns its output, the SE width and the map size."""
    cin, size, stride = ctx.in_channels, ctx.in_size, ctx.stride
    mid, squeeze = int(width * block.expand), int(width * block.se_ratio)
    for field, value, what in (("expand", mid, "MBConv's inner width"), ("se_ratio", squeeze, "squeeze-excite's width")):
        if value < 1:
            raise PlanError(ctx.block_path + (field,), f"{ctx.name}: int({width} x {getattr(block, field)}) leaves "
                            f"{what} at {value} channels; use a {field} of at least {1 / width:.4g}")
    out = conv_out(size, 3, stride, 1)
    short = INPUT
    if stride != 1 or cin != width:
        if stride == 2:
            short = g.add(Pool("mbconv.shortcut.pool", "avg", 3, 2, padding=1), short)
        elif stride != 1:
            raise PlanError(ctx.block_path, f"a maxvit unit downsamples by 1 or 2 (torchvision's shortcut pools "
                                            f"3x3/2), not {stride}: use stage stride 1 or 2")
        short = g.add(Conv("mbconv.shortcut.conv", cin, width, 1, out, bias=True, padding=0), short)
    x = g.add(Norm("mbconv.pre_norm", cin, size), INPUT)
    x = sg.conv_norm_act(g, x, Conv("mbconv.conv_a.0", cin, mid, 1, size, padding=0), Norm("mbconv.conv_a.1", mid, size),
                         "gelu", "mbconv.conv_a.2")
    x = sg.conv_norm_act(g, x, Conv("mbconv.conv_b.0", mid, mid, 3, size, stride=stride, groups=mid, padding=1),
                         Norm("mbconv.conv_b.1", mid, out), "gelu", "mbconv.conv_b.2")
    one = (1, 1)
    s = g.add(AdaptiveAvgPool("mbconv.se.avgpool"), x)
    s = g.add(Conv("mbconv.se.fc1", mid, squeeze, 1, one, bias=True, padding=0), s)
    s = g.add(Act("mbconv.se.activation", "silu", inplace=False), s)
    s = g.add(Conv("mbconv.se.fc2", squeeze, mid, 1, one, bias=True, padding=0), s)
    s = g.add(Act("mbconv.se.scale_activation", "sigmoid", inplace=False), s)
    x = g.add(Mul("mbconv.se.scale"), x, s)
    x = g.add(Conv("mbconv.conv_c", mid, width, 1, out, bias=True, padding=0), x)
    x = sg.drop_path(g, x, rate, "mbconv.drop_path")
    return g.add(Add("mbconv.add"), short, x), squeeze, out


def attention(g: GraphBuilder, x: str, prefix: str, width: int, heads: int, groups: int, side: int) -> str:
    """Relative-position multi-head attention over ``groups`` sequences of ``side``^2 tokens."""
    tokens = side * side
    qkv = g.add(Linear(f"{prefix}.to_qkv", width, 3 * width, size=(groups, tokens)), x)
    q, k, v = (g.add(Heads(f"{prefix}.{n}", heads, i), qkv) for i, n in enumerate("qkv"))
    k = g.add(Scale(f"{prefix}.k_scale", width ** -0.5), k)
    scores = g.add(MatMul.of(f"{prefix}.scores", g.shape(q), g.shape(k), True), q, k)
    bias = g.add(RelativePositionBias(f"{prefix}.relative_position", side, heads, groups))
    scores = g.add(BiasAdd(f"{prefix}.add_bias"), scores, bias)
    attn = g.add(Softmax(f"{prefix}.softmax"), scores)
    out = g.add(MatMul.of(f"{prefix}.context", g.shape(attn), g.shape(v)), attn, v)
    out = g.add(MergeHeads(f"{prefix}.merge_heads"), out)
    return g.add(Linear(f"{prefix}.merge", width, width, size=(groups, tokens)), out)


def partition_attention(g: GraphBuilder, x: str, prefix: str, block: Any, width: int, size: Size, heads: int,
                        rate: float, grid: bool) -> str:
    """Block (``grid`` False) or grid attention on a ``(width, *size)`` map, back to the map."""
    p = block.partition
    window = (size[0] // p, size[1] // p) if grid else (p, p)
    windows = (size[0] // window[0]) * (size[1] // window[1])
    groups, tokens = (window[0] * window[1], windows) if grid else (windows, p * p)
    eps = block.norm_eps
    x = g.add(Partition(f"{prefix}.partition", width, size, window), x)
    if grid:
        x = g.add(Permute(f"{prefix}.swap", (1, 0, 2)), x)
    y = g.add(token_norm(f"{prefix}.norm", width, groups, tokens, eps), x)
    y = attention(g, y, f"{prefix}.attn", width, heads, groups, p)
    y = sg.drop_path(g, sg.dropout(g, y, block.attention_dropout, f"{prefix}.attn_dropout"), rate,
                     f"{prefix}.drop_path_1")
    x = g.add(Add(f"{prefix}.add_1"), x, y)
    y = g.add(token_norm(f"{prefix}.mlp.0", width, groups, tokens, eps), x)
    y = g.add(Linear(f"{prefix}.mlp.1", width, width * block.mlp_ratio, size=(groups, tokens)), y)
    y = g.add(Act(f"{prefix}.mlp.2", "gelu", inplace=False), y)
    y = g.add(Linear(f"{prefix}.mlp.3", width * block.mlp_ratio, width, size=(groups, tokens)), y)
    y = sg.drop_path(g, sg.dropout(g, y, block.mlp_dropout, f"{prefix}.mlp.4"), rate, f"{prefix}.drop_path_2")
    x = g.add(Add(f"{prefix}.add_2"), x, y)
    if grid:
        x = g.add(Permute(f"{prefix}.unswap", (1, 0, 2)), x)
    return g.add(Departition(f"{prefix}.departition", width, size, window), x)


@register_planner("maxvit")
def plan_maxvit(block: Any, ctx: UnitContext) -> Unit:
    """MBConv, block attention, grid attention (torchvision's MaxVitLayer)."""
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"maxvit unit {ctx.name} needs a width: give `widening` or stage `width`")
    width = ctx.width
    if width % block.head_dim:
        raise PlanError(ctx.block_path + ("head_dim",), f"{ctx.name}: heads of {block.head_dim} channels do not "
                        f"divide its width {width}; use a head_dim that divides every stage's width")
    out = conv_out(ctx.in_size, 3, ctx.stride, 1)
    check_partition(ctx, out, block.partition)
    heads = width // block.head_dim
    g = GraphBuilder(ctx.in_channels, ctx.in_size)
    x, squeeze, out = mbconv(g, block, ctx, width, ctx.drop_path)
    x = partition_attention(g, x, "window", block, width, out, heads, ctx.drop_path, grid=False)
    partition_attention(g, x, "grid", block, width, out, heads, ctx.drop_path, grid=True)
    graph = g.build()
    projected = ctx.stride != 1 or ctx.in_channels != width
    return Unit(name=ctx.name, stage=ctx.stage, index=ctx.index, block="maxvit", in_channels=ctx.in_channels,
                out_channels=width, in_size=ctx.in_size, out_size=out, stride=ctx.stride,
                inner_channels=int(width * block.expand), shortcut="projection" if projected else "identity",
                merge="add", ops=graph.weighted, width=width, graph=graph,
                options=MaxViTOptions(heads, block.partition, squeeze, ctx.drop_path, block.mlp_dropout,
                                      block.attention_dropout))


@register_head("prelogits_classifier")
def plan_prelogits_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """Global average pool, flatten, LayerNorm, Linear, Tanh, Linear without bias (torchvision's MaxViT classifier)."""
    g = GraphBuilder(channels, size)
    g.chain(INPUT, AdaptiveAvgPool("pool"), Flatten("flatten"),
            Norm("norm", channels, (1, 1), eps=head.norm_eps, kind="layer", channels_last=True),
            Linear("pre_logits", channels, channels), Act("tanh", "tanh", inplace=False),
            Linear("fc", channels, classes, bias=False))
    graph = g.build()
    return Unit("head", None, 0, "prelogits_classifier", channels, classes, size, (1, 1), ops=graph.weighted,
                graph=graph)
