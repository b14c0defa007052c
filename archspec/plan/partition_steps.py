"""Attention over windows, shared by MaxViT (Tu et al. 2022) and the Swin Transformer (Liu et al. 2021).

Both cut a map into windows and attend within each: a map is cut into ``G`` windows of ``wh x ww``
pixels, giving ``(G, wh x ww, C)`` tokens (:class:`Partition`), and put back (:class:`Departition`);
after the attention the heads are merged (:class:`MergeHeads`); each head adds a learned bias per
token pair (:class:`RelativePositionBias`, gathered from a ``(2P - 1)^2 x heads`` table by the fixed
:func:`relative_position_index`) to its logits (:class:`BiasAdd`). The families differ in layout
only, which the steps take as parameters: MaxViT's maps are ``(C, H, W)`` and its windows keep the
batch apart (``(B, G, T, C)``), Swin's maps are channels-last ``(H, W, C)`` and fold the batch into the
windows (``(B x G, T, C)``); MaxViT's bias is a module holding its table, Swin's a function of the
unit's table and index.

MaxViT's own steps are here too: block attention takes P x P windows, grid attention takes the
(H / P) x (W / P) windows and swaps the two token axes (a :class:`~archspec.plan.steps.Permute`), so
that each sequence is a sparse P x P grid over the whole map; q, k and v are cut out of one projection
per head (:class:`Heads`), k is scaled (:class:`Scale`, torchvision's ``feat_dim ** -0.5``), the two
matmuls are :class:`~archspec.plan.steps.MatMul` steps. Swin's are in plan/window_steps.py.

Each step owns its facts as in plan/steps.py (shape, generated code, memory, ONNX nodes, label).
Per-sample shapes leave the batch out; the generated code writes it as ``-1``. The copies here
(partitions where they are no views, heads, merged heads) are new tensors whose backward needs nothing saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, ClassVar

from .ops import Shape, Size, module_ref
from .steps import Free, ModuleSpec, elements

# The index's values in plain Python, written once: the text that runs here and that standalone code
# copies (plan/window_steps.py's BUFFER_SOURCE, export/standalone.py), where modules are made without archspec.
INDEX_SOURCE = '''def relative_position_index(window):
    """For tokens a, b of a window x window window (row-major), flat (a, b) row-major: the row of the
    (2W-1)^2 table for their offset, (ia - ib + W - 1) * (2W - 1) + (ja - jb + W - 1) (torchvision's
    Swin ``relative_position_index`` and MaxViT ``_get_relative_position_index``, flattened)."""
    cells = [(i, j) for i in range(window) for j in range(window)]
    span = 2 * window - 1
    return [(ia - ib + window - 1) * span + (ja - jb + window - 1) for ia, ja in cells for ib, jb in cells]
'''
_INDEX: dict[str, Any] = {}
exec(compile(INDEX_SOURCE, "<archspec relative position index>", "exec"), _INDEX)  # archspec's own source, above
relative_position_index = _INDEX["relative_position_index"]


def gather_bias(table: str, index: str, tokens: int | str) -> str:
    """The bias's source, written once for the step's call and MaxViT's module (blocks/layers.py): the rows
    of ``table`` at the flat ``index``, made ``(heads, T, T)`` (a view, a permute, a contiguous copy)."""
    return f"{table}[{index}].view({tokens}, {tokens}, -1).permute(2, 0, 1).contiguous()"


def _grid(size: Size, window: Size) -> Size:
    return size[0] // window[0], size[1] // window[1]


def _map_dims(channels_last: bool) -> tuple[int, ...]:
    """Where the map's axes go when it is viewed as ``(B, gh, wh, gw, ww, C)`` (channels last) or
    ``(B, C, gh, wh, gw, ww)``: the permutation to ``(B, gh, gw, wh, ww, C)``, windows first."""
    return (0, 1, 3, 2, 4, 5) if channels_last else (0, 2, 4, 3, 5, 1)


def _viewable(channels_last: bool, size: Size, window: Size) -> bool:
    """Whether cutting a map into windows (or back) is a view, as torch's reshape of the permuted map: where
    the dims it merges are adjacent in memory, size-1 dims aside. Channels last, that is one window per row
    or one-row windows; channels first (the channels moved last), one window or 1x1 windows (also back from
    grid attention's swapped token axes). tests/test_partition_steps.py holds it to torch's storages."""
    (gh, gw), (wh, ww) = _grid(size, window), window
    if channels_last:
        return gw == 1 or wh == 1
    return (gh == 1 or gw == 1 or wh == 1) and (gw == 1 or wh == 1 or ww == 1)


@dataclass(frozen=True)
class Partition(Free):
    """A ``(C, H, W)`` map (``channels_last``: ``(H, W, C)``), sides multiples of ``window``, to
    ``(G, wh x ww, C)``: the windows in row-major order, each one's pixels row-major (torchvision's
    MaxViT ``WindowPartition``, Swin's ``shifted_window_attention``): reshape, permute, reshape.
    ``fold_batch``: the batch folds into the windows (Swin's ``(B x G, T, C)``; MaxViT keeps
    ``(B, G, T, C)``). A copy unless :func:`_viewable`."""

    path: str
    channels: int
    size: Size
    window: Size
    channels_last: bool = False
    fold_batch: bool = False

    def out_shape(self, *shapes: Shape) -> Shape:
        (gh, gw), (wh, ww) = _grid(self.size, self.window), self.window
        return (gh * gw, wh * ww, self.channels)

    def _split(self) -> list[int]:
        (gh, gw), (wh, ww), c = _grid(self.size, self.window), self.window, self.channels
        return [-1, gh, wh, gw, ww, c] if self.channels_last else [-1, c, gh, wh, gw, ww]

    def _merged(self) -> list[int]:
        g, t, c = self.out_shape()
        return [-1, t, c] if self.fold_batch else [-1, g, t, c]

    def expr(self, args: list[str]) -> str:
        split, perm, merged = (", ".join(map(str, v)) for v in (self._split(), _map_dims(self.channels_last),
                                                                 self._merged()))
        return f"{args[0]}.reshape({split}).permute({perm}).reshape({merged})"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0] if _viewable(self.channels_last, self.size, self.window) else flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        cut = b.node("Reshape", [xs[0], b.ints(self._split())])
        moved = b.node("Transpose", [cut], perm=list(_map_dims(self.channels_last)))
        return b.node("Reshape", [moved, b.ints(self._merged())])

    @property
    def label(self) -> str:
        return f"partition {self.window[0]}\u00d7{self.window[1]}"


@dataclass(frozen=True)
class Departition(Free):
    """``(G, wh x ww, C)`` windows (or the batch folded into them) back to the map of ``size``,
    ``(C, H, W)`` (``channels_last``: ``(H, W, C)``): the :class:`Partition`'s inverse (torchvision's
    MaxViT ``WindowDepartition``; Swin's window reverse): reshape (a view, also of a swapped grid),
    permute, reshape; a copy unless :func:`_viewable`."""

    path: str
    channels: int
    size: Size
    window: Size
    channels_last: bool = False

    def out_shape(self, *shapes: Shape) -> Shape:
        return (*self.size, self.channels) if self.channels_last else (self.channels, *self.size)

    def _split(self) -> list[int]:
        (gh, gw), (wh, ww) = _grid(self.size, self.window), self.window
        return [-1, gh, gw, wh, ww, self.channels]

    def _perm(self) -> list[int]:
        """The inverse of the partition's permutation."""
        forward = _map_dims(self.channels_last)
        return [forward.index(i) for i in range(len(forward))]

    def expr(self, args: list[str]) -> str:
        split, perm, out = (", ".join(map(str, v)) for v in (self._split(), self._perm(), self.out_shape()))
        return f"{args[0]}.reshape({split}).permute({perm}).reshape(-1, {out})"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0] if _viewable(self.channels_last, self.size, self.window) else flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        cut = b.node("Reshape", [xs[0], b.ints(self._split())])
        moved = b.node("Transpose", [cut], perm=self._perm())
        return b.node("Reshape", [moved, b.ints([-1, *self.out_shape()])])

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
    """``(..., heads, T, d)`` back to ``(..., T, heads x d)``: ``transpose(-3, -2).flatten(-2)``, a copy
    unless one head; nothing saved. ``fold_batch``: the batch is folded into the windows (Swin's)."""

    path: str
    fold_batch: bool = False

    def out_shape(self, *shapes: Shape) -> Shape:
        *lead, h, t, d = shapes[0]
        return (*lead, t, h * d)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.transpose(-3, -2).flatten(-2)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0] if ins[0][-3] == 1 else flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        rank = len(ins[0]) + (0 if self.fold_batch else 1)
        moved = b.node("Transpose", [xs[0]], perm=[*range(rank - 3), rank - 2, rank - 3, rank - 1])
        return b.node("Reshape", [moved, b.ints([0] * (rank - 2) + [-1])])

    @property
    def label(self) -> str:
        return "merge heads"


@dataclass(frozen=True)
class RelativePositionBias:
    """The bias each head adds to its window's logits, ``(heads, T, T)`` for ``T = side^2`` tokens,
    batch-independent: rows of a ``(2 side - 1)^2 x heads`` table gathered by the fixed
    :func:`relative_position_index` (torchvision's Swin ``_get_relative_position_bias`` and MaxViT
    ``get_relative_positional_bias`` alike: a gather, a view, a permute, a contiguous copy; the gather's
    backward keeps the index, a buffer, so nothing is saved). :class:`BiasAdd` adds it to the logits.

    Where the table and the index live is the family's:

    - ``groups`` 0 (Swin): a call on its two inputs, the table (a bare parameter of the unit) and the
      index (a persistent buffer). ``v2``: the table is Swin V2's position MLP output (viewed as
      rows first) and the bias ``16 * sigmoid`` of the gathered one, the sigmoid's output saved;
    - ``groups`` > 0 (MaxViT): a module (blocks/layers.py ``RelativePositionBias``) holding the table
      (trunc normal std 0.02, as torchvision's) and the index (not persistent: rebuilt from ``side``),
      called with no input; tools that hook modules see it (torchinfo counts its table). Its adds to
      the logits of ``groups`` windows per sample count as elementwise bias adds, a learned additive
      term (complexity/counting.py)."""

    path: str
    side: int
    heads: int
    groups: int = 0
    v2: bool = False

    macs: ClassVar[int] = 0

    @property
    def owns_table(self) -> bool:
        return self.groups > 0

    @property
    def tokens(self) -> int:
        return self.side * self.side

    @property
    def table_shape(self) -> Shape:
        return ((2 * self.side - 1) ** 2, self.heads)

    @property
    def module(self) -> ModuleSpec | None:
        return ("RelativePositionBias", {"side": self.side, "heads": self.heads}) if self.owns_table else None

    @property
    def tensors(self) -> dict[str, Shape]:
        return {"relative_position_bias_table": self.table_shape} if self.owns_table else {}

    @property
    def params(self) -> int:
        return prod(self.table_shape) if self.owns_table else 0

    @property
    def out_elements(self) -> int:
        """The logits it is added to (MaxViT's): ``groups x heads x T x T`` per sample."""
        return self.groups * self.heads * self.tokens * self.tokens

    @property
    def elementwise(self) -> dict[str, int]:
        return {"bias": self.out_elements} if self.owns_table else {}

    def counted(self, out: Shape) -> dict[str, int]:
        return {}

    def out_shape(self, *shapes: Shape) -> Shape:
        return (self.heads, self.tokens, self.tokens)

    def expr(self, args: list[str]) -> str:
        if self.owns_table:
            return f"{module_ref(self.path)}()"
        table, index = args
        if self.v2:
            table = f"{table}.view(-1, {self.heads})"
        bias = gather_bias(table, index, self.tokens)
        return f"16 * torch.sigmoid({bias})" if self.v2 else bias

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        size = elements(out)
        if self.owns_table:
            flow.emit("layer", self)  # a module with a parameter: the tools that count by module see it
        gathered = flow.new(size, per_sample=False)  # the gather
        flow.step(tuple(xs), gathered)
        bias = flow.new(size, per_sample=False)  # the contiguous copy
        flow.step((gathered,), bias)
        if not self.v2:
            return bias
        sig = flow.new(size, per_sample=False)
        flow.step((bias,), sig)
        flow.save(sig)
        scaled = flow.new(size, per_sample=False)
        flow.step((sig,), scaled)
        return scaled

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        if self.owns_table:
            table, index = b.param(self.path, "relative_position_bias_table"), b.ints(relative_position_index(self.side))
        else:
            table, index = xs
        if self.v2:
            table = b.node("Reshape", [table, b.ints([-1, self.heads])])
        rows = b.node("Gather", [table, index], axis=0)
        square = b.node("Reshape", [rows, b.ints([self.tokens, self.tokens, self.heads])])
        bias = b.node("Transpose", [square], perm=[2, 0, 1])
        if self.v2:
            bias = b.node("Mul", [b.node("Sigmoid", [bias]), b.scalar(16.0)])
        return bias

    @property
    def label(self) -> str:
        if self.v2:
            return "16\u00b7sigmoid(cpb bias)"
        return f"relative bias {self.side}\u00d7{self.side}" if self.owns_table else "relative position bias"


@dataclass(frozen=True)
class BiasAdd(Free):
    """Attention logits ``(..., heads, T, T)`` plus a batch-independent bias broadcast over them: the
    relative position bias ``(heads, T, T)``, or Swin's shift mask ``(1, nW, 1, T, T)`` added per window
    (``windows`` > 0: the batch folded into the windows is unfolded, the mask added, folded back). A
    new tensor, nothing saved."""

    path: str
    windows: int = 0  # > 0: the mask, added per window of the sample

    def expr(self, args: list[str]) -> str:
        x, bias = args
        if not self.windows:
            return f"{x} + {bias}"
        return f"({x}.unflatten(0, (-1, {self.windows})) + {bias}).flatten(0, 1)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.merge("add", (xs[0], xs[1]), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        x, bias = xs
        if not self.windows:
            return b.node("Add", [x, bias])
        windows, heads, n, _ = ins[0]
        split = b.node("Reshape", [x, b.ints([-1, windows, heads, n, n])])
        return b.node("Reshape", [b.node("Add", [split, bias]), b.ints([-1, heads, n, n])])

    @property
    def label(self) -> str:
        return "+ shift mask" if self.windows else "+ position bias"
