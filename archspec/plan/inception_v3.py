"""Inception-v3's modules (A to E) as branches of conv-BN-ReLU chains, one unit per row.

The module types differ only in their branches, so each is one table here
(:data:`LAYOUTS`, the one place the type is dispatched on): per branch, an optional
pool first, a chain of convs, and optionally two convs side by side on the chain's
output whose outputs are concatenated (InceptionE). The unit's graph follows the table
branch by branch; the converter reads the unit's :class:`InceptionV3Options` and never
the module type's layout. Op paths are torchvision's module names (``branch7x7dbl_3.conv``), so the
checkpoint's names are the unit's prefix and the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from . import steps
from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder
from .ops import Op, Size, Window
from .options import Pool, register_options
from .parts import conv_norm
from .registry import register_planner
from .types import Unit, UnitOptions

ModuleType = Literal["a", "b", "c", "d", "e"]
AVG_POOL = Pool("avg", 3, 1, 1, False)  # F.avg_pool2d(x, 3, stride=1, padding=1), count_include_pad
MAX_POOL = Pool("max", 3, 2, 0, False)  # F.max_pool2d(x, 3, stride=2)
REDUCING = ("b", "d")  # the grid-reduction modules: they take the stage's stride 2


@dataclass(frozen=True)
class BranchConv:
    """One BasicConv2d of a branch: its torchvision name, width, kernel and stride (unpadded when strided)."""

    name: str
    width: int
    kernel: Window = 1
    stride: int = 1


@dataclass(frozen=True)
class Branch:
    """A pool (or none), a chain of convs, then optionally convs side by side whose outputs are concatenated."""

    pool: Pool | None
    chain: tuple[str, ...]
    split: tuple[str, ...] = ()


@register_options("inception_v3")
@dataclass(frozen=True)
class InceptionV3Options(UnitOptions):
    module: ModuleType
    branches: tuple[Branch, ...]

    @property
    def pool(self) -> Pool | None:
        """The module's one pooling window (every type has exactly one pool branch)."""
        return next(b.pool for b in self.branches if b.pool is not None)


Layout = tuple[tuple[Pool | None, tuple[BranchConv, ...], tuple[BranchConv, ...]], ...]


def _a(m: Any) -> Layout:
    return ((None, (BranchConv("branch1x1", m.branch1x1),), ()),
            (None, (BranchConv("branch5x5_1", m.branch5x5[0]), BranchConv("branch5x5_2", m.branch5x5[1], 5)), ()),
            (None, _chain("branch3x3dbl", m.branch3x3dbl, [1, 3, 3]), ()),
            (AVG_POOL, (BranchConv("branch_pool", m.branch_pool),), ()))


def _b(m: Any) -> Layout:
    r, mid, out = m.branch3x3dbl
    return ((None, (BranchConv("branch3x3", m.branch3x3, 3, 2),), ()),
            (None, (BranchConv("branch3x3dbl_1", r), BranchConv("branch3x3dbl_2", mid, 3),
                    BranchConv("branch3x3dbl_3", out, 3, 2)), ()),
            (MAX_POOL, (), ()))


def _c(m: Any) -> Layout:
    return ((None, (BranchConv("branch1x1", m.branch1x1),), ()),
            (None, _chain("branch7x7", m.branch7x7, [1, (1, 7), (7, 1)]), ()),
            (None, _chain("branch7x7dbl", m.branch7x7dbl, [1, (7, 1), (1, 7), (7, 1), (1, 7)]), ()),
            (AVG_POOL, (BranchConv("branch_pool", m.branch_pool),), ()))


def _d(m: Any) -> Layout:
    r, out = m.branch3x3
    r7, a, b, out7 = m.branch7x7x3
    return ((None, (BranchConv("branch3x3_1", r), BranchConv("branch3x3_2", out, 3, 2)), ()),
            (None, (BranchConv("branch7x7x3_1", r7), BranchConv("branch7x7x3_2", a, (1, 7)),
                    BranchConv("branch7x7x3_3", b, (7, 1)), BranchConv("branch7x7x3_4", out7, 3, 2)), ()),
            (MAX_POOL, (), ()))


def _e(m: Any) -> Layout:
    r, half = m.branch3x3
    rd, mid, half_dbl = m.branch3x3dbl
    return ((None, (BranchConv("branch1x1", m.branch1x1),), ()),
            (None, (BranchConv("branch3x3_1", r),), _halves("branch3x3_2", half)),
            (None, (BranchConv("branch3x3dbl_1", rd), BranchConv("branch3x3dbl_2", mid, 3)),
             _halves("branch3x3dbl_3", half_dbl)),
            (AVG_POOL, (BranchConv("branch_pool", m.branch_pool),), ()))


def _chain(name: str, widths: tuple[int, ...], kernels: list[Window]) -> tuple[BranchConv, ...]:
    return tuple(BranchConv(f"{name}_{i + 1}", w, k) for i, (w, k) in enumerate(zip(widths, kernels)))


def _halves(name: str, width: int) -> tuple[BranchConv, ...]:
    return BranchConv(f"{name}a", width, (1, 3)), BranchConv(f"{name}b", width, (3, 1))


LAYOUTS: dict[str, Callable[[Any], Layout]] = {"a": _a, "b": _b, "c": _c, "d": _d, "e": _e}


@register_planner("inception_v3")
def plan_inception_v3(block: Any, ctx: UnitContext) -> Unit:
    if ctx.index >= len(block.modules):
        raise PlanError(ctx.block_path + ("modules",),
                        f"unit {ctx.name} has no row in the {len(block.modules)}-row table")
    if ctx.width is not None:
        raise PlanError(("body", "widening"), f"inception_v3 units take their widths from the `modules` table "
                        f"({ctx.name} was given {ctx.width}); remove `widening` and per-stage `width`")
    module = block.modules[ctx.index]
    _check_stride(module.type, ctx)
    cin, size = ctx.in_channels, ctx.in_size
    g = GraphBuilder(cin, size)

    def conv_relu(conv: BranchConv, x: str) -> str:
        c, h, w = g.shape(x)
        return sg.layers_act(g, x, _conv(conv, c, (h, w), block.bn_eps), "relu", f"{conv.name}.act")

    branches: list[Branch] = []
    outputs: list[str] = []
    for pool, chain, split in LAYOUTS[module.type](module):  # in torchvision's forward order
        y = INPUT
        if pool is not None:  # the module's one pool (every type has exactly one pool branch)
            y = g.add(steps.Pool("pool", pool.kind, pool.kernel, pool.stride, pool.padding, pool.ceil), y)
        for conv in chain:
            y = conv_relu(conv, y)
        if split:
            y = g.add(steps.Concat(f"{split[0].name[:-1]}.cat"), *[conv_relu(conv, y) for conv in split])
        outputs.append(y)
        branches.append(Branch(pool, tuple(conv.name for conv in chain), tuple(conv.name for conv in split)))
    g.add(steps.Concat("cat"), *outputs)
    graph = g.build()
    out_channels, *out_size = graph.nodes[-1].shape
    return Unit(
        name=ctx.name, stage=ctx.stage, index=ctx.index, block="inception_v3",
        in_channels=cin, out_channels=out_channels, in_size=size, out_size=tuple(out_size), stride=ctx.stride,
        merge="concat", ops=graph.weighted, width=ctx.width, graph=graph,
        options=InceptionV3Options(module.type, tuple(branches)),  # type: ignore[arg-type]
    )


def _conv(conv: BranchConv, cin: int, size: Size, eps: float | None) -> list[Op]:
    """conv-BN; strided convs pad nothing (torchvision's reductions), the others keep the size."""
    padding = 0 if conv.stride > 1 else None
    return conv_norm(conv.name, cin, conv.width, conv.kernel, size, stride=conv.stride, eps=eps, padding=padding)


def _check_stride(module: str, ctx: UnitContext) -> None:
    where = ("body", "stages", ctx.stage, "stride")
    if module in REDUCING and ctx.stride != 2:
        at = (f"stage {ctx.stage} strides it by {ctx.stride}" if ctx.index == 0 else
              f"it is unit {ctx.index} of stage {ctx.stage}, and only a stage's first unit takes its stride")
        raise PlanError(where, f"{ctx.name} is a grid-reduction module ({module}), which halves the grid with 3x3/2 "
                               f"convs and pool, but {at}; a {module} module opens a stage with `stride: 2` "
                               "(and the default `downsample: strided`)")
    if module not in REDUCING and ctx.stride != 1:
        raise PlanError(where, f"{ctx.name} is an {module} module, which keeps the grid, but stage {ctx.stage} strides "
                               f"it by {ctx.stride}; a stride-2 stage opens with a grid-reduction module (b or d)")
