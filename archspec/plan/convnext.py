"""ConvNeXt (Liu et al. 2022) as Plan rows: the patchify stem, the block units, the layer-norm head.

torchvision's layout (``torchvision.models.convnext``): stem conv4x4/4 (bias) + LayerNorm2d;
each block dwconv7x7 (bias), LayerNorm over channels (on the NHWC map), Linear(C, 4C), GELU,
Linear(4C, C), layer scale, stochastic depth, add; between stages LayerNorm2d + conv2x2/2
(bias), held here by the first unit of the stage it opens; head avg-pool, LayerNorm2d, FC.
Every norm is a layer norm (``Norm.kind == "layer"``): no running statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv, LayerScale, Linear, Norm, Size
from .options import no_options, register_options
from .registry import register_head, register_planner, register_stem
from .scaling import scaled_width
from .steps import Act, AdaptiveAvgPool, Flatten, Permute
from .types import Unit, UnitOptions


@register_options("convnext")
@dataclass(frozen=True)
class ConvNeXtOptions(UnitOptions):
    """What a ConvNeXt unit's module needs beyond its records."""

    kernel: int
    expansion: int
    drop_path: float  # this unit's stochastic-depth rate (already decayed); identity in eval

    @property
    def act(self) -> str:
        return "gelu"


no_options("stem_patchify", "norm_classifier")  # their layer records say everything


def layer_norm(path: str, channels: int, size: Size, eps: float, channels_last: bool = False) -> Norm:
    """A LayerNorm over the channels (torchvision's LayerNorm2d, or nn.LayerNorm on an NHWC map)."""
    return Norm(path, channels, size, eps=eps, kind="layer", channels_last=channels_last)


@register_planner("convnext")
def plan_convnext(block: Any, ctx: UnitContext) -> Unit:
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"convnext unit {ctx.name} needs a width: give `widening` or stage `width`")
    cin, width, size = ctx.in_channels, ctx.width, ctx.in_size
    g = GraphBuilder(cin, size)
    x = INPUT
    if ctx.stride > 1 or cin != width:  # torchvision's downsampling layer, LN then conv with kernel = stride
        down = Conv("down.conv", cin, width, ctx.stride, size, stride=ctx.stride, bias=True, padding=0)
        x = g.chain(x, layer_norm("down.norm", cin, size, block.norm_eps), down)
        size = down.out_size
    hidden = block.expansion * width
    out = g.chain(  # the norm and the two Linears run on the NHWC map (the permutes are views)
        x,
        Conv("dwconv", width, width, block.kernel, size, groups=width, bias=True, padding=block.kernel // 2),
        Permute("to_nhwc", (1, 2, 0)),
        layer_norm("norm", width, size, block.norm_eps, channels_last=True),
        Linear("pwconv1", width, hidden, size=size),
        Act("act", "gelu", inplace=False),
        Linear("pwconv2", hidden, width, size=size),
        Permute("to_nchw", (2, 0, 1)),
        LayerScale("layer_scale", width, size, block.layer_scale),
    )
    sg.residual_add(g, sg.drop_path(g, out, ctx.drop_path), x)
    graph = g.build()
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="convnext",
        in_channels=cin, out_channels=width, in_size=ctx.in_size, out_size=size, stride=ctx.stride,
        inner_channels=hidden, groups=width, shortcut="identity", merge="add", ops=graph.weighted, width=width,
        graph=graph,
        options=ConvNeXtOptions(block.kernel, block.expansion, ctx.drop_path),  # type: ignore[arg-type]
    )


def first_width(spec: Any, width: int | None, base_units: int, units: int) -> int:
    """The first body unit's width (scaled), which a patchify stem takes as its own."""
    rule = spec.body.widening
    if rule is not None and rule.rule in ("additive", "multiplicative") and rule.base is None:
        raise PlanError(("body", "widening", "base"), "a patchify stem takes the first unit's width, so the "
                        f"{rule.rule} widening rule cannot start from the stem's: give it a `base`")
    if width is None:
        raise PlanError(("stem",), "a patchify stem takes the first unit's width: give `widening` or stage `width`")
    return scaled_width(width, spec.scaling, base_units, units)[0]  # type: ignore[return-value]


@register_stem("patchify")
def plan_patchify_stem(stem: Any, cin: int, size: Size, width: int | None) -> Unit:
    """conv patch x patch / patch (bias, no padding) to ``width`` (the first unit's), LayerNorm over channels."""
    if width is None:
        raise PlanError(("stem",), "a patchify stem takes the first unit's width: give `widening` or stage `width`")
    conv = Conv("conv", cin, width, stem.patch, size, stride=stem.patch, bias=True, padding=0)
    if min(conv.out_size) < 1:
        raise PlanError(("stem", "patch"), f"{stem.patch}x{stem.patch} patches leave no map of a "
                        f"{size[0]}x{size[1]} input; use a larger input or a smaller patch")
    g = GraphBuilder(cin, size)
    g.chain(INPUT, conv, layer_norm("norm", width, conv.out_size, stem.norm_eps))
    graph = g.build()
    return Unit("stem", None, 0, "stem_patchify", cin, width, size, conv.out_size, stride=stem.patch,
                ops=graph.weighted, graph=graph)


@register_head("norm_classifier")
def plan_norm_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """Global average pool, LayerNorm over channels (on the 1x1 map), flatten, FC."""
    g = GraphBuilder(channels, size)
    g.chain(INPUT, AdaptiveAvgPool("pool"), layer_norm("norm", channels, (1, 1), head.norm_eps), Flatten("flatten"),
            Linear("fc", channels, classes))
    graph = g.build()
    return Unit("head", None, 0, "norm_classifier", channels, classes, size, (1, 1), ops=graph.weighted, graph=graph)
