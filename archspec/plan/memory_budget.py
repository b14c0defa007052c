"""How much memory a build will take, estimated from the Plan before anything is allocated.

A spec can pass ``validate`` and still ask ``build`` for 36 GB (``classes: 140000000``
gives a 9-billion-weight classifier, under the parameter limit), or an ONNX check at a
4096x4096 input for many GB of activations. The build path calls :func:`require` first
and refuses with the figure and the limit instead of letting the machine swap or the
kernel kill the process.

The estimate is a simple upper bound, in float32 (4 bytes a value):

* weights: every parameter and BN buffer (running mean and variance, the batch
  counter), times ``weight_copies``, the number of copies alive at once;
* activations (only where a forward pass runs, at the largest batch it runs): the
  largest unit's input, the output of each of its layers, and twice its output (the
  merge and the activation or pooling after it), times ``runtimes``, the number of
  engines that hold such a peak at once (torch and onnxruntime for an ONNX check);
* a fixed working set: 64 MiB for any build (tracing, saving), 512 MiB more for the
  ONNX exporter.

Measured on torch 2.14 / onnxruntime, peak RSS above the imported libraries
(docs/authoring.md, "Untrusted specs"): wide-resnet-50-2 at 64x64 with an ONNX check
1.8 GiB (estimate 2.1 GiB), with a state_dict only 270 MiB (estimate 344 MiB, its
verification passes included); resnet-18 at 1024x1024 with an ONNX check 1.0 GiB
(estimate 1.8 GiB).

Units run one after another and a unit's temporaries die with it, so the peak of a
forward pass is bounded by its largest unit. Nothing here imports torch.
"""

from __future__ import annotations

from math import prod

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..spec.limits import current
from ..spec.numbers import NumberError, out_of_range, parse_float
from .errors import PlanError
from .ops import DeformConv, Norm
from .types import Plan, Unit

BYTES_PER_VALUE = 4  # float32
MACHINE_SHARE = 2  # the default limit is 1/MACHINE_SHARE of the machine's memory
FALLBACK_LIMIT = 8 << 30  # where the machine's memory cannot be read
BUILD_WORKING_SET = 64 << 20
ONNX_WORKING_SET = 512 << 20


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a build needs at most, by kind."""

    weights: int  # one copy of the parameters and BN buffers
    weight_copies: int
    activations: int  # the forward-pass peak over all runtimes; 0 when nothing runs forward
    batch: int  # the batch of that forward pass (0: none)
    working_set: int = 0  # what the tools themselves take, whatever the network

    @property
    def total(self) -> int:
        return self.weights * self.weight_copies + self.activations + self.working_set

    def describe(self) -> str:
        parts = [f"{size(self.weights)} of weights" + (f" x {self.weight_copies} copies" if self.weight_copies > 1
                                                       else "")]
        if self.activations:
            parts.append(f"{size(self.activations)} of activations at batch {self.batch}")
        if self.working_set:
            parts.append(f"{size(self.working_set)} for the tools")
        return f"about {size(self.total)} ({' + '.join(parts)})"


def estimate(plan: Plan, forward_batch: int = 0, weight_copies: int = 1, runtimes: int = 1,
             working_set: int = BUILD_WORKING_SET) -> MemoryEstimate:
    """The upper bound described in the module docstring."""
    values = sum(_weight_values(unit) for unit in plan.units)
    peak = max(_peak_values(unit) for unit in plan.units) if forward_batch else 0
    return MemoryEstimate(values * BYTES_PER_VALUE, weight_copies,
                          peak * forward_batch * runtimes * BYTES_PER_VALUE, forward_batch, working_set)


# Copies of the weights alive at once while an ONNX file is written and checked: the module,
# the exported graph's initialisers, their serialised bytes, onnx.checker's copy, onnxruntime's,
# and one for the exporter's intermediate passes (measured: about 5.4).
ONNX_WEIGHT_COPIES = 6
ONNX_RUNTIMES = 2  # torch and onnxruntime each run the verification batches


def for_build(plan: Plan, exports: tuple[str, ...] | list[str], verify_batch: int) -> MemoryEstimate:
    """What ``build_exports`` needs: the module and its verification (forward passes up to
    ``verify_batch``: the calibration batches), or with ``onnx`` the export and its check
    (in torch and in onnxruntime)."""
    if "onnx" in exports:
        return estimate(plan, verify_batch, ONNX_WEIGHT_COPIES, ONNX_RUNTIMES, BUILD_WORKING_SET + ONNX_WORKING_SET)
    return estimate(plan, verify_batch, weight_copies=2 if "safetensors" in exports else 1)  # its bytes, read back


def for_measurement(plan: Plan, weight_bytes: int, activation_bytes: int, copies: int = 1) -> MemoryEstimate:
    """What ``report --verify`` allocates on the CPU: ``copies`` real builds of ``weight_bytes``
    (the meta builds allocate nothing) and the larger of its measured passes, ``activation_bytes``
    (the exact figures of :mod:`archspec.complexity.memory`, which this layer does not import)."""
    return MemoryEstimate(weight_bytes, copies, activation_bytes, 1 if activation_bytes else 0, BUILD_WORKING_SET)


CHECKPOINT_VALUE_BYTES = 8  # a checkpoint may hold float64 tensors
CHECKPOINT_SLACK = 16 << 20  # its pickle, metadata and a few small tensors a converter ignores


def checkpoint_limit(plan: Plan) -> int:
    """The most bytes of tensor data a checkpoint for ``plan`` can sensibly hold: every parameter and
    BN buffer, training-only heads included, at 8 bytes each, and some slack. A checkpoint declaring
    more is refused before anything is loaded (a compressed archive could inflate to gigabytes)."""
    values = sum(_weight_values(unit) for unit in (*plan.units, *plan.aux))
    return values * CHECKPOINT_VALUE_BYTES + CHECKPOINT_SLACK


def _weight_values(unit: Unit) -> int:
    buffers = sum(2 * op.channels + 1 for op in unit.ops if isinstance(op, Norm) and op.kind == "batch")
    return unit.params + buffers


def _peak_values(unit: Unit) -> int:
    """Values alive at once while one image goes through ``unit`` (see the module docstring)."""
    inputs = unit.in_channels * unit.in_size[0] * unit.in_size[1]
    shapes = {n.name: n.shape for n in unit.graph.nodes} if unit.graph is not None else {}
    layers = sum(op.out_elements if hasattr(op, "out_elements") else prod(shapes.get(op.path, ()))  # a plugin's step
                 for op in unit.ops)
    offsets = sum(op.offset.out_elements for op in unit.ops if isinstance(op, DeformConv))
    return inputs + layers + offsets + 2 * unit.out_activations


def require(plan: Plan, needed: MemoryEstimate, limit: int | None = None) -> None:
    """Raise :class:`PlanError` (located at what dominates) when ``needed`` exceeds the limit."""
    limit = limit if limit is not None else memory_limit()
    if needed.total <= limit:
        return
    if needed.activations > needed.weights * needed.weight_copies:
        path: tuple = ("input", "size")
        cause = f"the activations at {plan.input_size[0]}x{plan.input_size[1]} dominate: lower the input size"
    else:
        path, part = _heaviest(plan)
        cause = f"most weights are in {_dotted(path)} ({size(part * BYTES_PER_VALUE)}): lower its widths or count"
    default = "" if current().max_memory is not None else f", by default half of this machine's {_machine_words()}"
    raise PlanError(path, f"building {plan.name} would need {needed.describe()}, above the memory limit of "
                          f"{size(limit)} (--max-memory{default}); {cause}, or raise --max-memory")


def _heaviest(plan: Plan) -> tuple[tuple, int]:
    parts = [(("stem",), plan.stem.params), (("head",), plan.head.params)]
    parts += [(("body", "stages", s.index), s.params) for s in plan.stages]
    return max(parts, key=lambda p: p[1])


def _dotted(path: tuple) -> str:
    return path[0] + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])


def memory_limit() -> int:
    """``--max-memory`` (``Limits.max_memory``), else half of the machine's memory."""
    configured = current().max_memory
    if configured is not None:
        return configured
    machine = machine_memory()
    return machine // MACHINE_SHARE if machine else FALLBACK_LIMIT


def machine_memory() -> int | None:
    """Physical memory, or the container's cgroup limit where that is lower; None if unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = None
    for cgroup in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(cgroup).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = int(text)
    return total if total and total > 0 else None


def _machine_words() -> str:
    machine = machine_memory()
    return size(machine) if machine else f"unknown memory (assumed {size(2 * FALLBACK_LIMIT)})"


UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
         "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([a-zA-Z]*)\s*")
LARGEST_SIZE = 1 << 62  # bytes: anything above is no machine's memory


def parse_size(text: str) -> int:
    """``"8GiB"``, ``"8G"`` (binary), ``"8GB"`` (decimal), ``"512MiB"``, ``"8e9"`` -> bytes."""
    match = SIZE.fullmatch(text)
    unit = match and UNITS.get(match.group(2).lower())
    if not match or unit is None:
        raise ValueError(f"expected a size such as 8GiB, 512MiB, 8GB or 8e9 (bytes), got {text!r}")
    scaled = parse_float(match.group(1)) * unit  # NumberError (a ValueError) beyond float64
    if scaled > LARGEST_SIZE:
        raise NumberError(out_of_range(text))
    value = int(scaled)
    if value < 1:
        raise ValueError(f"a memory limit must be at least 1 byte, got {text!r}")
    return value


def size(n: int) -> str:
    """Bytes in words: ``36.4 GiB``."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
