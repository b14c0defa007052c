"""Unit planners for the residual families: basic, bottleneck, pre-activation, PyramidNet.

Each does the channel arithmetic, makes the layer records, and wires them into the unit's
graph (plan/graph.py) in the order its forward runs: the branch, squeeze-excite, stochastic
depth, the shortcut (before the branch in the pre-activation kinds, which may project the
shared pre-activation), the add, and the ReLU after it where the kind has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec.blocks import StrideOn
from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Conv, DeformConv, Norm, Op, Size
from .options import register_options
from .registry import register_planner
from .shortcuts import plan_shortcut
from .types import Unit, UnitOptions


@register_options("basic", "preact_basic", "pyramid", "pyramid_bottleneck")
@dataclass(frozen=True)
class ResidualUnitOptions(UnitOptions):
    """What a residual unit needs beyond its layers (the network's init and the reports read these)."""

    dropout: float  # between the branch's convs (Wide ResNet)
    drop_path: float  # this unit's stochastic-depth rate, already decayed
    zero_init_last_bn: bool  # zero the branch's last BN at init (torchvision's zero_init_residual)
    se: bool  # squeeze-excite on the branch output (its layers are ``se.fc1``/``se.fc2``)
    last_bn: str | None  # the branch's last layer when it is a BN; pre-activation ends in a conv


@register_options("bottleneck", "preact_bottleneck")
@dataclass(frozen=True)
class BottleneckUnitOptions(ResidualUnitOptions):
    """A bottleneck's options: also which conv strides (the converter accepts torchvision's 3x3 only)."""

    stride_on: StrideOn


def se_ops(block: Any, channels: int) -> tuple[Op, ...]:
    """Squeeze-and-excitation as two biased 1x1 convs on the pooled 1x1 map."""
    if block.se is None:
        return ()
    hidden = channels // block.se.reduction
    if hidden < 1:
        raise PlanError(("se", "reduction"), f"reduction {block.se.reduction} leaves no channels of {channels}")
    one: Size = (1, 1)
    return (Conv("se.fc1", channels, hidden, 1, one, bias=True), Conv("se.fc2", hidden, channels, 1, one, bias=True))


def check_groups(ctx: UnitContext, groups: int, *channels: int) -> None:
    for c in channels:
        if c % groups:
            raise PlanError(
                ctx.block_path + ("groups",),
                f"groups={groups} does not divide the width {c} of unit {ctx.name}; "
                "choose groups that divide every width of the stage",
            )


def residual_unit(
    block: Any, ctx: UnitContext, out: int, ops: list[Op], inner: int | None = None, groups: int = 1
) -> Unit:
    """Finish a residual unit from its branch (``ops`` in order, each BN followed by a ReLU unless it
    is the branch's last layer or precedes a conv in a PyramidNet): SE, shortcut, graph, options."""
    path = ctx.block_path
    try:
        se = se_ops(block, out)
    except PlanError as exc:
        raise PlanError(path + exc.path, exc.message) from None
    kind, short = plan_shortcut(ctx.shortcut, ctx.in_channels, out, ctx.stride, ctx.in_size, ctx.shortcut_path)
    graph = _graph(block, ctx, ops, se, kind, short, out)
    return Unit(
        name=ctx.name,
        stage=ctx.stage,
        index=ctx.index,
        block=block.type,
        in_channels=ctx.in_channels,
        out_channels=out,
        in_size=ctx.in_size,
        out_size=graph.nodes[-1].shape[1:],
        stride=ctx.stride,
        inner_channels=inner,
        groups=groups,
        shortcut=kind,
        merge="add",
        ops=graph.weighted,
        width=ctx.width,
        options=_options(block, ctx, ops),
        graph=graph,
    )


# Where each kind's branch has its ReLUs and its dropout: after the named layers.
_RELU_AFTER = {
    "basic": ("bn1",), "bottleneck": ("bn1", "bn2"), "preact_basic": ("bn2",),
    "preact_bottleneck": ("bn2", "bn3"), "pyramid": ("bn2",), "pyramid_bottleneck": ("bn2", "bn3"),
}
_DROPOUT_AFTER = {
    "basic": "bn1", "bottleneck": "bn2", "preact_basic": "bn2", "preact_bottleneck": "bn3",
    "pyramid": "bn2", "pyramid_bottleneck": "bn3",
}


def _graph(block: Any, ctx: UnitContext, ops: list[Op], se: tuple[Op, ...], kind: str, short: tuple[Op, ...],
           out: int) -> Any:
    g = GraphBuilder(ctx.in_channels, ctx.in_size)
    preact = block.type.startswith("preact")
    relus = iter(range(1, 10))
    relu_after, dropout_after = _RELU_AFTER[block.type], _DROPOUT_AFTER[block.type]
    x, branch, short_value = INPUT, list(ops), None
    if preact:  # the shared BN-ReLU; the shortcut first, on it where the projection reads it
        x = g.add(branch.pop(0), x)
        x = g.add(sg.Act(f"relu{next(relus)}", "relu"), x)
        source = x if kind == "preact_projection" else INPUT
        short_value = sg.shortcut(g, source, kind, ctx.stride, out - ctx.in_channels, short)
    for op in branch:
        x = g.add(op, x)
        if op.path in relu_after:
            x = g.add(sg.Act(f"relu{next(relus)}", "relu"), x)
        if op.path == dropout_after:
            x = sg.dropout(g, x, block.dropout)
    if se:
        x = sg.squeeze_excite(g, x, *se)
    x = sg.drop_path(g, x, ctx.drop_path)
    if short_value is None:
        short_value = sg.shortcut(g, INPUT, kind, ctx.stride, out - ctx.in_channels, short)
    x = sg.residual_add(g, x, short_value)
    if not preact and not block.type.startswith("pyramid"):
        x = g.add(sg.Act(f"relu{next(relus)}", "relu"), x)
    return g.build()


def _options(block: Any, ctx: UnitContext, ops: list[Op]) -> ResidualUnitOptions:
    common = dict(dropout=block.dropout, drop_path=ctx.drop_path, zero_init_last_bn=block.zero_init_last_bn,
                  se=block.se is not None, last_bn=_last_norm(ops))
    if block.type in ("bottleneck", "preact_bottleneck"):
        return BottleneckUnitOptions(**common, stride_on=block.stride_on)
    return ResidualUnitOptions(**common)


def _last_norm(ops: list[Op]) -> str | None:
    """The branch's last layer when it is a BN (zero-init target); pre-activation ends in a conv."""
    branch = [op for op in ops if not op.path.startswith("se.")]
    return branch[-1].path if isinstance(branch[-1], Norm) else None


def _check_zero_init(block: Any, ctx: UnitContext, preact: bool) -> None:
    if preact and block.zero_init_last_bn:
        raise PlanError(
            ctx.block_path + ("zero_init_last_bn",),
            "pre-activation blocks end with a conv, not a BN: there is no last BN to zero-initialise",
        )


def _conv3x3(block: Any) -> type[Conv]:
    """The record type of the block's (last) 3x3 conv: deformable where the spec asks."""
    return DeformConv if getattr(block, "deformable", False) else Conv


def _width(ctx: UnitContext) -> int:
    if ctx.width is None:
        raise PlanError(("body", "widening"), f"unit {ctx.name} needs a width: give `body.widening` or stage `width`")
    if ctx.width < 1:
        raise PlanError(ctx.block_path, f"unit {ctx.name} gets width {ctx.width}; widths must be >= 1")
    return ctx.width


def _basic(block: Any, ctx: UnitContext, preact: bool) -> Unit:
    w, cin, size = _width(ctx), ctx.in_channels, ctx.in_size
    _check_zero_init(block, ctx, preact)
    groups = block.groups
    check_groups(ctx, groups, cin, w)
    conv1 = Conv("conv1", cin, w, 3, size, stride=ctx.stride, groups=groups)
    conv2 = _conv3x3(block)("conv2", w, w, 3, conv1.out_size, groups=groups)
    if preact:
        ops = [Norm("bn1", cin, size), conv1, Norm("bn2", w, conv1.out_size), conv2]
    else:
        ops = [conv1, Norm("bn1", w, conv1.out_size), conv2, Norm("bn2", w, conv2.out_size)]
    return residual_unit(block, ctx, w, ops, groups=groups)


def _bottleneck(block: Any, ctx: UnitContext, preact: bool) -> Unit:
    w, cin, size = _width(ctx), ctx.in_channels, ctx.in_size
    _check_zero_init(block, ctx, preact)
    inner = (w * block.base_width // 64) * block.groups
    if inner < 1:
        raise PlanError(ctx.block_path + ("base_width",), f"base_width {block.base_width} leaves no inner width at width {w}")
    out = w * block.expansion
    s1, s3 = (ctx.stride, 1) if block.stride_on == "1x1" else (1, ctx.stride)
    conv1 = Conv("conv1", cin, inner, 1, size, stride=s1, padding=0)
    conv2 = _conv3x3(block)("conv2", inner, inner, 3, conv1.out_size, stride=s3, groups=block.groups)
    conv3 = Conv("conv3", inner, out, 1, conv2.out_size, padding=0)
    if preact:
        ops = [Norm("bn1", cin, size), conv1, Norm("bn2", inner, conv1.out_size), conv2,
               Norm("bn3", inner, conv2.out_size), conv3]
    else:
        ops = [conv1, Norm("bn1", inner, conv1.out_size), conv2, Norm("bn2", inner, conv2.out_size),
               conv3, Norm("bn3", out, conv3.out_size)]
    return residual_unit(block, ctx, out, ops, inner=inner, groups=block.groups)


def _pyramid(block: Any, ctx: UnitContext) -> Unit:
    w, cin, size = _width(ctx), ctx.in_channels, ctx.in_size
    conv1 = Conv("conv1", cin, w, 3, size, stride=ctx.stride)
    conv2 = Conv("conv2", w, w, 3, conv1.out_size)
    ops = [Norm("bn1", cin, size), conv1, Norm("bn2", w, conv1.out_size), conv2, Norm("bn3", w, conv2.out_size)]
    return residual_unit(block, ctx, w, ops)


def _pyramid_bottleneck(block: Any, ctx: UnitContext) -> Unit:
    w, cin, size = _width(ctx), ctx.in_channels, ctx.in_size
    out = w * block.expansion
    conv1 = Conv("conv1", cin, w, 1, size, padding=0)
    conv2 = Conv("conv2", w, w, 3, size, stride=ctx.stride)
    conv3 = Conv("conv3", w, out, 1, conv2.out_size, padding=0)
    ops = [Norm("bn1", cin, size), conv1, Norm("bn2", w, size), conv2, Norm("bn3", w, conv2.out_size),
           conv3, Norm("bn4", out, conv3.out_size)]
    return residual_unit(block, ctx, out, ops, inner=w)


# Position-free: the residual kinds read the unit's place only for its name and errors.
register_planner("basic", position_free=True)(lambda block, ctx: _basic(block, ctx, preact=False))
register_planner("preact_basic", position_free=True)(lambda block, ctx: _basic(block, ctx, preact=True))
register_planner("bottleneck", position_free=True)(lambda block, ctx: _bottleneck(block, ctx, preact=False))
register_planner("preact_bottleneck", position_free=True)(lambda block, ctx: _bottleneck(block, ctx, preact=True))
register_planner("pyramid", position_free=True)(_pyramid)
register_planner("pyramid_bottleneck", position_free=True)(_pyramid_bottleneck)
