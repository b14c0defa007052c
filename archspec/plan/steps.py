"""The parameter-free steps of a unit's graph; the weighted ones are the layer records of ``ops.py``.

A unit is a DAG of named steps (:mod:`archspec.plan.graph`). Every step class owns all
its facts in one place, so that no consumer switches on kinds:

- ``out_shape(*inputs)``: the per-sample shape it makes (``(C, H, W)`` maps, ``(C,)`` vectors);
- ``params``, ``macs`` and ``elementwise`` (complexity/counting.py's classes), zero here;
- ``flow(flow, xs, ins, out)``: what it does to the memory model's tensors (complexity/memory.py's
  ``Flow`` methods, which decide what is saved and note the event the counting policies weigh);
- ``module``: the torch module it becomes, as ``(class name, keyword arguments)``, the class
  looked up in ``torch.nn`` (or ``archspec.blocks.layers``), or None for a function call;
- ``expr(args)``: its expression in the generated forward and the standalone code;
- ``onnx(b, xs, ins, out)``: the ONNX nodes it becomes at inference, added through ``b``, a builder
  passed in by export/onnx_writer.py (duck-typed, as ``flow`` is: no onnx here); returns the name
  of the value it makes. Dropout and drop path are identities at inference: they return their input;
- ``label``: its name in diagrams and the fx view.

No torch here: the builder (``blocks/graph_unit.py``) turns ``module`` into a module and
compiles the generated source once per distinct graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, ClassVar

from .ops import Shape, Size, module_ref, pool_out

ModuleSpec = tuple[str, dict[str, Any]]


def elements(shape: Shape) -> int:
    return prod(shape)


class Free:
    """What every parameter-free step shares: no parameters, MACs, tensors or elementwise ops of
    its own (an ``Add`` counts its adds: see ``elementwise``)."""

    path: str
    params: ClassVar[int] = 0
    macs: ClassVar[int] = 0
    module: ClassVar[ModuleSpec | None] = None
    tensors: ClassVar[dict[str, Shape]] = {}
    elementwise: ClassVar[dict[str, int]] = {}

    def out_shape(self, *shapes: Shape) -> Shape:
        return shapes[0]

    def counted(self, out: Shape) -> dict[str, int]:
        """Its elementwise ops by class (complexity/counting.py) at output shape ``out``: none."""
        return {}

    @property
    def label(self) -> str:
        """What it does in a few words (``max pool 3\u00d73 /2``, ``ReLU``, ``+``): the module-graph diagram
        writes it after the step's name in its unit, or alone where the name says it (diagram/modulegraph.py)."""
        return type(self).__name__.lower()

    def call(self, args: list[str]) -> str:
        """``self.<path>(<args>)``: a module step's call in the generated forward."""
        return f"{module_ref(self.path)}({', '.join(args)})"


# The activations that are one ONNX operator: (op type, attributes as torch defines the function).
ONNX_ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "hardswish": ("HardSwish", {}),
    "hardsigmoid": ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}), "tanh": ("Tanh", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.01})}

# Activations as torch builds them: (torch.nn class, takes ``inplace``).
ACTIVATION_MODULES = {"relu": ("ReLU", True), "relu6": ("ReLU6", True), "silu": ("SiLU", True),
                      "hardswish": ("Hardswish", True), "gelu": ("GELU", False), "sigmoid": ("Sigmoid", False),
                      "hardsigmoid": ("Hardsigmoid", False), "tanh": ("Tanh", False),
                      "leaky_relu": ("LeakyReLU", True)}  # torch's slope 0.01


@dataclass(frozen=True)
class Act:
    """An activation. In place by default, as torchvision's Conv2dNormActivation builds them
    (GELU and the gates never are); ``functional``: a ``torch.<fn>`` call, not a module
    (SE's sigmoid in the residual families: hooks that count modules do not see it)."""

    path: str
    fn: str
    inplace: bool = True
    functional: bool = False

    out_shape = Free.out_shape
    counted = Free.counted
    params = macs = 0
    tensors: ClassVar[dict[str, Shape]] = {}
    elementwise: ClassVar[dict[str, int]] = {}

    @property
    def module(self) -> ModuleSpec | None:
        if self.functional:
            return None
        cls, takes_inplace = ACTIVATION_MODULES[self.fn]
        return cls, ({"inplace": self.inplace} if takes_inplace else {})

    def expr(self, args: list[str]) -> str:
        return f"torch.{self.fn}({args[0]})" if self.functional else Free.call(self, args)

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        if self.fn == "sigmoid":
            return flow.sigmoid(xs[0])
        takes_inplace = ACTIVATION_MODULES[self.fn][1]
        return flow.act(self.fn, xs[0], inplace=self.inplace and takes_inplace)

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        x = xs[0]
        if self.fn in ONNX_ACTIVATIONS:
            op, attrs = ONNX_ACTIVATIONS[self.fn]
            return b.node(op, [x], **attrs)
        if self.fn == "relu6":
            return b.node("Clip", [x, b.scalar(0.0), b.scalar(6.0)])
        if self.fn == "silu":
            return b.node("Mul", [x, b.node("Sigmoid", [x])])
        if self.fn == "gelu":  # exact GELU (opset 18 has no Gelu): x * (erf(x / sqrt 2) + 1) / 2
            erf = b.node("Erf", [b.node("Div", [x, b.scalar(2.0 ** 0.5)])])
            return b.node("Mul", [b.node("Mul", [x, b.node("Add", [erf, b.scalar(1.0)])]), b.scalar(0.5)])
        raise b.unsupported(self, f"activation {self.fn!r}")

    @property
    def label(self) -> str:
        """torch's name for it: ``ReLU``, ``Hardswish``, ``Sigmoid``."""
        return ACTIVATION_MODULES[self.fn][0]


@dataclass(frozen=True)
class Mean(Free):
    """A global mean over H and W, kept 4-d (SE's squeeze): a tensor method, saves nothing."""

    path: str

    def out_shape(self, *shapes: Shape) -> Shape:
        return (shapes[0][0], 1, 1)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.mean((2, 3), keepdim=True)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.mean(xs[0], ins[0][0])

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("GlobalAveragePool", [xs[0]])  # keeps H and W as 1x1, as keepdim does


@dataclass(frozen=True)
class AdaptiveAvgPool(Free):
    """``nn.AdaptiveAvgPool2d(out)``: a mean when ``out`` is 1x1 (saves nothing), else saves its input."""

    path: str
    out: Size = (1, 1)

    @property
    def module(self) -> ModuleSpec:
        return "AdaptiveAvgPool2d", {"output_size": self.out if self.out[0] != self.out[1] else self.out[0]}

    def out_shape(self, *shapes: Shape) -> Shape:
        return (shapes[0][0], *self.out)

    def expr(self, args: list[str]) -> str:
        return self.call(args)

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        c, h, w = ins[0]
        return flow.adaptive_pool(xs[0], c, (h, w), self.out)

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """Global pooling for 1x1; the identity where the map already has the size; one average pool
        window where the size divides it; else a matrix product (at the planned input size: a dynamic
        height and width is refused upstream for such heads)."""
        (h, w), (oh, ow) = ins[0][1:], self.out
        if (oh, ow) == (1, 1):
            return b.node("GlobalAveragePool", [xs[0]])
        if (h, w) == (oh, ow):
            return xs[0]
        if h % oh == 0 and w % ow == 0:
            window = [h // oh, w // ow]
            return b.node("AveragePool", [xs[0]], kernel_shape=window, strides=window)
        # Uneven (or growing) windows: the pooling is linear, one (H*W, oh*ow) matrix of window shares.
        flat = b.node("Reshape", [xs[0], b.ints([0, 0, h * w])])
        pooled = b.node("MatMul", [flat, b.matrix(adaptive_pool_matrix((h, w), (oh, ow)))])
        return b.node("Reshape", [pooled, b.ints([0, 0, oh, ow])])

    @property
    def label(self) -> str:
        h, w = self.out
        return "global avg pool" if (h, w) == (1, 1) else f"adaptive avg pool {h}\u00d7{w}"


def adaptive_pool_matrix(size: Size, out: Size) -> list[list[float]]:
    """Adaptive average pooling from ``size`` to ``out`` as a (H*W, oh*ow) matrix: PyTorch's windows,
    rows ``floor(i * H / oh)`` to ``ceil((i + 1) * H / oh)`` (and so for columns), each averaged."""
    (h, w), (oh, ow) = size, out
    rows = [(i * h // oh, -(-(i + 1) * h // oh)) for i in range(oh)]
    cols = [(j * w // ow, -(-(j + 1) * w // ow)) for j in range(ow)]
    matrix = [[0.0] * (oh * ow) for _ in range(h * w)]
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            share = 1.0 / ((r1 - r0) * (c1 - c0))
            for r in range(r0, r1):
                for c in range(c0, c1):
                    matrix[r * w + c][i * ow + j] = share
    return matrix


@dataclass(frozen=True)
class Pool(Free):
    """A max or average pooling window (``nn.MaxPool2d`` / ``nn.AvgPool2d``)."""

    path: str
    kind: str  # "max" or "avg"
    kernel: int
    stride: int
    padding: int = 0
    ceil: bool = False
    count_include_pad: bool = True

    @property
    def module(self) -> ModuleSpec:
        args: dict[str, Any] = {"kernel_size": self.kernel, "stride": self.stride, "padding": self.padding,
                                "ceil_mode": self.ceil}
        if self.kind == "max":
            return "MaxPool2d", args
        return "AvgPool2d", {**args, **({} if self.count_include_pad else {"count_include_pad": False})}

    def out_shape(self, *shapes: Shape) -> Shape:
        c, h, w = shapes[0]
        return (c, *pool_out((h, w), self.kernel, self.stride, self.padding, self.ceil))

    def expr(self, args: list[str]) -> str:
        return self.call(args)

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.pool(self.kind, xs[0], elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        window, p = [self.kernel, self.kernel], self.padding
        attrs: dict[str, Any] = {"kernel_shape": window, "strides": [self.stride, self.stride], "pads": [p, p, p, p],
                                 "ceil_mode": int(self.ceil)}
        if self.kind == "max":
            return b.node("MaxPool", [xs[0]], **attrs)
        return b.node("AveragePool", [xs[0]], count_include_pad=int(self.count_include_pad), **attrs)

    @property
    def label(self) -> str:
        return f"{self.kind} pool {self.kernel}\u00d7{self.kernel} /{self.stride}"


@dataclass(frozen=True)
class Mul(Free):
    """``x * scale``, a gate broadcast over H and W: saves both factors."""

    path: str
    label: ClassVar[str] = "\u00d7"

    def expr(self, args: list[str]) -> str:
        return f"{args[0]} * {args[1]}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.mul(xs[0], xs[1], elements(out))  # x may be a view of part of a larger tensor

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Mul", xs)


@dataclass(frozen=True)
class Add(Free):
    """The elementwise sum of its inputs (a residual merge): saves nothing; one add per output element."""

    path: str
    label: ClassVar[str] = "+"

    def expr(self, args: list[str]) -> str:
        return " + ".join(args)

    def counted(self, out: Shape) -> dict[str, int]:
        """One add per output element (of each extra input)."""
        return {"add": elements(out)}

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.merge("add", tuple(xs), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Add", xs) if len(xs) == 2 else b.node("Sum", xs)


@dataclass(frozen=True)
class Concat(Free):
    """Channel concatenation: data movement, saves nothing."""

    path: str
    label: ClassVar[str] = "concat"

    def out_shape(self, *shapes: Shape) -> Shape:
        return (sum(s[0] for s in shapes), *shapes[0][1:])

    def expr(self, args: list[str]) -> str:
        return f"torch.cat([{', '.join(args)}], 1)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.merge("cat", tuple(xs), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Concat", xs, axis=1)


class TrainingOnly(Free):
    """A module step that acts in training only (dropout, stochastic depth): called as its module, and
    the identity at inference, so it writes no ONNX node."""

    def expr(self, args: list[str]) -> str:
        return self.call(args)

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return xs[0]


@dataclass(frozen=True)
class Dropout(TrainingOnly):
    """``nn.Dropout(rate)`` (``inplace``: ``dropout_``, MobileNetV3's classifier)."""

    path: str
    rate: float
    inplace: bool = False

    @property
    def module(self) -> ModuleSpec:
        return "Dropout", ({"p": self.rate, "inplace": True} if self.inplace else {"p": self.rate})

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.dropout(self.rate, xs[0], inplace=self.inplace)

    @property
    def label(self) -> str:
        return f"dropout {self.rate:g}"


@dataclass(frozen=True)
class DropPath(TrainingOnly):
    """Stochastic depth (archspec.blocks.layers.DropPath): a per-sample mask, saved."""

    path: str
    rate: float

    @property
    def module(self) -> ModuleSpec:
        return "DropPath", {"rate": self.rate}

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.drop_path(self.rate, xs[0])

    @property
    def label(self) -> str:
        return f"drop path {self.rate:.3g}"


@dataclass(frozen=True)
class Subsample(Free):
    """``x[:, :, ::s, ::s]``: a strided view (option A's shortcut), no step of its own in memory."""

    path: str
    stride: int

    def out_shape(self, *shapes: Shape) -> Shape:
        c, h, w = shapes[0]
        return (c, -(-h // self.stride), -(-w // self.stride))

    def expr(self, args: list[str]) -> str:
        s = self.stride
        return f"{args[0]}[:, :, ::{s}, ::{s}]"

    @property
    def label(self) -> str:
        return f"subsample ::{self.stride}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of its input's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        s = self.stride
        return b.node("Slice", [xs[0], b.ints([0, 0]), b.ints([2**62, 2**62]), b.ints([2, 3]), b.ints([s, s])])


@dataclass(frozen=True)
class ZeroPad(Free):
    """Zero channels appended (``F.pad``): a new tensor, nothing saved."""

    path: str
    extra: int

    def out_shape(self, *shapes: Shape) -> Shape:
        c, *rest = shapes[0]
        return (c + self.extra, *rest)

    def expr(self, args: list[str]) -> str:
        return f"F.pad({args[0]}, (0, 0, 0, 0, 0, {self.extra}))"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.reshape(xs[0], elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Pad", [xs[0], b.ints([0, 0, 0, 0, 0, self.extra, 0, 0])])  # (begins, ends) per axis

    @property
    def label(self) -> str:
        return f"zero-pad +{self.extra} ch"


@dataclass(frozen=True)
class Zero(Free):
    """``x.mul(0.0)``: zeros of its input's shape, as NAS cells compute their ``none`` edge (xautodl's
    ``Zero``), so the output is what theirs is (NaN stays NaN). A new tensor; a scalar multiply saves
    no tensor. Called as a method, ``Tensor.mul``, which ptflops patches: it counts one per element."""

    path: str
    label: ClassVar[str] = "\u00d7 0"

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.mul(0.0)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        flow.emit("tensor_mul", elements(out))
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Mul", [xs[0], b.scalar(0.0)])


@dataclass(frozen=True)
class Flatten(Free):
    """``torch.flatten(x, 1)``: a view."""

    path: str

    def out_shape(self, *shapes: Shape) -> Shape:
        return (elements(shapes[0]),)

    def expr(self, args: list[str]) -> str:
        return f"torch.flatten({args[0]}, 1)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of its input's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Flatten", [xs[0]], axis=1)


@dataclass(frozen=True)
class Permute(Free):
    """``x.permute(0, *dims)`` over the per-sample dims: a view."""

    path: str
    dims: tuple[int, ...]

    def out_shape(self, *shapes: Shape) -> Shape:
        return tuple(shapes[0][d] for d in self.dims)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.permute(0, {', '.join(str(d + 1) for d in self.dims)})"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of its input's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Transpose", [xs[0]], perm=[0, *(d + 1 for d in self.dims)])


@dataclass(frozen=True)
class Chunk(Free):
    """Part ``index`` of ``parts`` equal channel chunks (``x.chunk(parts, 1)[index]``): a view."""

    path: str
    parts: int
    index: int

    def out_shape(self, *shapes: Shape) -> Shape:
        c, *rest = shapes[0]
        return (c // self.parts, *rest)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.chunk({self.parts}, 1)[{self.index}]"

    @property
    def label(self) -> str:
        return f"chunk {self.index} of {self.parts}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of its input's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        size = ins[0][0] // self.parts
        return b.node("Slice", [xs[0], b.ints([self.index * size]), b.ints([(self.index + 1) * size]), b.ints([1])])


@dataclass(frozen=True)
class Slice(Free):
    """Channels ``start`` to ``start + size`` (``x[:, start:start + size]``): a view. Uneven channel
    splits (a mixed-kernel conv's groups) and narrowing (``out[:, :C]`` after a concat) are slices."""

    path: str
    start: int
    size: int

    def out_shape(self, *shapes: Shape) -> Shape:
        c, *rest = shapes[0]
        return (self.size, *rest)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}[:, {self.start}:{self.start + self.size}]"

    @property
    def label(self) -> str:
        return f"channels {self.start}:{self.start + self.size}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of its input's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Slice", [xs[0], b.ints([self.start]), b.ints([self.start + self.size]), b.ints([1])])


@dataclass(frozen=True)
class Shuffle(Free):
    """ShuffleNet's channel shuffle: view, transpose, ``contiguous`` (a copy), view back; saves nothing."""

    path: str
    groups: int

    def expr(self, args: list[str]) -> str:
        return f"channel_shuffle({args[0]}, {self.groups})"

    @property
    def label(self) -> str:
        return f"channel shuffle g{self.groups}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.shuffle(xs[0])

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """The shuffle is a fixed permutation of the channels: one Gather, whatever the batch and map size.
        Output channel ``j`` is input channel ``(j % groups) * (C / groups) + j // groups``."""
        c = ins[0][0]
        per = c // self.groups
        return b.node("Gather", [xs[0], b.ints([(j % self.groups) * per + j // self.groups for j in range(c)])], axis=1)


@dataclass(frozen=True)
class Softmax(Free):
    """Softmax over the last dim; saves its output."""

    path: str

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.softmax(-1)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out), saves=(-1,))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Softmax", [xs[0]], axis=-1)


@dataclass(frozen=True)
class RadixSoftmax(Free):
    """A softmax across ``radix`` groups of channels (split attention's ``rSoftMax``): the channels,
    laid out (cardinality, radix, C'), are viewed so, transposed to (radix, cardinality, C') and
    normalised over the radix, so that channel ``r * (C / radix) + j`` is group ``r``'s weight for
    channel ``j``. The transpose is copied contiguous before the softmax, which saves its output;
    the flattening after it is a view."""

    path: str
    radix: int
    cardinality: int = 1

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.unflatten(1, ({self.cardinality}, {self.radix}, -1)).transpose(1, 2).softmax(1).flatten(1, 3)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out), saves=(-1,))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """(N, C, H, W) to (N, cardinality, radix, C' x H x W), swapped, Softmax over the radix, back to (N, C, H, W)."""
        c, h, w = ins[0]
        grouped = b.node("Reshape", [xs[0], b.ints([0, self.cardinality, self.radix, -1])])
        swapped = b.node("Transpose", [grouped], perm=[0, 2, 1, 3])
        weights = b.node("Softmax", [swapped], axis=1)
        return b.node("Reshape", [weights, b.ints([0, c, h, w])])

    @property
    def label(self) -> str:
        return f"softmax over radix {self.radix}"


@dataclass(frozen=True)
class Tokens(Free):
    """A ``(C, H, W)`` map to ``H x W`` tokens of width C: ``x.flatten(2).transpose(1, 2)``, a view
    (torchvision's ViT: reshape, permute)."""

    path: str

    def out_shape(self, *shapes: Shape) -> Shape:
        c, h, w = shapes[0]
        return (h * w, c)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.flatten(2).transpose(1, 2)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of its input's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """(N, C, H, W) to (N, C, H x W) (any N, H, W), then (N, H x W, C)."""
        flat = b.node("Reshape", [xs[0], b.ints([0, ins[0][0], -1])])
        return b.node("Transpose", [flat], perm=[0, 2, 1])


@dataclass(frozen=True)
class SplitHeads(Free):
    """Tokens ``(T, 3 x D)`` (q, k and v side by side, as one input projection makes them) to
    ``(3, heads, T, D / heads)``, copied contiguous, the batch as dim 1, so that q, k and v are
    contiguous ``(B, heads, T, d)`` tensors (``x[0]``...) that a matmul folds without copying.
    A new tensor; its backward needs nothing."""

    path: str
    heads: int

    def out_shape(self, *shapes: Shape) -> Shape:
        t, width = shapes[0]
        return (3, self.heads, t, width // (3 * self.heads))

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.unflatten(-1, (3, {self.heads}, -1)).permute(2, 0, 3, 1, 4).contiguous()"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    @property
    def label(self) -> str:
        return f"split {self.heads} heads"

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """(N, T, 3 x D) to (N, T, 3, heads, d), then to (3, N, heads, T, d)."""
        parts = b.node("Reshape", [xs[0], b.ints([0, 0, 3, self.heads, -1])])
        return b.node("Transpose", [parts], perm=[2, 0, 3, 1, 4])


@dataclass(frozen=True)
class Select(Free):
    """Entry ``index`` of the first per-sample dim: ``x[:, index]`` (the class token of ``(T, D)`` tokens),
    or ``x[index]`` where that dim comes before the batch (q, k or v of :class:`SplitHeads`). A view."""

    path: str
    index: int
    batch_first: bool = True

    def out_shape(self, *shapes: Shape) -> Shape:
        return shapes[0][1:]

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}[:, {self.index}]" if self.batch_first else f"{args[0]}[{self.index}]"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return xs[0]  # a view of its input's storage

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        axis = 1 if self.batch_first else 0
        taken = b.node("Gather", [xs[0], b.ints([self.index])], axis=axis)
        return b.node("Squeeze", [taken, b.ints([axis])])

    @property
    def label(self) -> str:
        return f"select {self.index}"


@dataclass(frozen=True)
class MatMul(Free):
    """A batched matrix product over the last two dims, ``a @ b`` (``a @ b.transpose(-2, -1)`` with
    ``transpose_b``): attention's q @ k^T and weights @ v. ``scale`` multiplies ``a`` first (q's
    1/sqrt(d)), a new tensor. MACs: one per multiply-accumulate, as FlopCounterMode's ``bmm``.

    Saves both factors (``bmm``'s backward); the inputs are contiguous over the batch dims
    (:class:`SplitHeads`), so matmul's fold to ``bmm`` is a view and the saved storages are the inputs'.
    """

    path: str
    macs: int  # type: ignore[misc]  # per sample: out elements x the contracted length (see ``of``)
    transpose_b: bool = False
    scale: float | None = None

    @classmethod
    def of(cls, path: str, a: Shape, b: Shape, transpose_b: bool = False, scale: float | None = None) -> "MatMul":
        """The product of per-sample shapes ``a`` and ``b``, its MACs computed from them."""
        out = (*a[:-1], b[-2] if transpose_b else b[-1])
        return cls(path, elements(out) * a[-1], transpose_b, scale)

    def out_shape(self, *shapes: Shape) -> Shape:
        a, b = shapes
        return (*a[:-1], b[-2] if self.transpose_b else b[-1])

    def expr(self, args: list[str]) -> str:
        a = f"({args[0]} * {self.scale!r})" if self.scale is not None else args[0]
        b = f"{args[1]}.transpose(-2, -1)" if self.transpose_b else args[1]
        return f"{a} @ {b}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        a, b = xs
        if self.scale is not None:  # times a Python number: a new tensor, nothing saved
            a = flow.op((a,), elements(ins[0]))
        flow.emit("matmul", self.macs)
        return flow.op((a, b), elements(out), saves=(a, b))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """MatMul, after the scale (Mul by a constant) and the transpose of the last two dims of ``b``."""
        left, right = xs
        if self.scale is not None:
            left = b.node("Mul", [left, b.scalar(self.scale)])
        if self.transpose_b:
            rank = len(ins[1]) + 1  # the batch dim
            right = b.node("Transpose", [right], perm=[*range(rank - 2), rank - 1, rank - 2])
        return b.node("MatMul", [left, right])

    @property
    def label(self) -> str:
        return "q @ k^T" if self.transpose_b else "matmul"


@dataclass(frozen=True)
class Attention(Free):
    """Scaled dot-product attention as one fused call, ``F.scaled_dot_product_attention(q, k, v)``
    (what timm's blocks call): ``softmax(q @ k^T / sqrt(d)) @ v`` per head. Its MACs are the two
    matmuls', ``2 x T x T x d`` per head (see ``of``), as FlopCounterMode counts them under SDPA's
    math kernel; what the other tools see of it is their policy's business (complexity/policies.py).

    What its backward keeps depends on the kernel torch runs (measured with saved_tensors_hooks):
    on the CPU with no dropout (and always in eval) the fused flash kernel keeps q, k and v, its
    output and one fp32 log-sum-exp per query row; with dropout in training the CPU runs the math
    kernel, in fp32 whatever the activations (bf16 and fp16 q, k and v are copied to fp32 first): q and
    k each scaled by d^-1/4 (new tensors), the softmax output, the dropout noise, the dropped weights
    and v. On CUDA (derived from PyTorch's kernels, not measured here) the fused kernels run with or
    without dropout: flash (fp16/bf16) and memory-efficient (fp32, its log-sum-exp rows padded to 32)
    keep q, k, v, the output and the log-sum-exp, plus the dropout's seed and offset (docs/report.md).
    """

    path: str
    macs: int  # type: ignore[misc]  # per sample: both matmuls
    dropout: float = 0.0

    @classmethod
    def of(cls, path: str, q: Shape, dropout: float = 0.0) -> "Attention":
        """The attention of per-sample ``(heads, T, d)`` queries over as many keys."""
        heads, tokens, dim = q
        return cls(path, 2 * heads * tokens * tokens * dim, dropout)

    def out_shape(self, *shapes: Shape) -> Shape:
        return shapes[0]

    def expr(self, args: list[str]) -> str:
        drop = f", dropout_p={self.dropout!r} if self.training else 0.0" if self.dropout else ""
        return f"F.scaled_dot_product_attention({', '.join(args)}{drop})"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        q, k, v = xs
        heads, tokens, dim = ins[0]
        flow.emit("sdpa", self.macs)
        if flow.training and self.dropout and flow.device == "cpu":  # the math kernel, in fp32 (bf16/fp16 copied up)
            square = heads * tokens * tokens
            if flow.dtype != "fp32":
                q, k, v = (flow.new(elements(shape), "float") for shape in ins)
                for copy, source in zip((q, k, v), xs):
                    flow.step((source,), copy)
            scaled_q, scaled_k = flow.new(elements(ins[0]), "float"), flow.new(elements(ins[1]), "float")
            flow.step((q,), scaled_q)
            flow.step((k,), scaled_k)
            scores = flow.new(square, "float")
            flow.step((scaled_q, scaled_k), scores)
            weights, noise, dropped = (flow.new(square, "float") for _ in range(3))
            flow.step((scores,), weights)
            flow.step((weights, noise), dropped)
            made = flow.new(elements(out), "float" if flow.dtype != "fp32" else "act")
            flow.step((dropped, v), made)
            flow.save(scaled_q, scaled_k, weights, noise, dropped, v)
            if flow.dtype == "fp32":
                return made
            return flow.op((made,), elements(out))  # back to the activations' dtype
        rows = tokens if flow.device == "cpu" or flow.dtype != "fp32" else -(-tokens // 32) * 32  # CUDA fp32: padded
        lse = flow.new(heads * rows, "float")
        made = flow.new(elements(out))
        flow.step((q, k, v, lse), made)  # the log-sum-exp is made and read by this step
        flow.save(q, k, v, made, lse)
        if flow.training and self.dropout:  # CUDA: the kernel's random seed and offset, two int64 scalars
            flow.save(flow.new(2, "index", per_sample=False))
        return made

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """Mul by 1/sqrt(d), MatMul with k transposed, Softmax, MatMul with v."""
        q, k, v = xs
        scaled = b.node("Mul", [q, b.scalar(ins[0][-1] ** -0.5)])
        scores = b.node("MatMul", [scaled, b.node("Transpose", [k], perm=[0, 1, 3, 2])])
        return b.node("MatMul", [b.node("Softmax", [scores], axis=-1), v])

    @property
    def label(self) -> str:
        return "attention (fused)"


@dataclass(frozen=True)
class MergeHeads(Free):
    """``(heads, T, d)`` back to tokens ``(T, heads x d)``: ``x.transpose(1, 2).flatten(2)``, a copy
    (the transposed layout cannot be viewed flat); nothing saved."""

    path: str

    def out_shape(self, *shapes: Shape) -> Shape:
        h, t, d = shapes[0]
        return (t, h * d)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.transpose(1, 2).flatten(2)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """(N, heads, T, d) to (N, T, heads, d), then (N, T, heads x d)."""
        moved = b.node("Transpose", [xs[0]], perm=[0, 2, 1, 3])
        return b.node("Reshape", [moved, b.ints([0, 0, -1])])

    @property
    def label(self) -> str:
        return "merge heads"


FREE_STEPS = (Act, Mean, AdaptiveAvgPool, Pool, Mul, Add, Concat, Dropout, DropPath, Subsample, ZeroPad, Flatten,
              Permute, Chunk, Slice, Shuffle, Softmax, RadixSoftmax, Tokens, SplitHeads, Select, MatMul, Attention,
              MergeHeads)
