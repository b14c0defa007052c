"""The Swin Transformer's steps (Liu et al. 2021, 2022): windows, shifts, masks and position biases.

Each is a step of a unit's graph (see plan/steps.py for what a step owns), written as torchvision's
``shifted_window_attention`` computes it. Swin's maps are channels-last: a per-sample ``(H, W, C)``
shape. Inside the attention a map is cut into ``nW`` windows of ``N = window x window`` tokens; the
batch then folds into the windows (a ``(B x nW, N, C)`` tensor), whose per-sample shape is
``(nW, N, C)``. What Swin shares with MaxViT (the partition into windows and back, merging the heads,
the relative position bias and adding it) is in plan/partition_steps.py, with the layout as parameters.

Some values do not grow with the batch: the relative position bias gathered from its table, Swin V2's
continuous position bias MLP over its coordinate table and its logit scale. Their steps say so to
the memory model (``per_sample=False`` tensors); parameters and buffers are state, never activations,
and enter the memory model as empty tensors.

The attention's operands are made contiguous by explicit ``.contiguous()`` calls where torch's
``matmul`` would copy them anyway (q, k and v are strided views of the qkv projection): torch folds a
batch of size 1 without copying, so relying on its implicit copy would make what backward keeps depend
on the batch size. The copies are the same tensors, so the saved bytes are torchvision's at any batch
of more than one window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from math import prod
from typing import Any, ClassVar

from .ops import Linear, Shape, Weighted, module_ref
from .partition_steps import INDEX_SOURCE, relative_position_index
from .steps import Free, MatMul, elements

LOG_100 = math.log(100.0)  # Swin V2 clamps the logit scale to at most log(100) before exp


def _op(flow: Any, reads: tuple[int, ...], size: int, per_sample: bool = True, saves: tuple[int, ...] = ()) -> int:
    """A step making a new tensor of ``size`` elements (per sample, or in all); ``saves`` among reads
    (``-1``: its output). ``Flow.op`` makes per-sample tensors only."""
    out = flow.new(size, per_sample=per_sample)
    flow.step(reads, out)
    flow.save(*(out if s == -1 else s for s in saves))
    return out


def _state(flow: Any) -> int:
    """A parameter or buffer in the memory model: state, not an activation (no bytes)."""
    return flow.new(0, per_sample=False)


# -- state: bare parameters and buffers ------------------------------------------------------

@dataclass(frozen=True)
class TableParam(Weighted):
    """A bare parameter of the unit read by later steps (Swin's ``relative_position_bias_table``,
    ``(2W-1)^2 x heads``; Swin V2's ``logit_scale``, ``heads x 1 x 1``): no input, no MACs.
    ``init``: how blocks/init.py fills it (``("trunc_normal", 0.02)``, ``("fill", log 10)``)."""

    path: str
    shape: Shape
    init: tuple[str, float]
    bare_parameter: ClassVar[bool] = True
    macs: ClassVar[int] = 0
    out_elements: ClassVar[int] = 0
    elementwise: ClassVar[dict[str, int]] = {}

    def out_shape(self, *shapes: Shape) -> Shape:
        return self.shape

    @property
    def params(self) -> int:
        return prod(self.shape)

    @property
    def tensors(self) -> dict[str, Shape]:
        return {"": self.shape}

    def expr(self, args: list[str]) -> str:
        return module_ref(self.path)

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return _state(flow)

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.param(self.path, "")

    @property
    def label(self) -> str:
        return "parameter " + "\u00d7".join(map(str, self.shape))


# The buffers' values, in plain Python: written once, as the text that both runs here and is copied into
# standalone code (export/standalone.py), where a network's modules are made without archspec. The index
# is the one MaxViT's bias gathers by too (plan/partition_steps.py).
BUFFER_SOURCE = INDEX_SOURCE + '''

def log_spaced_coords(window):
    """Swin V2's ``relative_coords_table`` (1, 2W-1, 2W-1, 2): each offset (dh, dw) scaled to [-8, 8]
    by 8 / (W - 1), then sign(v) * log2(|v| + 1) / 3."""
    out = []
    offsets = range(-(window - 1), window)
    for dh in offsets:
        for dw in offsets:
            for d in (dh, dw):
                v = d / (window - 1) * 8
                out.append(math.copysign(math.log2(abs(v) + 1.0) / 3.0, v) if v else 0.0)
    return out


def shifted_window_mask(size, window, shift):
    """torchvision's attention mask of a shifted window, (nW, N, N) flat: the padded map cut into
    three bands per axis ([0, -W), [-W, -shift), [-shift, end)), each cell its band pair's id, and
    -100 where two tokens of a window come from different regions (0 where the same)."""
    (h, w), (sh, sw) = size, shift

    def band(i, n, s):
        return 0 if i < n - window else (1 if i < n - s else 2)

    region = [[band(i, h, sh) * 3 + band(j, w, sw) for j in range(w)] for i in range(h)]
    out = []
    for wi in range(h // window):
        for wj in range(w // window):
            ids = [region[wi * window + a][wj * window + c] for a in range(window) for c in range(window)]
            out.extend(0.0 if p == q else -100.0 for p in ids for q in ids)
    return out
'''
_BUFFERS: dict[str, Any] = {"math": math}
exec(compile(BUFFER_SOURCE, "<archspec window buffers>", "exec"), _BUFFERS)  # archspec's own source, above
log_spaced_coords = _BUFFERS["log_spaced_coords"]
shifted_window_mask = lru_cache(maxsize=32)(_BUFFERS["shifted_window_mask"])  # the same mask for every block


@dataclass(frozen=True)
class WindowBuffer(Free):
    """A buffer of the unit computed from the window alone: ``index`` (torchvision's
    ``relative_position_index``, persistent, int64), ``coords`` (Swin V2's ``relative_coords_table``,
    persistent) or ``mask`` (the shifted window's attention mask, ``(1, nW, 1, N, N)``; torchvision
    computes it in every forward: here it is made once, a non-persistent buffer out of the state_dict).
    blocks/graph_unit.py makes it from ``buffer()``; no input; no MACs or activations."""

    path: str
    kind: str  # "index", "coords" or "mask"
    window: int
    size: tuple[int, int] = (0, 0)  # the padded map (mask only)
    shift: tuple[int, int] = (0, 0)  # (mask only)

    @property
    def shape(self) -> Shape:
        n = self.window * self.window
        if self.kind == "index":
            return (n * n,)
        if self.kind == "coords":
            span = 2 * self.window - 1
            return (1, span, span, 2)
        windows = (self.size[0] // self.window) * (self.size[1] // self.window)
        return (1, windows, 1, n, n)

    def out_shape(self, *shapes: Shape) -> Shape:
        return self.shape

    @property
    def tensors(self) -> dict[str, Shape]:
        """State_dict entries: the persistent buffers (torchvision's), not the mask."""
        return {} if self.kind == "mask" else {"": self.shape}

    out_elements: ClassVar[int] = 0

    @property
    def integer(self) -> bool:
        """Whether it holds int64 values (the index), which a checkpoint must hold as such."""
        return self.kind == "index"

    def buffer(self) -> tuple[Any, str, bool]:
        """(flat values, torch dtype name, persistent)."""
        if self.kind == "index":
            return relative_position_index(self.window), "int64", True
        if self.kind == "coords":
            return log_spaced_coords(self.window), "float32", True
        return list(shifted_window_mask(self.size, self.window, self.shift)), "float32", False

    def standalone(self) -> str:
        """Its constructor in standalone code, which copies ``BUFFER_SOURCE`` beside it."""
        call = {"index": f"relative_position_index({self.window})", "coords": f"log_spaced_coords({self.window})",
                "mask": f"shifted_window_mask({self.size}, {self.window}, {self.shift})"}[self.kind]
        values, dtype, persistent = self.buffer()
        shape = ", ".join(map(str, self.shape))
        return f"nn.Buffer(torch.tensor({call}, dtype=torch.{dtype}).view({shape}), persistent={persistent})"

    def expr(self, args: list[str]) -> str:
        return module_ref(self.path)

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return _state(flow)

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        if self.kind != "mask":
            return b.param(self.path, "")
        values = self.buffer()[0]
        n = self.window * self.window
        rows = [values[i:i + n] for i in range(0, len(values), n)]
        return b.node("Reshape", [b.matrix(rows), b.ints(list(self.shape))])

    @property
    def label(self) -> str:
        return {"index": "relative position index", "coords": "log-spaced coordinates",
                "mask": f"shift mask {self.shift[0]},{self.shift[1]}"}[self.kind]


# -- the map and its windows ------------------------------------------------------------------

@dataclass(frozen=True)
class WindowPad(Free):
    """Zeros after the last rows and columns of an ``(H, W, C)`` map, to multiples of the window (or of
    2, patch merging's): ``F.pad``, a new tensor; nothing saved."""

    path: str
    bottom: int
    right: int

    def out_shape(self, *shapes: Shape) -> Shape:
        h, w, c = shapes[0]
        return (h + self.bottom, w + self.right, c)

    def expr(self, args: list[str]) -> str:
        return f"F.pad({args[0]}, (0, 0, 0, {self.right}, 0, {self.bottom}))"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Pad", [xs[0], b.ints([0, 0, 0, 0, 0, self.bottom, self.right, 0])])

    @property
    def label(self) -> str:
        return f"pad +{self.bottom} rows +{self.right} cols"


@dataclass(frozen=True)
class Crop(Free):
    """The first ``size`` rows and columns of an ``(H, W, C)`` map, copied (torchvision's unpadding,
    ``x[:, :H, :W, :].contiguous()``; ``clone`` copies at every batch size). Nothing saved."""

    path: str
    size: tuple[int, int]

    def out_shape(self, *shapes: Shape) -> Shape:
        return (*self.size, shapes[0][2])

    def expr(self, args: list[str]) -> str:
        h, w = self.size
        return f"{args[0]}[:, :{h}, :{w}, :].clone(memory_format=torch.contiguous_format)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Slice", [xs[0], b.ints([0, 0]), b.ints(list(self.size)), b.ints([1, 2])])

    @property
    def label(self) -> str:
        return f"crop {self.size[0]}\u00d7{self.size[1]}"


@dataclass(frozen=True)
class Roll(Free):
    """The cyclic shift of an ``(H, W, C)`` map by ``shift`` rows and columns (``torch.roll``; negative:
    up and left): a new tensor, nothing saved (its backward rolls back)."""

    path: str
    shift: tuple[int, int]

    def expr(self, args: list[str]) -> str:
        return f"torch.roll({args[0]}, ({self.shift[0]}, {self.shift[1]}), (1, 2))"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """Per axis: the rows from ``k = -shift mod length`` on, then those before ``k``."""
        x = xs[0]
        for axis, (shift, length) in zip((1, 2), zip(self.shift, ins[0][:2])):
            k = -shift % length
            if k == 0:
                continue
            tail = b.node("Slice", [x, b.ints([k]), b.ints([length]), b.ints([axis])])
            head = b.node("Slice", [x, b.ints([0]), b.ints([k]), b.ints([axis])])
            x = b.node("Concat", [tail, head], axis=axis)
        return x

    @property
    def label(self) -> str:
        return f"roll {self.shift[0]},{self.shift[1]}"


@dataclass(frozen=True)
class PatchMerge(Free):
    """Swin's 2x2 neighbour concat (torchvision's ``_patch_merging_pad`` after its pad): ``(H, W, C)``
    (even sides) to ``(H/2, W/2, 4C)``, the four strided views ``[0::2, 0::2]``, ``[1::2, 0::2]``,
    ``[0::2, 1::2]``, ``[1::2, 1::2]`` concatenated on the channels: a new tensor, nothing saved."""

    path: str

    PARTS: ClassVar[tuple[tuple[int, int], ...]] = ((0, 0), (1, 0), (0, 1), (1, 1))

    def out_shape(self, *shapes: Shape) -> Shape:
        h, w, c = shapes[0]
        return (h // 2, w // 2, 4 * c)

    def expr(self, args: list[str]) -> str:
        x = args[0]
        return f"torch.cat([{', '.join(f'{x}[:, {i}::2, {j}::2]' for i, j in self.PARTS)}], -1)"

    folds_input: ClassVar[bool] = False  # its expression names its input four times

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.merge("cat", (xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        h, w, _ = ins[0]
        parts = [b.node("Slice", [xs[0], b.ints([i, j]), b.ints([h, w]), b.ints([1, 2]), b.ints([2, 2])])
                 for i, j in self.PARTS]
        return b.node("Concat", parts, axis=-1)

    @property
    def label(self) -> str:
        return "2\u00d72 merge"


# -- attention ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class WindowHeads(Free):
    """The qkv projection's windows ``(nW, N, 3C)`` to ``(3, nW, heads, N, d)`` (the 3 before the
    batch): ``unflatten``, ``permute``, a strided view, as torchvision's ``reshape(...).permute``."""

    path: str
    heads: int

    def out_shape(self, *shapes: Shape) -> Shape:
        windows, tokens, width = shapes[0]
        return (3, windows, self.heads, tokens, width // (3 * self.heads))

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.unflatten(-1, (3, {self.heads}, -1)).permute(2, 0, 3, 1, 4)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of the projection's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        parts = b.node("Reshape", [xs[0], b.ints([0, 0, 3, self.heads, -1])])
        return b.node("Transpose", [parts], perm=[2, 0, 3, 1, 4])

    @property
    def label(self) -> str:
        return f"split {self.heads} heads"


@dataclass(frozen=True)
class WindowMatMul(MatMul):
    """A window attention's matmul (q @ k^T, or weights @ v) whose operands are copied contiguous
    first where ``copies`` says (strided views of the qkv projection, or of an elementwise result
    laid out as one): the copies are what ``bmm`` saves, as torch's matmul saves its own copies of
    them. ``scale`` multiplies ``a`` first (V1's ``d ** -0.5``, written as torchvision writes it)."""

    copies: tuple[bool, bool] = (False, False)

    @classmethod
    def window(cls, path: str, a: Shape, b: Shape, transpose_b: bool, copies: tuple[bool, bool],
               scale: float | None = None) -> "WindowMatMul":
        base = MatMul.of(path, a, b, transpose_b, scale)
        return cls(path, base.macs, transpose_b, scale, copies)

    def expr(self, args: list[str]) -> str:
        a = f"({args[0]} * {self.scale!r})" if self.scale is not None else args[0]
        b = f"{args[1]}.transpose(-2, -1)" if self.transpose_b else args[1]
        a, b = (f"{t}.contiguous()" if copy else t for t, copy in zip((a, b), self.copies))
        return f"{a} @ {b}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        a, b = xs
        if self.scale is not None:  # times a Python number: a new tensor, nothing saved
            a = flow.op((a,), elements(ins[0]))
        a, b = (flow.op((t,), elements(shape)) if copy else t for t, shape, copy in zip((a, b), ins, self.copies))
        flow.emit("matmul", self.macs)
        return flow.op((a, b), elements(out), saves=(a, b))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """``MatMul``'s nodes; the copies are none. The batch is folded into the windows, so the tensors have
        the per-sample rank, one less than ``MatMul`` reads from shapes whose batch is a dim of its own."""
        return MatMul.onnx(self, b, xs, [shape[1:] for shape in ins], out)

    @property
    def label(self) -> str:
        return "q @ k^T" if self.transpose_b else "attn @ v"


@dataclass(frozen=True)
class WindowLinear(Linear):
    """A Linear over windows called as a function on the module's tensors (torchvision's
    ``F.linear(x, qkv_weight, qkv_bias)``), the same counts as ``Linear``. ``zero_k_bias``: Swin V2
    zeroes the middle third of the qkv bias (k's) in every forward, on a copy."""

    zero_k_bias: bool = False
    functional: ClassVar[bool] = True  # no module call: module hooks (ptflops, thop, torchinfo) never see it

    def expr(self, args: list[str]) -> str:
        ref = module_ref(self.path)
        bias = f"{ref}.bias" if self.bias else "None"
        if self.zero_k_bias and self.bias:
            third = self.cout // 3
            bias = f"torch.cat([{ref}.bias[:{third}], torch.zeros_like({ref}.bias[{third}:{2 * third}]), " \
                   f"{ref}.bias[{2 * third}:]])"
        return f"F.linear({args[0]}, {ref}.weight, {bias})"

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        y = b.node("MatMul", [xs[0], b.param(self.path, "weight", transpose=True)])
        bias = b.param(self.path, "bias")
        if bias is None:
            return y
        if self.zero_k_bias:
            third = self.cout // 3
            bias = b.node("Mul", [bias, b.matrix([[1.0] * third + [0.0] * third + [1.0] * third])])
            bias = b.node("Reshape", [bias, b.ints([-1])])
        return b.node("Add", [y, bias])


@dataclass(frozen=True)
class TableLinear(Linear):
    """A Linear over a table that does not grow with the batch (Swin V2's ``cpb_mlp`` over the
    ``(2W-1)^2`` log-spaced offsets): counted once per forward, as FlopCounterMode counts it; its
    input and output are batch-independent tensors."""

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        flow.emit("layer", self)
        return _op(flow, (xs[0],), elements(out), per_sample=False, saves=(xs[0],))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        y = b.node("MatMul", [xs[0], b.param(self.path, "weight", transpose=True)])
        bias = b.param(self.path, "bias")
        return b.node("Add", [y, bias]) if bias else y


@dataclass(frozen=True)
class TableReLU(Free):
    """``nn.ReLU(inplace=True)`` on a batch-independent table (``cpb_mlp.1``): saves its output."""

    path: str
    module: ClassVar[tuple[str, dict[str, Any]]] = ("ReLU", {"inplace": True})
    label: ClassVar[str] = "ReLU"

    def expr(self, args: list[str]) -> str:
        return self.call(args)

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        flow.emit("act", "relu", flow.elements(xs[0]))
        flow.step((xs[0],), xs[0])
        flow.save(xs[0])
        return xs[0]

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Relu", [xs[0]])


@dataclass(frozen=True)
class Normalize(Free):
    """``F.normalize(x, dim=-1)`` (Swin V2's cosine attention, on q or k, strided views of the qkv
    projection): ``x / x.norm(2, -1).clamp_min(1e-12)``. The norm saves its input and output, the clamp
    its input (that output), the division both operands: the projection's storage, and the norms and
    clamped norms (one per token and head)."""

    path: str

    def expr(self, args: list[str]) -> str:
        return f"F.normalize({args[0]}, dim=-1)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        x = xs[0]
        rows = elements(ins[0]) // ins[0][-1]
        norm = flow.op((x,), rows, saves=(x, -1))
        clamped = flow.op((norm,), rows, saves=(norm,))
        return flow.op((x, clamped), elements(out), saves=(x, clamped))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        x = xs[0]
        norm = b.node("ReduceL2", [x, b.ints([-1])], keepdims=1)
        return b.node("Div", [x, b.node("Max", [norm, b.scalar(1e-12)])])

    @property
    def label(self) -> str:
        return "L2 normalize"


@dataclass(frozen=True)
class LogitScale(Free):
    """Swin V2's per-head temperature: ``torch.clamp(logit_scale, max=log 100).exp()``, ``(heads, 1, 1)``,
    batch-independent; the clamp keeps its input (the parameter), exp its output."""

    path: str

    def expr(self, args: list[str]) -> str:
        return f"torch.clamp({args[0]}, max={LOG_100!r}).exp()"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        size = elements(out)
        clamped = _op(flow, (xs[0],), size, per_sample=False)
        return _op(flow, (clamped,), size, per_sample=False, saves=(-1,))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Exp", [b.node("Min", [xs[0], b.scalar(LOG_100)])])

    @property
    def label(self) -> str:
        return "exp(clamp(logit scale))"


WINDOW_STEPS = (TableParam, WindowBuffer, WindowPad, Crop, Roll, PatchMerge, WindowHeads, WindowMatMul, WindowLinear,
                TableLinear, TableReLU, Normalize, LogitScale)
