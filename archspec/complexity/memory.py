"""Activation memory from the Plan (no torch): what a training step saves, what inference holds.

Each unit's graph of steps (plan/graph.py) is replayed as a *flow* of tensors, in the order its
generated forward runs; each step class says what it does to them (its ``flow``). What a step
keeps for backward is decided here, in one place per kind of step:

- a layer record: one rule per record class in ``layer_saves.py`` (convs and linears save
  their input, norms their input and statistics, ...);
- in place, as torchvision's Conv2dNormActivation runs them: ReLU saves its output; SiLU,
  ReLU6 and Hardswish a copy of their input (autograd's ``original self``). Not in place
  (squeeze-excite's, as torchvision's SqueezeExcitation, and GELU, always: ConvNeXt's exact
  one): ReLU saves its new output, Hardsigmoid, SiLU (MaxViT's SE) and GELU their input, sigmoid
  and Tanh their output. A
  max-pool its input and its int64 indices, an average pool its input (a global
  one is a mean and saves nothing); SE's rescaling multiply both factors; dropout its
  noise (CPU: a tensor of the activation dtype; CUDA: a bool mask); stochastic depth its
  per-sample mask; an in-place dropout (MobileNetV3's classifier) its noise in the activation dtype on
  either device (ATen's ``dropout_`` never takes the fused kernel). Adds, concatenations,
  zero-padding, slicing, permutes, channel splits (views), channel shuffles (a copy) and
  flattening save nothing.

A tensor is a storage: in-place steps and views return the storage they were given, and a
storage saved twice (by a ReLU and by the conv after it) counts once, charged to the unit
that saved it first. That is exactly what ``saved_tensors_hooks`` sees
(``archspec/complexity/measure.py``); parameters and buffers are not activations and never
count. The input batch does: the stem's first layer saves it.

Inference peak: the same flow in eval mode (dropout and stochastic depth are identities, no
copies for backward; a max-pool's indices exist during its step only). A tensor is live from the step that makes it until the last step that
reads it; the peak is the largest sum of live tensors at any step (its inputs and output
included). DenseNet's concatenations are live until the next one is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..plan.graph import INPUT
from ..plan.ops import Op
from ..plan.types import Plan, Unit
from ..spec.families import OUT_OF_PLACE_ACTIVATIONS
from .layer_saves import record_saves

DTYPES = {"fp32": 4, "bf16": 2, "fp16": 2}
DEVICES = ("cpu", "cuda")
INDEX_BYTES = 8  # max-pool indices are int64
MASK_BYTES = 1  # CUDA's fused dropout keeps a bool mask
STAT_BYTES = 4  # CUDA keeps BN's saved mean / inverse std in fp32 (the accumulation type)
FLOAT_BYTES = 4  # fp32 whatever the activations: fused attention's log-sum-exp


@dataclass(frozen=True)
class Layout:
    """How wide each kind of tensor is: the activation dtype and the device's dropout and BN kernels."""

    batch: int = 1
    dtype: str = "fp32"
    device: str = "cpu"

    def bytes(self, kind: str) -> int:
        act = DTYPES[self.dtype]
        cpu = self.device == "cpu"
        return {"act": act, "index": INDEX_BYTES, "noise": act if cpu else MASK_BYTES,
                "stat": act if cpu else STAT_BYTES, "float": FLOAT_BYTES}[kind]


@dataclass(slots=True)
class Tensor:
    elements: int  # per sample when ``per_sample``, else in all
    kind: str  # "act", "index", "noise", "stat" or "float" (see Layout.bytes)
    per_sample: bool = True
    saved_by: str | None = None  # the unit that saved it first
    made: int = -1  # step index
    last_read: int = -1


@dataclass(slots=True)
class Step:
    unit: str
    reads: tuple[int, ...]
    out: int | None


@dataclass
class Flow:
    """The network's tensors and steps, built unit by unit; ``training`` picks the mode replayed.
    ``dtype`` and ``device`` are the layout's: a few kernels depend on them (fused attention's)."""

    training: bool
    dtype: str = "fp32"
    device: str = "cpu"
    tensors: list[Tensor] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    unit: str = ""
    events: list[tuple[Any, ...]] = field(default_factory=list)  # (unit, kind, ...): what counting policies read

    def emit(self, kind: str, *facts: Any) -> None:
        """Note a step for the counting policies (``policies.py``): its kind and the facts they weigh."""
        self.events.append((self.unit, kind, *facts))

    # -- building blocks -------------------------------------------------------------
    def new(self, elements: int, kind: str = "act", per_sample: bool = True) -> int:
        self.tensors.append(Tensor(elements, kind, per_sample, made=len(self.steps)))
        return len(self.tensors) - 1

    def save(self, *ids: int) -> None:
        if not self.training:
            return
        for i in ids:
            if self.tensors[i].saved_by is None:
                self.tensors[i].saved_by = self.unit

    def step(self, reads: tuple[int, ...], out: int | None) -> None:
        index = len(self.steps)
        self.steps.append(Step(self.unit, reads, out))
        for i in reads:
            self.tensors[i].last_read = index

    def op(self, reads: tuple[int, ...], elements: int, saves: tuple[int, ...] = ()) -> int:
        """A step making a new tensor of ``elements`` per sample; ``saves`` among reads (or ``-1``: its output)."""
        out = self.new(elements)
        self.step(reads, out)
        self.save(*(out if s == -1 else s for s in saves))
        return out

    def elements(self, t: int) -> int:
        return self.tensors[t].elements

    # -- layers from records ---------------------------------------------------------
    def layer(self, record: Op, x: int) -> int:
        """Run one weighted layer; what it saves is :func:`record_saves`' answer for its kind."""
        self.emit("layer", record)
        return record_saves(record, self, x)

    def chain(self, unit: Unit, paths: list[str], x: int) -> int:
        for path in paths:
            x = self.layer(unit.op(path), x)
        return x

    # -- parameter-free steps --------------------------------------------------------
    def act(self, name: str, x: int, inplace: bool = True) -> int:
        """An activation (``spec.families.Activation``, or SE's ``hardsigmoid``); "none" is no step.

        In place: ReLU saves its output; SiLU, ReLU6 and Hardswish a copy of their input
        (autograd's ``original self``). Not in place: ReLU saves its new output, Hardsigmoid
        and GELU their input; GELU never runs in place (``OUT_OF_PLACE_ACTIVATIONS``).
        Measured with saved_tensors_hooks (tests/test_memory.py proves every spec).
        """
        if name == "none":
            return x
        inplace = inplace and name not in OUT_OF_PLACE_ACTIVATIONS
        rules = IN_PLACE_SAVES if inplace else OUT_OF_PLACE_SAVES
        if name not in rules:
            how = "in place" if inplace else "out of place"
            raise ValueError(f"no memory rule for activation {name!r} {how}: say what its backward saves here")
        self.emit("act", name, self.elements(x))
        saves = rules[name]
        if not inplace:
            return self.op((x,), self.elements(x), saves=(-1,) if saves == "output" else (x,))
        if saves == "input copy" and self.training:
            self.save(self.new(self.elements(x)))
        self.step((x,), x)
        if saves == "output":
            self.save(x)
        return x

    def sigmoid(self, x: int) -> int:
        self.emit("sigmoid", self.elements(x))
        return self.op((x,), self.elements(x), saves=(-1,))

    def mean(self, x: int, channels: int) -> int:
        """A global mean taken as a tensor method (SE's squeeze): saves nothing."""
        self.emit("mean", self.elements(x), channels)
        return self.op((x,), channels)

    def adaptive_pool(self, x: int, channels: int, in_size: tuple[int, int], out_size: tuple[int, int]) -> int:
        """``AdaptiveAvgPool2d``: to 1x1 ATen takes a mean (nothing saved), otherwise it saves its input."""
        self.emit("adaptive_pool", channels, in_size, out_size)
        out = channels * out_size[0] * out_size[1]
        return self.op((x,), out) if out_size == (1, 1) else self.op((x,), out, saves=(x,))

    def pool(self, kind: str, x: int, out_elements: int) -> int:
        """Max-pool: input and int64 indices; average pool: input.

        ATen's max-pool makes its indices in inference too (``max_pool2d`` is
        ``max_pool2d_with_indices`` with the indices dropped): they are live during the step
        only, which is the inference peak where a large map is pooled (SqueezeNet's stem).
        """
        self.emit("pool", kind, self.elements(x), out_elements)
        if kind != "max":
            return self.op((x,), out_elements, saves=(x,))
        indices = self.new(out_elements, "index")
        out = self.new(out_elements)
        self.step((x, indices), out)  # made and last read by this step
        self.save(x, indices)
        return out

    def mul(self, x: int, scale: int, elements: int | None = None) -> int:
        """``x * scale``: saves both. ``elements``: the product's size where ``x`` is a view of part of its
        storage (a chunk or slice), whose id here is the whole tensor's."""
        elements = self.elements(x) if elements is None else elements
        self.emit("mul", elements)
        return self.op((x, scale), elements, saves=(x, scale))

    def dropout(self, rate: float, x: int, inplace: bool = False) -> int:
        """ATen's dropout: identity at rate 0 or in eval; ``x * noise`` (CPU) or a fused kernel
        with a bool mask (CUDA); rate 1 multiplies by a saved 0-d zero. In place
        (``dropout_``): ``x.mul_(noise)`` on every device, the noise in the activation dtype."""
        if not self.training or rate == 0:
            return x
        if inplace and rate < 1:
            self.save(self.new(self.elements(x), "act"))
            self.step((x,), x)
            return x
        noise = self.new(1, "act", per_sample=False) if rate == 1 else self.new(self.elements(x), "noise")
        self.save(noise)
        return self.op((x,), self.elements(x))

    def drop_path(self, rate: float, x: int) -> int:
        """Stochastic depth: ``x * mask / keep``, the per-sample mask saved."""
        if not self.training or rate == 0:
            return x
        mask = self.new(1)
        self.save(mask)
        return self.op((self.op((x, mask), self.elements(x)),), self.elements(x))

    def merge(self, kind: str, reads: tuple[int, ...], elements: int) -> int:
        """Add or concatenate (``kind``): saves nothing."""
        self.emit(kind, elements)
        return self.op(reads, elements)

    def shuffle(self, x: int) -> int:
        """Channel shuffle: a view, a transpose (a view), ``contiguous`` (a copy), a view back.
        The copy is a new tensor; nothing is saved (the backward of each needs only shapes)."""
        self.emit("shuffle", self.elements(x))
        return self.op((x,), self.elements(x))

    def reshape(self, x: int, elements: int) -> int:
        """Zero-padding the channels makes a new tensor; nothing saved (slices and flattens are views)."""
        if elements == self.elements(x):
            return x
        self.emit("pad", elements)
        return self.op((x,), elements)


# What an activation's backward keeps: "output" (its result), "input copy" (a copy made before
# an in-place write) or "input" (the tensor it read). One entry per activation the builders make.
IN_PLACE_SAVES = {"relu": "output", "silu": "input copy", "relu6": "input copy", "hardswish": "input copy",
                  "leaky_relu": "output"}
OUT_OF_PLACE_SAVES = {"relu": "output", "hardsigmoid": "input", "gelu": "input", "silu": "input", "tanh": "output",
                      "leaky_relu": "input"}


def replay(plan: Plan, training: bool, dtype: str = "fp32", device: str = "cpu") -> Flow:
    """Every unit's graph in network order, the input batch first."""
    flow = Flow(training, dtype, device)
    flow.unit = plan.stem.name
    x = flow.new(plan.in_channels * plan.input_size[0] * plan.input_size[1])
    for unit in plan.units:
        flow.unit = unit.name
        if unit.graph is None:
            raise KeyError(f"unit {unit.name} ({unit.block!r}) has no step graph: its planner must make one")
        x = replay_graph(flow, unit.graph, x)
    return flow


def replay_graph(flow: Flow, graph: Any, x: int) -> int:
    """A unit's graph in its order: each step says what it does to the tensors (its ``flow``)."""
    values = {INPUT: x}
    shapes = {INPUT: graph.input_shape}
    for node in graph.nodes:
        ins = [shapes[i] for i in node.inputs]
        values[node.name] = node.step.flow(flow, [values[i] for i in node.inputs], ins, node.shape)
        shapes[node.name] = node.shape
    return values[graph.output]


@dataclass(frozen=True)
class UnitMemory:
    params_bytes: int
    train_saved_bytes: int
    infer_peak_bytes: int


@dataclass(frozen=True)
class Memory:
    """Memory of one network at one layout: per unit (by name) and in total."""

    layout: Layout
    units: dict[str, UnitMemory]
    params_bytes: int
    train_saved_bytes: int
    infer_peak_bytes: int

    @property
    def train_step_bytes(self) -> int:
        """Weights, their gradients, SGD's momentum buffer and the saved activations."""
        return 3 * self.params_bytes + self.train_saved_bytes

    @property
    def infer_bytes(self) -> int:
        """Weights and the inference peak."""
        return self.params_bytes + self.infer_peak_bytes

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.layout.batch, "dtype": self.layout.dtype, "device": self.layout.device,
                "params_bytes": self.params_bytes, "train_saved_bytes": self.train_saved_bytes,
                "train_step_bytes": self.train_step_bytes, "infer_peak_bytes": self.infer_peak_bytes,
                "infer_bytes": self.infer_bytes}


def tensor_bytes(t: Tensor, layout: Layout) -> int:
    return t.elements * (layout.batch if t.per_sample else 1) * layout.bytes(t.kind)


def peaks(flow: Flow, layout: Layout) -> list[int]:
    """Live bytes at every step of an eval-mode flow (a sweep over tensor lifetimes)."""
    n = len(flow.steps)
    delta = [0] * (n + 1)
    for t in flow.tensors:
        start = max(t.made, 0)
        end = max(t.last_read, start) if t.last_read >= 0 else n - 1  # never read: the output, live to the end
        size = tensor_bytes(t, layout)
        delta[start] += size
        delta[end + 1] -= size
    live, out = 0, []
    for i in range(n):
        live += delta[i]
        out.append(live)
    return out


def memory(plan: Plan, batch: int = 1, dtype: str = "fp32", device: str = "cpu") -> Memory:
    """Params, saved-for-backward and inference-peak bytes of ``plan``'s default build (no aux heads)."""
    if batch < 1 or dtype not in DTYPES or device not in DEVICES:
        raise ValueError(f"batch >= 1, dtype in {sorted(DTYPES)}, device in {DEVICES}: got {batch}, {dtype}, {device}")
    layout = Layout(batch, dtype, device)
    train, infer = (replay(plan, training, dtype, device) for training in (True, False))
    saved = {u.name: 0 for u in plan.units}
    for t in train.tensors:
        if t.saved_by is not None:
            saved[t.saved_by] += tensor_bytes(t, layout)
    peak = {u.name: 0 for u in plan.units}
    for step, live in zip(infer.steps, peaks(infer, layout)):
        peak[step.unit] = max(peak[step.unit], live)
    width = DTYPES[dtype]
    units = {u.name: UnitMemory(u.params * width, saved[u.name], peak[u.name]) for u in plan.units}
    return Memory(layout, units, plan.params * width, sum(saved.values()), max(peak.values()))
