"""Every bundled spec: archspec's ONNX writer agrees with torch.onnx in onnxruntime, and its
``--onnx-functions`` form with its flat form, one unit body at a time, each structure once.

Why so (issue 25 asks for every bundled spec at a small input; the suite's time allows this file
about a minute of worker time on 2 cores):

- A network's file is its unit bodies chained (:func:`~archspec.export.onnx_writer.emit` writes unit
  after unit; between two units there are only the BN folds across them, which the whole-network tests
  of tests/test_onnx_writer.py compare with torch.onnx for one spec per unit kind, pre-activation ones
  included). So each unit body is compared on its own: its module, both exporters' files of it
  (:func:`~archspec.export.onnx_writer.emit_units`), an input of its planned shape.
- Whole networks do not fit: the bundled specs hold 5.5 billion parameters, and at a small input their
  weights are the cost. Measured, one thread: ResNet-50 whole at 1x1 takes 0.34 s to emit, 0.63 s through
  torch.onnx's TorchScript exporter and 0.27 s per onnxruntime session; the dynamo exporter takes 2.7 to
  8 s a network (about 5 s fixed, 11 s for VGG's 124 M-parameter head alone). Comparing each distinct unit
  graph once (1,090 graphs, 1.27 billion parameters, 10,500 nodes) took 530 s.
- So bodies are compared once per *structure*: the unit graph without its channel counts (every step's
  kind, name, inputs, attributes and spatial extent; a conv's grouping as plain, depthwise or grouped;
  whether a chunk or shuffle divides its channels evenly), at its member with the fewest parameters.
  The nodes the writer emits for a step depend on these; channel counts enter only as tensor dimensions.
  That is 274 structures, 2,700 nodes and 0.4 billion parameters (an MLP head's hidden layers are made
  64 wide: VGG's and AlexNet's 4096-wide ones were 0.18 of them): 51 s of CPU time in one process, 59 s with ``-n 2`` (both workers' start-up and planning
  included). A spec added later adds only the structures no spec had.
- torch.onnx is its TorchScript exporter (dynamo=False: the same ONNX operators, ten times faster),
  except for the deformable convs it has no symbolic for, which the dynamo exporter exports in one call.
  TorchScript cannot export adaptive pooling to a size that does not divide its input either: VGG and
  AlexNet, whose heads pool to 7x7 and 6x6, are compared at their own 224x224, the smallest size that
  gives their heads such maps (one structure per resolution, so their convs cost little).

What is compared: each unit module with random weights, every tensor that holds one value made random
too (BN statistics, scales and shifts, layer scales, zero biases: folding is exercised and a residual
branch whose last BN starts at zero counts), at batch 2 of N(0, 1) inputs. Each spec is planned at its
smallest valid input of at least 32x32 (early units see maps of several pixels), without auxiliary heads
(eval builds have none). All outputs must be finite and depend on the input; torch.onnx's file, the
writer's and its functions form must agree with torch within 1e-4 of the output scale, the writer's
with torch.onnx's too, and the functions form with the flat one within 1e-6.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import sys
import warnings
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

import archspec
from archspec.blocks.init import initialise
from archspec.blocks.registry import build_unit
from archspec.export.onnx import DEFORMABLE_OPSET, OPSET
from archspec.export.onnx_writer import FUNCTION_DOMAIN, WriterSettings, emit_units
from archspec.plan.errors import PlanError
from archspec.plan.graph import INPUT
from archspec.plan.planner import make_plan
from archspec.plan.types import Plan, Unit

SPECS = archspec.list_specs()
SMALLEST = 32  # the input floor: early units see maps of several pixels
TOLERANCE = 1e-4  # of the largest output: fp32 reorderings between two graphs of the same unit
GROUP_PARAMS = 30_000_000  # bodies exported together up to this many parameters (memory, protobuf's limit)
SEED = 0
COUNTS = {"cin", "cout", "width", "channels", "size", "macs"}  # channel counts and what follows from them
IGNORED = {"init", "momentum", "rate", "inplace"}  # no part of the emitted nodes, nor of eval-mode torch


def small_plan(name: str) -> Plan:
    """The spec at its smallest valid square input of at least :data:`SMALLEST`, without aux heads; at its
    own input size where TorchScript cannot export its adaptive pooling at the small one (VGG's and
    AlexNet's heads pool to 7x7 and 6x6: only their own 224x224 gives maps those sizes divide)."""
    spec = archspec.load(name)
    sets = ["body.aux_heads=[]"] if getattr(spec.body, "aux_heads", None) else []  # eval builds have no aux modules
    hidden = getattr(spec.head, "hidden", None)
    if isinstance(hidden, (list, tuple)) and hidden:  # VGG's and AlexNet's 4096-wide FCs: widths are no part
        # of the structure, and 64 costs far less
        sets.append(f"head.hidden=[{', '.join('64' for _ in hidden)}]")
    if sets:
        spec = archspec.load(name, sets)
    for size in range(SMALLEST, max(SMALLEST, *spec.input.hw) + 1):
        try:
            plan = make_plan(spec, (size, size))
        except PlanError:
            continue
        if any(torchscript_cannot(u, pooling_only=True) for u in (plan.stem, *plan.body, plan.head)):
            own = make_plan(spec, spec.input.hw)
            return own if not any(torchscript_cannot(u, True) for u in (own.stem, *own.body, own.head)) else plan
        return plan
    raise AssertionError(f"{name}: no valid input from {SMALLEST} to its own size")


def structure(unit: Unit) -> tuple:
    """The unit graph without its channel counts: what the writer's nodes for it depend on."""
    graph = unit.graph
    shapes: dict[str, tuple] = {INPUT: graph.input_shape}
    axes: dict[str, int] = {INPUT: channel_axis(graph.input_shape)}
    steps = []
    for node in graph.nodes:
        step = node.step
        kind = type(step).__name__
        fields = {k: v for k, v in dataclasses.asdict(step).items() if k not in COUNTS | IGNORED}
        if "groups" in fields and hasattr(step, "cin"):
            fields["groups"] = "plain" if step.groups == 1 else "depthwise" if step.groups == step.cin else "grouped"
        if kind in ("Chunk", "Shuffle"):
            fields["even"] = shapes[node.inputs[0]][0] % (step.parts if kind == "Chunk" else step.groups) == 0
        if kind == "ZeroPad":
            fields["extra"] = bool(step.extra)
        before = axes[node.inputs[0]] if node.inputs else None
        if kind == "Permute" and before is not None:
            axes[node.name] = list(step.dims).index(before)
        elif before is not None and len(shapes[node.inputs[0]]) == len(node.shape):
            axes[node.name] = before  # a step that keeps the layout keeps the channel axis
        else:
            axes[node.name] = channel_axis(node.shape)
        shape = tuple("C" if i == axes[node.name] else d for i, d in enumerate(node.shape))
        steps.append((kind, node.name, node.inputs, shape, repr(sorted(fields.items()))))
        shapes[node.name] = node.shape
    return tuple(steps), graph.output, tuple("C" if i == axes[INPUT] else d for i, d in enumerate(graph.input_shape))


def channel_axis(shape: tuple) -> int:
    """Where a value's channels are: first in a (C, H, W) map or a (C,) vector, last in (tokens, width)."""
    return 1 if len(shape) == 2 else 0


def torchscript_cannot(unit: Unit, pooling_only: bool = False) -> bool:
    """Whether TorchScript's exporter has no symbolic for a step of it (the dynamo exporter has): a
    deformable conv, or adaptive pooling to a size that does not divide its input."""
    for node in unit.graph.nodes:
        kind = type(node.step).__name__
        if kind == "DeformConv" and not pooling_only:
            return True
        if kind == "AdaptiveAvgPool":
            (h, w), (oh, ow) = unit.graph.shape_of(node.inputs[0])[1:], node.shape[1:]
            if (oh, ow) != (1, 1) and (h % oh or w % ow):
                return True
    return False


@functools.lru_cache(maxsize=None)
def comparisons() -> tuple[dict[str, list[Unit]], list[Unit], dict[str, dict[tuple, str]]]:
    """Each structure's cheapest unit, under the spec it comes from (TorchScript's) or in the dynamo list;
    and for each spec, its structures and the spec each one is compared under."""
    cheapest: dict[tuple, tuple[Unit, str]] = {}
    found: dict[str, set] = {}
    for name in SPECS:
        plan = small_plan(name)
        found[name] = set()
        for unit in (plan.stem, *(u for s in plan.stages for u in s.units), plan.head):
            if not unit.graph.nodes:
                continue  # an empty stem: the identity, no nodes
            key = structure(unit)
            found[name].add(key)
            if key not in cheapest or unit.params < cheapest[key][0].params:
                cheapest[key] = (unit, name)
    owned: dict[str, list[Unit]] = {name: [] for name in SPECS}
    dynamo: list[Unit] = []
    for unit, name in cheapest.values():
        (dynamo if torchscript_cannot(unit) else owned[name]).append(unit)
    where = {name: {key: "dynamo" if torchscript_cannot(cheapest[key][0]) else cheapest[key][1] for key in keys}
             for name, keys in found.items()}
    return owned, dynamo, where


class Units(nn.Module):
    """Units side by side: ``forward(x0, x1, ...)`` is ``(u0(x0), u1(x1), ...)``."""

    def __init__(self, units: list[Unit]):
        super().__init__()
        for unit in units:
            self.add_module(unit.name, build_unit(unit))

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(module(x) for module, x in zip(self.children(), xs))


def randomised(units: list[Unit]) -> Units:
    """The units' modules, initialised as a network's are, then every tensor that holds one value
    (BN and LayerNorm scales, shifts and statistics, layer scales, zero biases) drawn from U(0.5, 1.5)."""
    module = Units(units).eval()
    initialise(module, None, SEED)
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            if tensor.is_floating_point() and tensor.numel() and bool(tensor.min() == tensor.max()):
                tensor.uniform_(0.5, 1.5, generator=generator)
    return module


def torch_onnx(module: Units, xs: tuple[torch.Tensor, ...], names: list[str], dynamo: bool) -> bytes:
    """torch.onnx's file of the module: TorchScript's exporter, or the dynamo exporter."""
    deformable = any(type(m).__name__ == "DeformConv2d" for m in module.modules())
    opset = DEFORMABLE_OPSET if deformable else OPSET
    inputs, outputs = [f"{n}:in" for n in names], [f"{n}:out" for n in names]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(module, xs, dynamo=True, opset_version=opset, input_names=inputs,
                                        output_names=outputs, optimize=False)
            return program.model_proto.SerializeToString()
        buffer = io.BytesIO()
        torch.onnx.export(module, xs, buffer, dynamo=False, opset_version=opset, input_names=inputs,
                          output_names=outputs)
        return buffer.getvalue()


def run(model: Any, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    """onnxruntime on CPU, one thread, weights not prepacked (each file runs once: a third less set-up)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.disable_prepacking", "1")
    session = ort.InferenceSession(model.SerializeToString() if hasattr(model, "SerializeToString") else model,
                                   options, providers=["CPUExecutionProvider"])
    return session.run(outputs, feeds)


def groups(units: list[Unit]) -> list[list[Unit]]:
    """Consecutive units of at most :data:`GROUP_PARAMS` parameters together (one unit above it alone)."""
    found: list[list[Unit]] = []
    total = 0
    for unit in units:
        if not found or total + unit.params > GROUP_PARAMS:
            found.append([])
            total = 0
        found[-1].append(unit)
        total += unit.params
    return found


def compare(units: list[Unit], dynamo: bool = False) -> list[str]:
    """torch.onnx's file, the writer's flat and functions files of these units side by side, and torch:
    the problems found (none: they agree)."""
    named = [dataclasses.replace(u, name=f"u{i}") for i, u in enumerate(units)]  # module names of their own
    module = randomised(named)
    generator = torch.Generator().manual_seed(SEED + 1)
    xs = tuple(torch.randn(2, *u.graph.input_shape, generator=generator) for u in named)
    names = [u.name for u in named]
    feeds = {f"{n}:in": x.numpy() for n, x in zip(names, xs)}
    outs = [f"{n}:out" for n in names]
    reference = run(torch_onnx(module, xs, names, dynamo), feeds, outs)
    flat = run(emit_units(module, named), feeds, outs)
    functions = emit_units(module, named, WriterSettings(functions=True))
    assert all(n.domain == FUNCTION_DOMAIN for n in functions.graph.node) and len(functions.functions) <= len(units)
    called = run(functions, feeds, outs)
    del functions
    with torch.no_grad():
        expected = [y.numpy() for y in module(*xs)]
    problems = []
    for unit, got, theirs, fn, e in zip(units, flat, reference, called, expected):
        what = f"{unit.name} ({unit.block}, input {unit.graph.input_shape})"
        if not all(np.isfinite(y).all() for y in (got, theirs, fn, e)):
            problems.append(f"{what}: outputs not finite")
            continue
        scale = float(np.abs(e).max())
        if not float(np.abs(e[0] - e[1]).max()) > 1e-3 * scale:
            problems.append(f"{what}: the outputs do not depend on the input")
        for side, y, tolerance in (("torch.onnx's", theirs, TOLERANCE), ("archspec's", got, TOLERANCE),
                                   ("archspec's functions", fn, TOLERANCE)):
            if y.shape != e.shape or float(np.abs(y - e).max()) > tolerance * scale:
                problems.append(f"{what}: {side} file differs from torch")
        if got.shape == theirs.shape and float(np.abs(got - theirs).max()) > TOLERANCE * scale:
            problems.append(f"{what}: archspec's file differs from torch.onnx's by "
                            f"{float(np.abs(got - theirs).max()) / scale:.2g} of the output scale")
        if fn.shape == got.shape and float(np.abs(fn - got).max()) > 1e-6 * scale:
            problems.append(f"{what}: the functions file differs from the flat one")
    return problems


@pytest.mark.parametrize("name", SPECS)
def test_every_unit_body_of_the_spec_agrees_with_torch_onnx_in_onnxruntime(name):
    owned, _, where = comparisons()
    assert where[name]  # every structure of the spec is compared: here, under another spec, or by dynamo
    problems = [p for group in groups(owned[name]) for p in compare(group)]
    assert not problems, f"{name}: " + "; ".join(problems)


def test_bodies_torchscript_cannot_export_agree_with_torch_onnxs_dynamo_exporter():
    _, dynamo, where = comparisons()
    assert {k for n in ("vgg-11", "alexnet", "resnet-50-dcn") for k, at in where[n].items() if at == "dynamo"}
    assert all(torchscript_cannot(u) for u in dynamo)
    problems = compare(dynamo, dynamo=True)
    assert not problems, "; ".join(problems)


def test_the_comparison_fails_on_a_wrong_weight_and_on_outputs_that_ignore_the_input(monkeypatch):
    """What each spec's test asserts can fail: one weight of the writer's file changed, or a unit made constant."""
    unit = small_plan("resnet-20").stages[0].units[0]
    assert compare([unit]) == []
    real_emit = emit_units

    def changed(module, units, settings=WriterSettings()):
        proto = real_emit(module, units, settings)
        tensor = next(t for t in proto.graph.initializer if t.name.endswith("conv1.weight"))
        tensor.raw_data = (np.frombuffer(tensor.raw_data, np.float32) * 1.01).tobytes()
        return proto

    monkeypatch.setattr(sys.modules[__name__], "emit_units", changed)
    assert any("archspec's file differs from torch.onnx's" in p for p in compare([unit]))
    monkeypatch.setattr(sys.modules[__name__], "emit_units", real_emit)
    real_randomised = randomised

    def constant(units):  # the stem (conv, BN, ReLU) with every weight, bias, BN scale and shift zero
        module = real_randomised(units)
        for name, tensor in module.state_dict().items():
            if name.endswith(("weight", "bias")):
                tensor.zero_()
        return module

    monkeypatch.setattr(sys.modules[__name__], "randomised", constant)
    assert any("do not depend on the input" in p for p in compare([small_plan("resnet-20").stem]))
