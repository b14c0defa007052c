"""MaxViT's steps (Tu et al. 2022, torchvision's ``MaxVit``): partitions, per-window heads, the relative bias.

MaxViT attends within windows: a ``(C, H, W)`` map is cut into ``G`` windows of ``wh x ww``
pixels, giving ``(G, wh x ww, C)`` tokens (:class:`Partition`); block attention takes P x P
windows, grid attention takes the (H / P) x (W / P) windows and swaps the two token axes
(a :class:`~archspec.plan.steps.Permute`), so that each sequence is a sparse P x P grid over the
whole map. :class:`Departition` puts the map back together. Inside the attention, q, k and v are
cut out of one projection per head (:class:`Heads`), k is scaled (:class:`Scale`, torchvision's
``feat_dim ** -0.5``), the two matmuls are :class:`~archspec.plan.steps.MatMul` steps, and
:class:`RelativePositionBias` adds a learned bias per head, gathered from a ``(2P - 1)^2 x heads``
table by a fixed index.

Each step owns its facts as in plan/steps.py (shape, generated code, memory, ONNX nodes, label).
Per-sample shapes leave the batch out; the generated code writes it as ``-1``. The copies here
(partitions, heads, merged heads) are new tensors whose backward needs nothing saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ops import Shape, Size, Weighted, module_ref
from .steps import Free, ModuleSpec, elements


def _grid(size: Size, window: Size) -> Size:
    return size[0] // window[0], size[1] // window[1]


@dataclass(frozen=True)
class Partition(Free):
    """A ``(C, H, W)`` map to ``(G, wh x ww, C)``: the ``wh x ww`` windows in row-major order, each
    one's pixels row-major (torchvision's ``WindowPartition``): reshape, permute, reshape (a copy)."""

    path: str
    channels: int
    size: Size
    window: Size

    def out_shape(self, *shapes: Shape) -> Shape:
        (gh, gw), (wh, ww) = _grid(self.size, self.window), self.window
        return (gh * gw, wh * ww, self.channels)

    def expr(self, args: list[str]) -> str:
        (gh, gw), (wh, ww), c = _grid(self.size, self.window), self.window, self.channels
        return (f"{args[0]}.reshape(-1, {c}, {gh}, {wh}, {gw}, {ww}).permute(0, 2, 4, 3, 5, 1)"
                f".reshape(-1, {gh * gw}, {wh * ww}, {c})")

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        (gh, gw), (wh, ww), c = _grid(self.size, self.window), self.window, self.channels
        cut = b.node("Reshape", [xs[0], b.ints([-1, c, gh, wh, gw, ww])])
        moved = b.node("Transpose", [cut], perm=[0, 2, 4, 3, 5, 1])
        return b.node("Reshape", [moved, b.ints([-1, gh * gw, wh * ww, c])])

    @property
    def label(self) -> str:
        return f"partition {self.window[0]}\u00d7{self.window[1]}"


@dataclass(frozen=True)
class Departition(Free):
    """``(G, wh x ww, C)`` windows back to the ``(C, H, W)`` map (torchvision's ``WindowDepartition``):
    reshape (a view, also of a swapped grid), permute, reshape (a copy)."""

    path: str
    channels: int
    size: Size
    window: Size

    def out_shape(self, *shapes: Shape) -> Shape:
        return (self.channels, *self.size)

    def expr(self, args: list[str]) -> str:
        (gh, gw), (wh, ww), c = _grid(self.size, self.window), self.window, self.channels
        return (f"{args[0]}.reshape(-1, {gh}, {gw}, {wh}, {ww}, {c}).permute(0, 5, 1, 3, 2, 4)"
                f".reshape(-1, {c}, {self.size[0]}, {self.size[1]})")

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        (gh, gw), (wh, ww), c = _grid(self.size, self.window), self.window, self.channels
        cut = b.node("Reshape", [xs[0], b.ints([-1, gh, gw, wh, ww, c])])
        moved = b.node("Transpose", [cut], perm=[0, 5, 1, 3, 2, 4])
        return b.node("Reshape", [moved, b.ints([-1, c, *self.size])])

    @property
    def label(self) -> str:
        return "departition"


@dataclass(frozen=True)
class Heads(Free):
    """Part ``index`` (q 0, k 1, v 2) of a ``(..., T, 3 x D)`` projection as ``(..., heads, T, D / heads)``,
    copied contiguous (torchvision: chunk, reshape, permute). The copy makes the matmuls' operands
    contiguous whatever the batch, so that what they save is the same storage at every batch size."""

    path: str
    heads: int
    index: int

    def out_shape(self, *shapes: Shape) -> Shape:
        *lead, t, width = shapes[0]
        return (*lead, self.heads, t, width // (3 * self.heads))

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.chunk(3, -1)[{self.index}].unflatten(-1, ({self.heads}, -1)).transpose(-3, -2).contiguous()"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """Slice the part off the last axis, split it into heads, swap the heads before the tokens."""
        width = ins[0][-1] // 3
        rank = len(ins[0]) + 1  # with the batch
        part = b.node("Slice", [xs[0], b.ints([self.index * width]), b.ints([(self.index + 1) * width]),
                                b.ints([rank - 1])])
        split = b.node("Reshape", [part, b.ints([0] * (rank - 1) + [self.heads, -1])])
        return b.node("Transpose", [split], perm=[*range(rank - 2), rank - 1, rank - 2, rank])

    @property
    def label(self) -> str:
        return f"{'qkv'[self.index]}: {self.heads} heads"


@dataclass(frozen=True)
class Scale(Free):
    """``x * factor``, a Python number (torchvision's MaxViT scales k by ``feat_dim ** -0.5``): a new
    tensor; nothing saved (the factor is no tensor)."""

    path: str
    factor: float

    def expr(self, args: list[str]) -> str:
        return f"{args[0]} * {self.factor!r}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Mul", [xs[0], b.scalar(self.factor)])

    @property
    def label(self) -> str:
        return f"\u00d7 {self.factor:.4g}"


@dataclass(frozen=True)
class MergeHeads(Free):
    """``(..., heads, T, d)`` back to ``(..., T, heads x d)``: ``transpose(-3, -2).flatten(-2)``, a copy."""

    path: str

    def out_shape(self, *shapes: Shape) -> Shape:
        *lead, h, t, d = shapes[0]
        return (*lead, t, h * d)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.transpose(-3, -2).flatten(-2)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        rank = len(ins[0]) + 1
        moved = b.node("Transpose", [xs[0]], perm=[*range(rank - 3), rank - 2, rank - 3, rank - 1])
        return b.node("Reshape", [moved, b.ints([0] * (rank - 2) + [-1])])

    @property
    def label(self) -> str:
        return "merge heads"


def relative_position_index(side: int) -> list[list[int]]:
    """For tokens ``i`` and ``j`` of a ``side x side`` window (row-major), the row of the bias table
    for their offset: ``(dy + side - 1) * (2 side - 1) + dx + side - 1`` (torchvision's
    ``_get_relative_position_index``)."""
    span = 2 * side - 1
    cells = [(i // side, i % side) for i in range(side * side)]
    return [[(yi - yj + side - 1) * span + xi - xj + side - 1 for yj, xj in cells] for yi, xi in cells]


@dataclass(frozen=True)
class RelativePositionBias(Weighted):
    """Adds a learned bias per head and token pair to attention scores ``(..., heads, T, T)``,
    ``T = side^2``: the ``(2 side - 1)^2 x heads`` table (a parameter, trunc normal std 0.02 as
    torchvision's) gathered by the fixed :func:`relative_position_index` (a buffer, not saved:
    module state), made ``(heads, T, T)`` (a copy), added (a new tensor; nothing saved).

    The module (blocks/layers.py ``RelativePositionBias``) holds the table and the index and
    returns the gathered bias; the add is in the generated forward."""

    path: str
    side: int
    heads: int
    groups: int  # sequences per sample (windows): the scores it adds to are groups x heads x T x T

    @property
    def module(self) -> ModuleSpec:
        return "RelativePositionBias", {"side": self.side, "heads": self.heads}

    @property
    def tokens(self) -> int:
        return self.side * self.side

    def expr(self, args: list[str]) -> str:
        return f"{args[0]} + {module_ref(self.path)}()"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        flow.emit("layer", self)  # a module with a parameter: the tools that count by module see it
        bias = flow.new(self.heads * self.tokens * self.tokens, per_sample=False)
        flow.step((), bias)
        return flow.merge("add", (xs[0], bias), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        t = self.tokens
        flat = [i for row in relative_position_index(self.side) for i in row]
        gathered = b.node("Gather", [b.param(self.path, "relative_position_bias_table"), b.ints(flat)], axis=0)
        bias = b.node("Transpose", [b.node("Reshape", [gathered, b.ints([t, t, self.heads])])], perm=[2, 0, 1])
        return b.node("Add", [xs[0], bias])

    @property
    def params(self) -> int:
        return (2 * self.side - 1) ** 2 * self.heads

    macs = 0

    @property
    def tensors(self) -> dict[str, Shape]:
        return {"relative_position_bias_table": ((2 * self.side - 1) ** 2, self.heads)}

    @property
    def out_elements(self) -> int:
        return self.groups * self.heads * self.tokens * self.tokens

    @property
    def elementwise(self) -> dict[str, int]:
        """One add per score, a learned additive term (counted with the biases, as a position embedding)."""
        return {"bias": self.out_elements}

    @property
    def label(self) -> str:
        return f"+ relative bias {self.side}\u00d7{self.side}"
