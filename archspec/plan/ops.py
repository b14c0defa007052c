"""Layers as data: the single description from which both counts and modules derive.

A unit's ``ops`` list every parameterised layer it owns, keyed by the module path
relative to the unit. The planner computes them without torch; the compiler builds
``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.Linear`` from the very same records, so
the analytic params and MACs cannot drift from the module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

Size = tuple[int, int]
Shape = tuple[int, ...]
Window = Union[int, Size]  # a kernel or padding: one int for a square window, or (height, width)
NormKind = Literal["batch", "layer", "group"]
BN_COUNTER = "num_batches_tracked"  # a BatchNorm buffer; old checkpoints lack it


class cached:
    """``functools.cached_property`` without its per-access lock (Python < 3.12 takes one).

    The records are frozen and computed values never change, so two threads computing
    one value at once both get the same answer. A sampler plans hundreds of thousands of
    records, and the lock showed in its profile.
    """

    def __init__(self, fn: Any):
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)  # found before this descriptor from now on
        return value


def pair(value: Window) -> Size:
    """A window size as (height, width): an int is square."""
    return (value, value) if isinstance(value, int) else value


def conv_out(size: Size, kernel: Window, stride: int, padding: Window, dilation: int = 1) -> Size:
    """Output spatial size of a convolution or pooling window (floor mode); kernels and
    paddings are ints (square) or (height, width) pairs."""
    if isinstance(kernel, int) and isinstance(padding, int):
        span = dilation * (kernel - 1) + 1
        return tuple((s + 2 * padding - span) // stride + 1 for s in size)  # type: ignore[return-value]
    return tuple((s + 2 * p - dilation * (k - 1) - 1) // stride + 1  # type: ignore[return-value]
                 for s, k, p in zip(size, pair(kernel), pair(padding)))


def pool_out(size: Size, kernel: int, stride: int, padding: int = 0, ceil: bool = False) -> Size:
    """Output size of a pooling window, PyTorch's rule included: with ``ceil`` the last
    window must start inside the input or its left padding."""
    if not ceil:
        return conv_out(size, kernel, stride, padding)
    out = []
    for s in size:
        n = -(-(s + 2 * padding - kernel) // stride) + 1
        if (n - 1) * stride >= s + padding:
            n -= 1
        out.append(n)
    return tuple(out)  # type: ignore[return-value]


def module_ref(path: str) -> str:
    """``self.se.fc1``; a numbered part indexed (``self.branch2[0].conv``), as in an ``nn.Sequential``."""
    ref = "self"
    for part in path.split("."):
        ref = f"{ref}.{part}" if part.isidentifier() else f"{ref}[{int(part)}]" if part.isdigit() else \
            f"getattr({ref}, {part!r})"
    return ref


class Weighted:
    """What a layer record is as a step of a unit's graph (plan/graph.py, plan/steps.py): a module at
    its path, called on its one input; what it saves for backward is its class's rule in
    complexity/layer_saves.py, applied by the memory model's ``Flow.layer``; its ONNX nodes
    (``onnx``, as the steps' in plan/steps.py) read its tensors through ``b.param(path, suffix)``,
    which names the initializer (a BN folded into its conv: the conv's folded weight and bias)."""

    path: str

    def expr(self, args: list[str]) -> str:
        return f"{module_ref(self.path)}({args[0]})"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.layer(self, xs[0])

    def out_shape(self, *shapes: Shape) -> Shape:
        return shapes[0]

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """Each record class emits its own nodes; a new one without them is refused by name (torch.onnx is used)."""
        raise b.unsupported(self, f"a {type(self).__name__} layer")

    @property
    def label(self) -> str:
        """What it does, for the module-graph diagram (beside its name): each record says more."""
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Conv(Weighted):
    """A 2-d convolution; MACs exclude the bias, as FlopCounterMode does.

    ``kernel`` and ``padding`` are ints for square windows (every layer but the factorised
    ones) or (height, width) pairs: Inception-v3's 1x7 conv is ``kernel=(1, 7),
    padding=(0, 3)``. ``kernel_hw`` and ``pad_hw`` read either as pairs; ``kernel`` and
    ``pad`` keep the form given, which is what ``nn.Conv2d`` and the standalone code take.
    """

    path: str
    cin: int
    cout: int
    kernel: Window
    in_size: Size
    stride: int = 1
    groups: int = 1
    bias: bool = False
    padding: Window | None = None  # None: "same" padding, kernel // 2 per side
    dilation: int = 1
    # Which of the network's init rules fill it (blocks/init.py): "linear" for a conv that is the
    # classifier (SqueezeNet's last conv, which torchvision initialises as its classifier).
    init: Literal["conv", "linear"] = "conv"

    @property
    def kernel_hw(self) -> Size:
        return pair(self.kernel)

    @property
    def pad(self) -> Window:
        if self.padding is not None:
            return self.padding
        if isinstance(self.kernel, int):
            return self.kernel // 2 * self.dilation
        return (self.kernel[0] // 2 * self.dilation, self.kernel[1] // 2 * self.dilation)

    @property
    def pad_hw(self) -> Size:
        return pair(self.pad)

    @property
    def label(self) -> str:
        """``3\u00d73``, ``1\u00d77`` (factorised), then ``/2`` for a stride, ``g32`` for groups, ``d2`` for a dilation."""
        kh, kw = self.kernel_hw
        text = f"{kh}\u00d7{kw}"
        for mark, value in (("/", self.stride), ("g", self.groups), ("d", self.dilation)):
            if value > 1:
                text += f" {mark}{value}"
        return text

    @property
    def taps(self) -> int:
        """Kernel positions per output (kh x kw)."""
        k = self.kernel
        return k * k if isinstance(k, int) else k[0] * k[1]

    @cached  # the records are frozen; reports ask for it once per count
    def out_size(self) -> Size:
        return conv_out(self.in_size, self.kernel, self.stride, self.pad, self.dilation)

    def out_shape(self, *shapes: Shape) -> Shape:
        return (self.cout, *self.out_size)

    @property
    def params(self) -> int:
        weight = self.cout * (self.cin // self.groups) * self.taps
        return weight + (self.cout if self.bias else 0)

    @property
    def macs(self) -> int:
        h, w = self.out_size
        return self.cout * (self.cin // self.groups) * self.taps * h * w

    @property
    def out_elements(self) -> int:
        h, w = self.out_size
        return self.cout * h * w

    @property
    def tensors(self) -> dict[str, Shape]:
        """The state_dict entries (suffix -> shape) of the module built from this record."""
        shapes = {"weight": (self.cout, self.cin // self.groups, *self.kernel_hw)}
        return {**shapes, "bias": (self.cout,)} if self.bias else shapes

    @property
    def elementwise(self) -> dict[str, int]:
        """Elementwise ops beside the MACs, by class (complexity/counting.py): the bias add."""
        return {"bias": self.out_elements} if self.bias else {}

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        (kh, kw), (ph, pw) = self.kernel_hw, self.pad_hw
        bias = b.param(self.path, "bias")  # a folded BN gives a conv without one its bias
        return b.node("Conv", [xs[0], b.param(self.path, "weight"), *([bias] if bias else [])],
                      kernel_shape=[kh, kw], strides=[self.stride, self.stride], pads=[ph, pw, ph, pw],
                      dilations=[self.dilation, self.dilation], group=self.groups)


@dataclass(frozen=True)
class Norm(Weighted):
    """A normalisation layer: a scale and a shift per channel; ``kind`` says which statistics.

    ``batch`` (BatchNorm2d) keeps running statistics as buffers; ``layer`` and ``group``
    normalise each sample by its own statistics and keep none.
    """

    path: str
    channels: int
    size: Size
    eps: float | None = None  # None until the planner applies the spec's batchnorm.eps
    momentum: float = 0.1
    kind: NormKind = "batch"
    # A layer norm over the channels of an NHWC map (after a permute, inside ConvNeXt's block: nn.LayerNorm)
    # rather than of an NCHW map (torchvision's LayerNorm2d). The same tensors and counts either way.
    channels_last: bool = False

    def with_settings(self, eps: float, momentum: float) -> "Norm":
        """This record with other ``eps`` and ``momentum``: ``dataclasses.replace`` without its
        per-call introspection (a design space's planning makes hundreds of thousands)."""
        new = object.__new__(Norm)
        new.__dict__.update(self.__dict__, eps=eps, momentum=momentum)
        return new

    @property
    def label(self) -> str:
        return {"batch": "bn", "layer": "LayerNorm", "group": "GroupNorm"}[self.kind]

    @property
    def params(self) -> int:
        return 2 * self.channels

    macs = 0

    @property
    def out_elements(self) -> int:
        return self.channels * self.size[0] * self.size[1]

    @property
    def tensors(self) -> dict[str, Shape]:
        per_channel = (self.channels,)
        affine = {"weight": per_channel, "bias": per_channel}
        if self.kind != "batch":
            return affine
        return {**affine, "running_mean": per_channel, "running_var": per_channel, BN_COUNTER: ()}

    @property
    def elementwise(self) -> dict[str, int]:
        """One op per output element (an inference BN folds into one multiply-add)."""
        return {"norm": self.out_elements}

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """BatchNormalization with the running statistics (nothing where it is folded into its conv);
        a layer norm over the last dim, inside transposes for an NCHW map (as LayerNorm2d permutes)."""
        x = xs[0]
        if self.kind == "batch":
            if b.folded(self.path):
                return x
            return b.node("BatchNormalization", [x, *(b.param(self.path, s) for s in
                                                      ("weight", "bias", "running_mean", "running_var"))],
                          epsilon=self.eps)
        if self.kind != "layer":
            raise b.unsupported(self, f"a {self.kind} norm")
        affine = [b.param(self.path, "weight"), b.param(self.path, "bias")]
        if self.channels_last:
            return b.node("LayerNormalization", [x, *affine], axis=-1, epsilon=self.eps)
        nhwc = b.node("Transpose", [x], perm=[0, 2, 3, 1])
        normed = b.node("LayerNormalization", [nhwc, *affine], axis=-1, epsilon=self.eps)
        return b.node("Transpose", [normed], perm=[0, 3, 1, 2])


@dataclass(frozen=True)
class Linear(Weighted):
    """A fully connected layer applied to a pooled vector (or to 1x1 maps, as SE does), or at every
    position of an NHWC map of ``size`` (ConvNeXt's pointwise layers: ``nn.Linear`` on the last dim).

    FlopCounterMode counts the per-position layer as one matmul over all H x W rows, so the
    MACs are ``cin * cout * H * W``; at the default ``size`` (1, 1) they are ``cin * cout``.
    """

    path: str
    cin: int
    cout: int
    bias: bool = True
    size: Size = (1, 1)  # the map it is applied at, position by position
    # Which of the network's init rules fill it (blocks/init.py): "linear"; "aux_linear" for an auxiliary
    # head's classifier where the preset has its own rule (torchvision's Inception-v3 AuxLogits.fc: std
    # 0.001); or a role the preset names (plan/init.py's ``roles``: ViT's "attention_in", "attention_out").
    init: Literal["linear", "aux_linear", "attention_in", "attention_out"] = "linear"

    def out_shape(self, *shapes: Shape) -> Shape:
        return (*shapes[0][:-1], self.cout)

    @property
    def label(self) -> str:
        return f"linear {self.cin}\u2192{self.cout}"

    @property
    def params(self) -> int:
        return self.cin * self.cout + (self.cout if self.bias else 0)

    @property
    def macs(self) -> int:
        return self.cin * self.cout * self.size[0] * self.size[1]

    @property
    def out_elements(self) -> int:
        return self.cout * self.size[0] * self.size[1]

    @property
    def tensors(self) -> dict[str, Shape]:
        shapes = {"weight": (self.cout, self.cin)}
        return {**shapes, "bias": (self.cout,)} if self.bias else shapes

    @property
    def elementwise(self) -> dict[str, int]:
        return {"bias": self.out_elements} if self.bias else {}

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """Gemm on a vector; on a map's last dim (per position), MatMul by the transposed weight, then the bias."""
        bias = b.param(self.path, "bias")
        if len(ins[0]) == 1:
            return b.node("Gemm", [xs[0], b.param(self.path, "weight"), *([bias] if bias else [])], transB=1)
        y = b.node("MatMul", [xs[0], b.param(self.path, "weight", transpose=True)])
        return b.node("Add", [y, bias]) if bias else y


@dataclass(frozen=True)
class DeformConv(Conv):
    """A deformable conv (torchvision.ops.DeformConv2d) with the conv predicting its offsets.

    ``params`` and ``macs`` include the offset conv (``offset`` below). MAC policy: the
    deformable conv counts as the regular conv of the same shape (``sampling_macs``),
    bilinear sampling excluded; FlopCounterMode does not see ``deform_conv2d`` at all,
    so only ``offset.macs`` is comparable with it.
    """

    @property
    def offset(self) -> Conv:
        """Predicts 2 coordinates per kernel tap per output position; same stride and padding."""
        taps = 2 * self.taps
        return Conv(f"{self.path}.offset", self.cin, taps, self.kernel, self.in_size, self.stride,
                    bias=True, padding=self.padding, dilation=self.dilation)

    @property
    def label(self) -> str:
        return f"{Conv.label.fget(self)} deformable"  # type: ignore[attr-defined]

    @property
    def sampling_macs(self) -> int:
        return Conv.macs.fget(self)  # type: ignore[attr-defined]

    @property
    def unmeasured_macs(self) -> int:
        """MACs counted here that FlopCounterMode cannot see (checkers subtract them)."""
        return self.sampling_macs

    @property
    def params(self) -> int:
        return Conv.params.fget(self) + self.offset.params  # type: ignore[attr-defined]

    @property
    def macs(self) -> int:
        return self.sampling_macs + self.offset.macs

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """The offset conv, then ONNX's DeformConv (opset 19) on the module's ``conv`` tensors."""
        offset = Conv.onnx(self.offset, b, xs, ins, out)
        (kh, kw), (ph, pw) = self.kernel_hw, self.pad_hw
        bias = b.param(f"{self.path}.conv", "bias")
        return b.node("DeformConv", [xs[0], b.param(f"{self.path}.conv", "weight"), offset, *([bias] if bias else [])],
                      kernel_shape=[kh, kw], strides=[self.stride, self.stride], pads=[ph, pw, ph, pw],
                      dilations=[self.dilation, self.dilation], group=self.groups, offset_group=1)


@dataclass(frozen=True)
class LayerScale(Weighted):
    """A learned per-channel scale of a residual branch (ConvNeXt's ``layer_scale``, Touvron et al. 2021).

    Its one tensor is a bare parameter of the unit (``tensors`` key ``""``: the state_dict entry is
    ``<unit>.<path>`` itself, as in torchvision's CNBlock), of shape (channels, 1, 1), starting at ``init``.
    """

    path: str
    channels: int
    size: Size
    init: float

    label = "layer scale"

    def expr(self, args: list[str]) -> str:
        return f"{module_ref(self.path)} * {args[0]}"

    @property
    def params(self) -> int:
        return self.channels

    macs = 0

    @property
    def out_elements(self) -> int:
        return self.channels * self.size[0] * self.size[1]

    @property
    def tensors(self) -> dict[str, Shape]:
        return {"": (self.channels, 1, 1)}

    @property
    def elementwise(self) -> dict[str, int]:
        """One multiply per output element."""
        return {"scale": self.out_elements}

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Mul", [b.param(self.path, ""), xs[0]])  # (C, 1, 1) broadcast over an NCHW map


@dataclass(frozen=True)
class ClassToken(Weighted):
    """A learned token put before the others (ViT's ``class_token``): a bare parameter of shape
    (1, 1, width), expanded over the batch and concatenated, a new tensor; nothing saved (the
    concatenation's backward needs only sizes). Starts at zero, as torchvision's."""

    path: str
    width: int
    tokens: int  # before it: the output has one more
    init: tuple[str, float] = ("fill", 0.0)  # how blocks/init.py fills it
    folds_input: ClassVar[bool] = False  # its expression names its input twice: the input gets a variable

    def out_shape(self, *shapes: Shape) -> Shape:
        return (shapes[0][0] + 1, self.width)

    def expr(self, args: list[str]) -> str:
        x = args[0]
        return f"torch.cat([{module_ref(self.path)}.expand({x}.shape[0], -1, -1), {x}], 1)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.merge("cat", (xs[0],), self.width * (self.tokens + 1))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """The token expanded to (N, 1, width), N read off the input, then put before the others."""
        param = b.param(self.path, "")  # first: the step's nodes are then named apart from the parameter
        batch = b.node("Slice", [b.node("Shape", [xs[0]]), b.ints([0]), b.ints([1])])
        token = b.node("Expand", [param, b.node("Concat", [batch, b.ints([1, self.width])], axis=0)])
        return b.node("Concat", [token, xs[0]], axis=1)

    @property
    def params(self) -> int:
        return self.width

    macs = 0

    @property
    def out_elements(self) -> int:
        return (self.tokens + 1) * self.width

    @property
    def tensors(self) -> dict[str, Shape]:
        return {"": (1, 1, self.width)}

    @property
    def elementwise(self) -> dict[str, int]:
        return {}  # data movement only


@dataclass(frozen=True)
class PosEmbedding(Weighted):
    """A learned position embedding added to the tokens (ViT's ``encoder.pos_embedding``): a bare
    parameter of shape (1, tokens, width), one vector per token, so its size follows the input's.
    ``x + embedding`` is a new tensor; nothing saved. Starts normal(0, 0.02), as torchvision's."""

    path: str
    width: int
    tokens: int
    init: tuple[str, float] = ("normal", 0.02)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]} + {module_ref(self.path)}"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), self.tokens * self.width)

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        return b.node("Add", [xs[0], b.param(self.path, "")])

    @property
    def params(self) -> int:
        return self.tokens * self.width

    macs = 0

    @property
    def out_elements(self) -> int:
        return self.tokens * self.width

    @property
    def tensors(self) -> dict[str, Shape]:
        return {"": (1, self.tokens, self.width)}

    @property
    def elementwise(self) -> dict[str, int]:
        """One add per element, a learned additive term (counted with the biases)."""
        return {"bias": self.tokens * self.width}


def tensor_name(prefix: str, suffix: str) -> str:
    """The state_dict key of one of a record's tensors: ``prefix.suffix``, or ``prefix`` for a bare parameter."""
    return f"{prefix}.{suffix}" if suffix else prefix


Op = Union[Conv, Norm, Linear, LayerScale, ClassToken, PosEmbedding]
