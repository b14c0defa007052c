"""The one verification policy: every artifact (ONNX with any options, .pt2, standalone
Python, fx) and the module itself are held to the same rule, here, so that no export kind
or option can pass a network a sibling path would refuse.

A freshly initialised network evaluated with BN's initial running statistics (mean 0,
variance 1) passes each residual unit's growth on: deep nets output 1e11 or more, or
overflow to inf, and some (EfficientNet) shrink to a constant. Comparing such outputs
proves little. So an export is compared twice:

- **as built**: the file as written against the module as built (or as loaded). Both
  must be finite and agree within :data:`RELATIVE_TOLERANCE` of the output scale;
- **calibrated** (no weights loaded, BN present): the same artifact with BN running
  statistics calibrated on a few random batches in place of its own, against the module
  with the same statistics. The outputs are then O(1) and must depend on the input.

:func:`cases` makes them; each artifact runs them (:func:`holding` puts the statistics
into a torch module; ONNX takes them as initializers); :func:`judge` is the rule (finite on
both sides, same shapes, within the tolerance, the last case input-dependent) and
:func:`require` the failure: a :class:`VerificationError` naming the artifact, what was
compared and the figures. :func:`verified` and :func:`settle` chain them for exporters;
:func:`check_torch` holds the module itself to the rule before any export is made.
``max(0.0, nan)`` is 0.0 in Python, so every comparison checks finiteness first and never
folds a NaN into a maximum.
"""

from __future__ import annotations

import copy
import hashlib
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from functools import partial
from typing import Callable, Container, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .checks import Agreement

VERIFY_BATCHES = (1, 3)
VERIFY_SEED = 0  # the verification inputs are the same for every build: N(0, 1) images
CALIBRATION_BATCHES = 2
CALIBRATION_BATCH_SIZE = 8
LARGEST_BATCH = max(*VERIFY_BATCHES, CALIBRATION_BATCH_SIZE)  # what a memory estimate must allow for
# fp32 reorderings between torch and onnxruntime give 1e-6 to 1e-4 of the output scale
# (ResNet-50 with calibrated statistics: 6e-5); a 1% error is ten times the tolerance.
RELATIVE_TOLERANCE = 1e-3
# Outputs whose spread over the samples is below this share of their scale ignore the input.
INPUT_DEPENDENCE = 1e-4


class VerificationError(Exception):
    """A built network or an export failed verification; the message says what was compared."""


@dataclass(frozen=True)
class Comparison:
    """An artifact against torch on the verification inputs, under one set of BN statistics."""

    statistics: str  # "as built" or "calibrated"
    max_abs_diff: float  # largest |torch - onnxruntime|; inf when either is not finite
    scale: float  # largest |torch output|
    spread: float  # largest difference between any sample's torch output and the first one's
    finite: bool
    nonfinite: str = ""  # whose outputs were not finite: "torch" or the runtime's name

    @property
    def rel_diff(self) -> float:
        if not self.finite:
            return math.inf
        return self.max_abs_diff / self.scale if self.scale > 0 else self.max_abs_diff

    @property
    def input_dependent(self) -> bool:
        return self.finite and self.spread > INPUT_DEPENDENCE * self.scale

    def describe(self) -> str:
        return (f"{self.statistics}: relative error {self.rel_diff:.2g} (max |diff| {self.max_abs_diff:.3g}, "
                f"output scale {self.scale:.3g})")


@dataclass(frozen=True)
class OnnxCheck:
    """What :func:`verify_onnx` compared and found. ``ok`` only when nothing in ``problems``."""

    path: Path
    opset: int
    batches: tuple[int, ...]
    comparisons: tuple[Comparison, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def exercised(self) -> Comparison:
        """The comparison that exercises the graph: calibrated where the network has BN."""
        return self.comparisons[-1]

    @property
    def max_abs_diff(self) -> float:
        return max(c.max_abs_diff for c in self.comparisons)

    @property
    def max_rel_diff(self) -> float:
        return max(c.rel_diff for c in self.comparisons)

    @property
    def input_dependent(self) -> bool:
        return self.exercised.input_dependent

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """One line per comparison, the one that exercises the graph (calibrated) first, each with
        its relative error first; then, in words, why the untrained network's raw outputs are so
        far from 1 when they are (a first-time reader takes 2e+11 for a fault)."""
        head = (f"onnxruntime vs torch at batch {' and '.join(map(str, self.batches))} of N(0, 1) inputs, "
                f"opset {self.opset}, checker ok")
        calibrated = (f" (BN running statistics calibrated on {CALIBRATION_BATCHES} random batches "
                      f"of {CALIBRATION_BATCH_SIZE})")
        lines = [head] + ["  " + c.describe() + (calibrated if c.statistics.endswith("calibrated") else "")
                          for c in self.comparisons]
        first = sorted(range(len(self.comparisons)),
                       key=lambda i: not self.comparisons[i].statistics.endswith("calibrated"))
        lines = lines[:1] + [lines[1 + i] for i in first]  # the calibrated comparisons first, in their order
        raw = [c for c in self.comparisons if c.statistics.endswith("as built") and c.finite and c.scale > 0]
        far = max(raw, key=lambda c: abs(math.log10(c.scale)), default=None)  # a backbone's most extreme map
        if far is not None and len(raw) < len(self.comparisons) and not 1e-3 <= far.scale <= 1e3:
            lines.append("  " + untrained_scale_note(far.scale))
        return "\n".join(lines)


def untrained_scale_note(scale: float) -> str:
    """Why an untrained network's outputs are huge (or vanish) as built, in words."""
    way = "the residual sums grow unit by unit" if scale > 1 else "the signal shrinks stage by stage and nearly vanishes"
    return (f"(why {scale:.3g} as built: untrained, every BN layer still holds its initial statistics, mean 0 and "
            f"variance 1, so nothing is normalised and {way}. Expected of random weights, not a fault: the "
            "relative error is what is checked, and the calibrated line runs the graph at a realistic scale)")


def verification_inputs(shape: Sequence[int], batches: Sequence[int] = VERIFY_BATCHES,
                        seed: int = VERIFY_SEED) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, *shape, generator=generator) for n in batches]


def torch_outputs(model: nn.Module, inputs: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """The module's output on each input; a backbone's maps (a list per input) one after another."""
    model.eval()
    with torch.no_grad():
        results = [model(x) for x in inputs]
    return [t.float().numpy() for r in results for t in (r if isinstance(r, (list, tuple)) else (r,))]


# ---------------------------------------------------------------------------------------------
# The policy: one rule for the module and every artifact made from it.
#
# 1. Cases: the verification inputs run through the module as built and, when no weights were
#    loaded and it has BN, again with calibrated statistics (:func:`cases`).
# 2. Each artifact runs every case (with the case's BN statistics in place of its own).
# 3. :func:`judge`: every output finite on both sides, same shapes, within the tolerance of
#    the output scale, and the last ("exercised") case's outputs must depend on the input.
# 4. :func:`require` raises VerificationError naming the artifact and what was compared.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Inputs, the module's outputs on them, and the BN statistics it held (None: its own)."""

    statistics: str  # "as built" or "calibrated"
    inputs: tuple[torch.Tensor, ...]
    expected: tuple[np.ndarray, ...]
    overrides: dict[str, np.ndarray] | None = None


def cases(model: nn.Module, inputs: Sequence[torch.Tensor], calibrate: bool) -> list[Case]:
    """The module's outputs as built and, with ``calibrate`` where it has BN, with statistics
    calibrated on random batches at the first input's size. ``calibrate`` is False once trained
    weights were loaded: their statistics are the ones to verify. Inside :func:`reuse_cases`, each
    is computed once per module and inputs."""
    inputs = tuple(inputs)
    key = (id(model), _digest(inputs)) if _SHARED is not None else None

    def once(statistics: str, make: Callable[[], Case]) -> Case:
        if key is None:
            return make()
        found = _SHARED.get((*key, statistics))
        if found is None:
            found = _SHARED[(*key, statistics)] = make()
        return found

    def calibrated() -> Case:
        with calibrated_statistics(model, tuple(inputs[0].shape[1:])) as stats:
            return Case("calibrated", inputs, tuple(torch_outputs(model, inputs)), stats)

    found = [once("as built", lambda: Case("as built", inputs, tuple(torch_outputs(model, inputs))))]
    if calibrate and has_batchnorm(model):
        found.append(once("calibrated", calibrated))
    return found


_SHARED: dict | None = None  # inside reuse_cases(): (module id, inputs' digest, statistics) -> Case


@contextmanager
def reuse_cases() -> Iterator[None]:
    """Inside, :func:`cases` runs the module (and calibrates its BN statistics) once per module and
    inputs: one build verifies several artifacts of a module whose tensors hold the same values
    throughout (``-e all``: ONNX, fx, .pt2 and the standalone code share the cases)."""
    global _SHARED
    outer, _SHARED = _SHARED, {}
    try:
        yield
    finally:
        _SHARED = outer


def _digest(inputs: Sequence[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for x in inputs:
        h.update(repr(tuple(x.shape)).encode())
        h.update(x.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


@contextmanager
def holding(module: nn.Module, overrides: dict[str, np.ndarray] | None) -> Iterator[nn.Module]:
    """Inside, the module's buffers named in ``overrides`` hold those values; restored on exit.
    How torch-side artifacts (fx, a loaded .pt2, a re-export) run a calibrated case."""
    saved: dict[str, torch.Tensor] = {}
    try:
        for name, value in (overrides or {}).items():
            buffer = module.get_buffer(name)
            saved[name] = buffer.clone()
            buffer.copy_(torch.from_numpy(value).to(buffer.dtype))
        yield module
    finally:
        for name, value in saved.items():
            module.get_buffer(name).copy_(value)


def below_range(c: Comparison, comparisons: Sequence[Comparison], floor: float) -> bool:
    """Whether ``c`` is an as-built comparison whose torch outputs are all smaller than ``floor``, the
    smallest normal number of the artifact's precision (fp16: 6.1e-05), while a calibrated comparison
    runs the same graph at a realistic scale. An untrained network's raw outputs can be that small
    (EfficientNet-B0's: 5e-14), where fp16 holds no digit of them: the half-precision file then cannot
    agree with fp32 torch whatever its graph, so that comparison is shown but not judged, and the
    calibrated one (still judged, as is every output's finiteness) is the check of the graph."""
    return (c.finite and c.statistics.endswith("as built") and c.scale < floor
            and any(o.finite and o.statistics.endswith("calibrated") for o in comparisons))


def judge(found: Sequence[Case], outputs: Sequence[Sequence[np.ndarray]], runtime: str,
          tolerance: float = RELATIVE_TOLERANCE,
          names: Sequence[str] = (), floor: float = 0.0) -> tuple[tuple[Comparison, ...], tuple[str, ...]]:
    """The rule every artifact is held to; returns the comparisons and the problems (empty: passed).

    ``names`` names the outputs of a module with several (a backbone's maps: ``outputs`` hold
    them per input, in order, as :func:`torch_outputs` does); each is then compared on its own
    scale, its comparisons named by it, and each must depend on the input. ``floor``: the
    smallest normal number of a reduced-precision artifact (:func:`below_range`).
    """
    comparisons: list[Comparison] = []
    for case, got in zip(found, outputs, strict=True):
        got = [np.asarray(o, np.float32) for o in got]
        if len(got) != len(case.expected):
            return (), (f"{case.statistics}: {runtime} gave {len(got)} outputs, torch {len(case.expected)}",)
        for e, g in zip(case.expected, got):
            if np.shape(e) != np.shape(g):
                return (), (f"{case.statistics}: {runtime} gave outputs of shape {np.shape(g)}, torch {np.shape(e)}",)
        n = len(names)
        comparisons += ([compare(f"{name} {case.statistics}", case.expected[k::n], got[k::n], runtime)
                         for k, name in enumerate(names)] if names else
                        [compare(case.statistics, case.expected, got, runtime)])
    problems: list[str] = []
    for c in comparisons:
        if not c.finite:
            problems.append(f"{c.statistics}: the outputs of {c.nonfinite} are not finite (NaN or infinity)")
        elif c.rel_diff > tolerance and not below_range(c, comparisons, floor):
            problems.append(f"{c.statistics}: {runtime} differs from torch by {c.rel_diff:.2g} of the output "
                            f"scale (tolerance {tolerance:g})")
    for exercised in comparisons[-max(len(names), 1):]:  # the last statistics' comparisons, one per output
        if exercised.finite and not exercised.input_dependent:
            problems.append(f"{exercised.statistics}: the outputs are the same for every input (spread "
                            f"{exercised.spread:.3g} at output scale {exercised.scale:.3g}), so the comparison "
                            "proves nothing about the graph")
    return tuple(comparisons), tuple(problems)


def verify_artifact(model: nn.Module, inputs: Sequence[torch.Tensor], run: "Runner", runtime: str,
                    tolerance: float = RELATIVE_TOLERANCE, calibrate: bool = True,
                    keeps: Container[str] | None = None,
                    names: Sequence[str] = ()) -> tuple[tuple[Comparison, ...], tuple[str, ...]]:
    """:func:`cases`, ``run`` on each, :func:`judge`. ``keeps`` holds the statistics' names the
    artifact can take (None: all of them); an artifact that keeps none cannot run a calibrated case."""
    found = cases(model, inputs, calibrate)
    outputs, problems = [], []
    for case in found:
        overrides = case.overrides
        if overrides is not None and keeps is not None:
            overrides = {name: value for name, value in overrides.items() if name in keeps}
            if not overrides:
                problems.append(f"the export keeps no BN statistics by name (folded into the convs?), so {runtime} "
                                "cannot run it with calibrated statistics")
                found = found[:1]
                break
        outputs.append(run(case.inputs, overrides))
    comparisons, judged = judge(found, outputs, runtime, tolerance, names)
    return comparisons, (*problems, *judged)


def require(target: str | Path, what: str, comparisons: Sequence[Comparison], problems: Sequence[str],
            loaded: str | None = None, detail: bool = True) -> None:
    """VerificationError, one paragraph: the artifact, what was compared, what failed, why where
    that is known, the comparisons' figures (``detail``), and that nothing was written."""
    if not problems:
        return
    parts = [f"{target}: {what}: {'; '.join(problems)}."]
    if any("same for every input" in p for p in problems):
        parts.append(_why_constant(comparisons, loaded))
    if detail and comparisons:
        parts.append("Compared " + "; ".join(c.describe() for c in comparisons) + ".")
    parts.append("Nothing was written.")
    raise VerificationError(" ".join(parts))


def verified(target: str | Path, what: str, model: nn.Module, inputs: Sequence[torch.Tensor], run: "Runner",
             runtime: str, tolerance: float = RELATIVE_TOLERANCE, calibrate: bool = True,
             loaded: str | None = None, floor: float = 0.0, precision: torch.dtype | None = None) -> Agreement:
    """The policy for an artifact that can run any case: compare, judge, raise or summarise.

    ``precision``: the artifact stores its tensors in that type (fp16). The tolerance is then at least
    :data:`PRECISION_MARGIN` times what storing them so costs this network (:func:`precision_error`),
    since rounding errors add up layer by layer, and the summary says so where that raised it."""
    found = cases(model, inputs, calibrate)
    if precision is not None:
        own = precision_error(model, found, precision, floor)
        if PRECISION_MARGIN * own > tolerance:
            tolerance = PRECISION_MARGIN * own
            what += (f"; tolerance {PRECISION_MARGIN:g}x the {own:.2g} of the output scale that storing every "
                     f"tensor in {str(precision).removeprefix('torch.')} costs this network in torch")
    return settle(target, what, found, [run(case.inputs, case.overrides) for case in found], runtime, tolerance,
                  loaded, floor)


# A reduced-precision artifact may differ from fp32 torch by this many times the error that rounding
# every stored tensor to its precision gives in torch (where it rounds, fusions, the order of sums differ).
PRECISION_MARGIN = 2.0


def precision_error(model: nn.Module, found: Sequence[Case], dtype: torch.dtype, floor: float = 0.0) -> float:
    """What storing every tensor in ``dtype`` costs this network: the largest relative error (of each case's
    output scale) of a copy of the module whose floating parameters and buffers are rounded to ``dtype`` and
    whose every leaf module rounds its output to it, computing in fp32 (as onnxruntime's CPU kernels
    accumulate), against the module's fp32 outputs, case by case (calibrated statistics rounded too).

    fp16 keeps 11 significant bits, but the roundings add up through the layers: for an untrained
    ResNet-50 with calibrated statistics this is 0.032 of the output scale, which torch's own fp16
    forward shows too (0.033, but 17 times slower on the CPU) and onnxruntime's fp16 file (0.025).
    Cases whose outputs are below ``floor`` (:func:`below_range`) or not finite count for nothing.
    """
    def rounded(x: torch.Tensor) -> torch.Tensor:
        return x.to(dtype).float() if x.is_floating_point() else x

    def round_output(_: nn.Module, __: object, out: object) -> object:
        if isinstance(out, torch.Tensor):
            return rounded(out)
        return type(out)(rounded(o) if isinstance(o, torch.Tensor) else o for o in out) \
            if isinstance(out, tuple) else out

    stored = copy.deepcopy(model).eval()
    with torch.no_grad():
        for tensor in (*stored.parameters(), *stored.buffers()):
            tensor.copy_(rounded(tensor))
    for module in stored.modules():
        if not any(True for _ in module.children()):
            module.register_forward_hook(round_output)
    worst = 0.0
    for case in found:
        overrides = None if case.overrides is None else {
            k: rounded(torch.from_numpy(v)).numpy() for k, v in case.overrides.items()}
        with holding(stored, overrides):
            got = torch_outputs(stored, [rounded(x) for x in case.inputs])
        c = compare(case.statistics, case.expected, got)
        if c.finite and c.scale >= floor:
            worst = max(worst, c.rel_diff)
    return worst


def settle(target: str | Path, what: str, found: Sequence[Case], outputs: Sequence[Sequence[np.ndarray]],
           runtime: str, tolerance: float = RELATIVE_TOLERANCE, loaded: str | None = None,
           floor: float = 0.0) -> Agreement:
    """:func:`judge` the outputs an artifact gave for ``found``; :func:`require` them; the summary line, whose
    figures are the judged comparisons' (one below the precision's range is named, not counted)."""
    comparisons, problems = judge(found, outputs, runtime, tolerance, floor=floor)
    require(target, what, comparisons, problems, loaded)
    judged = [c for c in comparisons if not below_range(c, comparisons, floor)]
    statistics = " and ".join(c.statistics for c in judged) + "".join(
        f"; {c.statistics} not judged: its outputs, at most {c.scale:.2g}, are below the smallest normal "
        f"number of the file's precision, {floor:.2g}" for c in comparisons if c not in judged)
    return Agreement(f"{what} ({statistics})", max(c.max_abs_diff for c in judged),
                     max(c.rel_diff for c in judged), tolerance)


def _why_constant(comparisons: Sequence[Comparison], loaded: str | None) -> str:
    if loaded:
        return f"With the weights loaded from {loaded}, the module itself ignores its input."
    if any(c.statistics.endswith("calibrated") for c in comparisons):
        return ("The module ignores its input both as built and with BN statistics calibrated on random "
                "batches, so the initial statistics are not the cause: look for a field that zeroes a layer, "
                "such as an infinite or huge batchnorm.eps.")
    return "The module ignores its input as built."


def check_torch(model: nn.Module, shape: Sequence[int], loaded: str | None = None,
                batches: Sequence[int] = VERIFY_BATCHES) -> list[np.ndarray]:
    """The module's outputs on the verification batches, checked by the policy before any
    artifact is made: VerificationError where any is not finite or (as built, or with
    calibrated statistics when no weights were loaded) they do not depend on the input.

    ``loaded`` names the weights the module holds (None: freshly initialised), for the message.
    """
    inputs = verification_inputs(shape, batches)
    found = cases(model, inputs, calibrate=False)
    outputs = found[0].expected
    bad = sum(int(np.size(o) - np.count_nonzero(np.isfinite(o))) for o in outputs)
    if bad:
        total = sum(int(np.size(o)) for o in outputs)
        raise VerificationError(
            f"torch's outputs are not finite: {bad} of {total} values are NaN or inf (the module as built, "
            f"eval mode, batch {' and '.join(map(str, batches))} of N(0, 1) inputs). {_why_not_finite(model, loaded)}")
    comparisons, problems = judge(found, [c.expected for c in found], "torch")
    if problems and loaded is None:  # constant as built: calibrated statistics may still exercise it
        found = cases(model, inputs, calibrate=True)
        comparisons, problems = judge(found, [c.expected for c in found], "torch")
    require("the compiled module", f"its outputs at batch {' and '.join(map(str, batches))} of N(0, 1) inputs",
            comparisons, problems, loaded, detail=False)
    return list(outputs)

def _why_not_finite(model: nn.Module, loaded: str | None) -> str:
    state = model.state_dict()
    broken = [name for name, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if broken:
        where = f"The weights loaded from {loaded}" if loaded else "The module's tensors"
        shown = ", ".join(broken[:3]) + (f" and {len(broken) - 3} more" if len(broken) > 3 else "")
        return f"{where} hold non-finite values in {len(broken)} tensors ({shown}). Nothing was written."
    if loaded:
        return (f"The weights loaded from {loaded} are finite, but their activations overflow float32 "
                "on these inputs. Nothing was written.")
    return ("Every weight is finite: untrained, eval-mode BN (running mean 0, variance 1) passes each "
            "residual unit's growth on, and this many units overflow float32. Nothing was written; "
            "build it with trained weights (--weights), or fewer units.")


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in model.modules())


@contextmanager
def calibrated_statistics(model: nn.Module, shape: Sequence[int],
                          batches: int = CALIBRATION_BATCHES, batch_size: int = CALIBRATION_BATCH_SIZE,
                          seed: int = VERIFY_SEED + 1) -> Iterator[dict[str, np.ndarray]]:
    """Inside, every BN layer holds running statistics averaged over ``batches`` random
    batches (the rest of the module in eval mode: no dropout, no drop-path); yields them by
    state_dict name. The module's own statistics are restored on exit."""
    norms = {name: m for name, m in model.named_modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats}
    saved = {name: (m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for name, m in norms.items()}
    generator = torch.Generator().manual_seed(seed)
    try:
        model.eval()
        for m in norms.values():
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
            m.train()
        with torch.no_grad():
            for _ in range(batches):
                model(torch.randn(batch_size, *shape, generator=generator))
        model.eval()
        stats: dict[str, np.ndarray] = {}
        for name, m in norms.items():
            stats[f"{name}.running_mean"] = m.running_mean.numpy().copy()
            stats[f"{name}.running_var"] = m.running_var.numpy().copy()
        yield stats
    finally:
        for name, m in norms.items():
            momentum, mean, var, tracked = saved[name]
            m.momentum = momentum
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(tracked)
        model.eval()


def compare(statistics: str, expected: Sequence[np.ndarray], got: Sequence[np.ndarray],
            runtime: str = "onnxruntime") -> Comparison:
    """Finiteness first: a NaN never becomes a difference of 0."""
    for e, g in zip(expected, got):
        if e.shape != g.shape:
            raise VerificationError(f"{runtime} gave shape {g.shape}, torch {e.shape}")
    torch_finite = all(np.isfinite(e).all() for e in expected)
    finite = torch_finite and all(np.isfinite(g).all() for g in got)
    if not finite:
        side = runtime if torch_finite else "torch"
        return Comparison(statistics, math.inf, math.inf, 0.0, False, nonfinite=side)
    worst = max(float(np.max(np.abs(g - e))) for e, g in zip(expected, got))
    scale = max(float(np.max(np.abs(e))) for e in expected)
    first = expected[0][:1]  # every sample against the first: batches of one still show a spread
    spread = max(float(np.max(np.abs(e - first))) for e in expected if e.shape[1:] == first.shape[1:])
    return Comparison(statistics, worst, scale, spread, True)


# An export's runner: its outputs on the inputs, with the named BN statistics (state_dict
# names) replaced by the given arrays when the second argument is not None.
Runner = Callable[[Sequence[torch.Tensor], Optional[dict[str, np.ndarray]]], list[np.ndarray]]




def compare_export(model: nn.Module, input_shape: Sequence[int], run: Runner, keeps: Container[str] | None,
                   runtime: str = "onnxruntime", batches: Sequence[int] = VERIFY_BATCHES,
                   calibrate: bool = True, outputs: Sequence[str] = ()) -> tuple[tuple[Comparison, ...], tuple[str, ...]]:
    """:func:`verify_artifact` on the verification batches of N(0, 1) inputs of ``input_shape``;
    ``outputs`` names a backbone's maps (:func:`judge`)."""
    return verify_artifact(model, verification_inputs(input_shape, batches), run, runtime,
                           calibrate=calibrate, keeps=keeps, names=outputs)


def verify_onnx(model: nn.Module, input_shape: Sequence[int], path: str | Path,
                batches: Sequence[int] = VERIFY_BATCHES, calibrate: bool = True) -> OnnxCheck:
    """Check the file with onnx.checker, run it in onnxruntime, compare with the module.

    ``calibrate``: also compare with calibrated BN statistics (the file keeps them as
    initializers named as in the state_dict); builds from trained weights skip it.
    A file with several outputs (a backbone's maps) is compared output by output.
    """
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(str(path), full_check=True)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    initializers = {i.name for i in proto.graph.initializer}
    outputs = [o.name for o in proto.graph.output]
    del proto
    comparisons, problems = compare_export(model, input_shape, partial(_run_onnx, path), initializers,
                                           batches=batches, calibrate=calibrate,
                                           outputs=outputs if len(outputs) > 1 else ())
    return OnnxCheck(Path(path), opset, tuple(batches), comparisons, problems)


def _run_onnx(path: str | Path, inputs: Sequence[torch.Tensor],
              overrides: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """onnxruntime on CPU, every output per input; ``overrides`` replace the file's initializers of the same names.

    The overrides are written into an in-memory copy of the model: onnxruntime's own
    ``SessionOptions.add_initializer`` left some BN statistics of DenseNet-121 unreplaced.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    options = ort.SessionOptions()
    options.log_severity_level = 3
    model: str | bytes = str(path)
    if overrides:
        proto = onnx.load(str(path))
        for init in proto.graph.initializer:
            if init.name in overrides:
                init.CopyFrom(numpy_helper.from_array(overrides[init.name], init.name))
        model = proto.SerializeToString()
        del proto
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [out for x in inputs for out in session.run(None, {name: x.numpy()})]
