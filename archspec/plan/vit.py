"""The Vision Transformer (Dosovitskiy et al. 2021) as step graphs, in torchvision's layout.

torchvision's ``VisionTransformer``: ``conv_proj`` (patch x patch / patch, bias), the map
flattened to tokens, ``class_token`` prepended, ``encoder.pos_embedding`` added, dropout; then
``encoder.layers.encoder_layer_<i>`` (``EncoderBlock``: ``ln_1``, ``self_attention`` an
``nn.MultiheadAttention``, ``dropout``, add; ``ln_2``, ``mlp`` ``0`` Linear, ``1`` GELU, ``2``
dropout, ``3`` Linear, ``4`` dropout, add); ``encoder.ln``, the class token, ``heads.head``.

Tokens are per-sample ``(T, D)`` values (T tokens of width D); a unit's ``in_size``/``out_size``
is ``(T, 1)``, so its activations are T x D. The attention is written as its steps, as
``F.multi_head_attention_forward`` computes it with SDPA's math kernel: one input projection to
q, k and v, ``(q / sqrt(d)) @ k^T``, softmax, dropout, ``@ v``, heads merged, the output
projection; the two matmuls carry the MACs torchvision counts for them (FlopCounterMode with the
mha fast path off and the math kernel: 2 x T x T x D per layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import ClassToken, Conv, Linear, Norm, PosEmbedding, Size
from .options import no_options, register_options
from .registry import register_head, register_planner, register_stem
from .steps import Act, Add, Attention, MatMul, MergeHeads, Select, Softmax, SplitHeads, Tokens
from .types import Unit, UnitOptions

no_options("stem_patch_embed", "token_classifier")  # their steps say everything


@register_options("vit")
@dataclass(frozen=True)
class ViTOptions(UnitOptions):
    """What a ViT encoder layer holds beyond its records: its heads and dropout rates."""

    heads: int
    dropout: float
    attention_dropout: float


def token_norm(path: str, width: int, tokens: int, eps: float) -> Norm:
    """``nn.LayerNorm(width)`` over each token (a layer norm on the last dim)."""
    return Norm(path, width, (tokens, 1), eps=eps, kind="layer", channels_last=True)


def nearest_sizes(size: Size, patch: int) -> str:
    """The input sizes nearest ``size`` whose sides are multiples of ``patch``: each side rounded down, then up."""
    down = tuple(max(s // patch, 1) * patch for s in size)
    up = tuple(-(-s // patch) * patch for s in size)
    return " or ".join(dict.fromkeys(f"{h}x{w}" for h, w in (down, up)))


def mlp_width(ratio: float, width: int, path: tuple) -> int:
    """``width x ratio``, which must be whole: a fractional hidden width is refused, not silently rounded."""
    hidden = width * ratio
    if hidden != int(hidden):
        near = sorted({math.floor(hidden), math.ceil(hidden)})
        raise PlanError(path + ("mlp_ratio",), f"mlp_ratio {ratio:g} x token width {width} = {hidden:g} is not a whole "
                        f"width; use a ratio giving {' or '.join(map(str, near))} "
                        f"({' or '.join(f'{n / width:g}' for n in near)}), or `mlp_dim`")
    return int(hidden)


@register_stem("patch_embed")
def plan_patch_embed(stem: Any, cin: int, size: Size, first_width: int | None = None) -> Unit:
    """conv patch x patch / patch to ``width``, tokens, class token, position embedding, dropout."""
    p = stem.patch
    if any(s % p for s in size):
        raise PlanError(("stem", "patch"), f"a {size[0]}x{size[1]} input does not divide into {p}x{p} patches "
                        f"(a ViT's position embedding needs whole patches); use an input of {nearest_sizes(size, p)} "
                        f"(multiples of {p}), or a patch size that divides {size[0]} and {size[1]}")
    conv = Conv("conv_proj", cin, stem.width, p, size, stride=p, bias=True, padding=0)
    patches = conv.out_size[0] * conv.out_size[1]
    g = GraphBuilder(cin, size)
    x = g.chain(INPUT, conv, Tokens("tokens"), ClassToken("class_token", stem.width, patches),
                PosEmbedding("pos_embedding", stem.width, patches + 1))
    sg.dropout(g, x, stem.dropout)
    graph = g.build()
    return Unit("stem", None, 0, "stem_patch_embed", cin, stem.width, size, (patches + 1, 1), stride=p,
                ops=graph.weighted, graph=graph)


def explicit_attention(g: GraphBuilder, q: str, k: str, v: str, dropout: float) -> str:
    """``(q / sqrt(d)) @ k^T``, softmax, dropout, ``@ v``: SDPA's math kernel as steps (torchvision's count)."""
    head_dim = g.shape(q)[-1]
    scores = g.add(MatMul.of("self_attention.scores", g.shape(q), g.shape(k), True, 1 / math.sqrt(head_dim)), q, k)
    attn = sg.dropout(g, g.add(Softmax("self_attention.softmax"), scores), dropout, "self_attention.dropout")
    return g.add(MatMul.of("self_attention.context", g.shape(attn), g.shape(v)), attn, v)


@register_planner("vit")
def plan_vit(block: Any, ctx: UnitContext) -> Unit:
    """One encoder layer on ``(T, D)`` tokens: pre-norm attention and MLP, each added to its input."""
    width, (tokens, _) = ctx.in_channels, ctx.in_size
    if ctx.stride != 1:
        raise PlanError(ctx.block_path, f"a vit block keeps its tokens: stage stride {ctx.stride} has no meaning; use 1")
    if ctx.width is not None and ctx.width != width:
        raise PlanError(ctx.block_path, f"a vit block keeps the token width {width} (the stem's `width`); drop the "
                        f"widening rule or stage `width` ({ctx.width})")
    heads = block.heads
    if width % heads:
        divisors = [h for h in range(1, width + 1) if width % h == 0]
        near = sorted(divisors, key=lambda h: abs(h - heads))[:2]
        raise PlanError(ctx.block_path + ("heads",), f"{heads} heads do not divide the token width {width}; "
                        f"use {' or '.join(map(str, sorted(near)))}")
    mlp_dim = block.mlp_dim if block.mlp_dim is not None else mlp_width(block.mlp_ratio, width, ctx.block_path)
    g = GraphBuilder.of_shape((tokens, width))
    eps = block.norm_eps
    y = g.chain(INPUT, token_norm("ln_1", width, tokens, eps),
                Linear("self_attention.in_proj", width, 3 * width, size=(tokens, 1), init="attention_in"))
    qkv = g.add(SplitHeads("self_attention.heads", heads), y)
    q, k, v = (g.add(Select(f"self_attention.{n}", i, batch_first=False), qkv) for i, n in enumerate("qkv"))
    if block.attention == "sdpa":
        out = g.add(Attention.of("self_attention.attend", g.shape(q), block.attention_dropout), q, k, v)
    else:
        out = explicit_attention(g, q, k, v, block.attention_dropout)
    y = g.chain(out, MergeHeads("self_attention.merge"), Linear("self_attention.out_proj", width, width,
                                                                  size=(tokens, 1), init="attention_out"))
    x = g.add(Add("add_1"), sg.dropout(g, y, block.dropout), INPUT)
    y = g.chain(x, token_norm("ln_2", width, tokens, eps), Linear("mlp.0", width, mlp_dim, size=(tokens, 1)),
                Act("mlp.1", "gelu", inplace=False))
    y = g.add(Linear("mlp.3", mlp_dim, width, size=(tokens, 1)), sg.dropout(g, y, block.dropout, "mlp.2"))
    g.add(Add("add_2"), x, sg.dropout(g, y, block.dropout, "mlp.4"))
    graph = g.build()
    return Unit(name=ctx.name, stage=ctx.stage, index=ctx.index, block="vit", in_channels=width, out_channels=width,
                in_size=ctx.in_size, out_size=ctx.in_size, inner_channels=mlp_dim, shortcut="identity",
                merge="add", ops=graph.weighted, graph=graph,
                options=ViTOptions(heads, block.dropout, block.attention_dropout))


@register_head("token_classifier")
def plan_token_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """LayerNorm over every token, the class token (the first), FC."""
    tokens = size[0]
    g = GraphBuilder.of_shape((tokens, channels))
    g.chain(INPUT, token_norm("ln", channels, tokens, head.norm_eps), Select("class_token", 0),
            Linear("head", channels, classes))
    graph = g.build()
    return Unit("head", None, 0, "token_classifier", channels, classes, size, (1, 1), ops=graph.weighted,
                graph=graph)
