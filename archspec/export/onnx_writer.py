"""ONNX written straight from the Plan's step graphs: no tracing.

``Network.forward`` is ``head(stages(stem(x)))`` and every unit is a graph of typed steps
(plan/graph.py), so the ONNX graph is each unit's steps in order, each step adding its own
nodes (``step.onnx(b, xs, ins, out)`` in plan/steps.py and plan/ops.py) through the builder
below, and the module's tensors (its state_dict) as the initializers, named as there.

What the file holds is an inference graph, as deployment tools make it:

- a BatchNorm whose input is a conv read by nothing else is folded into that conv's weight
  and bias (``fold=False`` keeps every BatchNormalization node, with the running statistics);
- dropout and drop path are no nodes at all; no Identity or Cast nodes are written;
- with ``functions=True``, each distinct unit body is one ONNX local function, called once
  per unit (two units share a function when their nodes, attributes included, are the same).

A network with a unit that has no graph yet (or a backbone build) is not the writer's: the
caller exports it with torch.onnx instead (:func:`unsupported_reason` says why).

Weights are not copied while emitting: :func:`emit_model` returns an :class:`Emitted` model, the
ModelProto with each initializer a shell (name, type, shape) beside the module's own arrays (its
state_dict's storage), and those computed from them (a BN folded into a conv's weight, a transposed
or cast one) are computed one at a time when the file is written (:func:`save`: streamed into the
file, or by ``onnx_ir`` into ``NAME.data`` beside it). A 645 M-parameter network is emitted in
milliseconds; the cost of its weights is paid once, by writing them. (``onnx_ir`` is imported only for
external data: it imports sympy, 0.4 s, more than the whole emission of most networks.)

The calibrated-statistics check of verification loads the written file once and writes the
calibrated statistics into that in-memory copy's initializers (:func:`with_statistics`: the folded
convs' weights and biases folded again, the kept BNs' statistics replaced): the very graph the file
holds, without a second emission.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import numpy as np
import torch

from .._version import __version__
from ..plan.graph import INPUT, Graph
from ..plan.ops import BN_COUNTER, Conv, Norm, tensor_name
from ..plan.types import Plan, Unit
from .onnx import DEFORMABLE_OPSET, INPUT_NAME, OPSET, OUTPUT_NAME

IR_VERSION = 10  # what torch.onnx writes for opset 18; every onnxruntime since 1.16 reads it
FUNCTION_DOMAIN = "archspec.units"
WRITER_DTYPES = ("fp32", "fp16")


class Unsupported(Exception):
    """The network has something the writer does not emit; the message says what (the caller falls back)."""


@dataclass(frozen=True)
class WriterSettings:
    """What shapes the emitted graph besides the weights."""

    dtype: str = "fp32"
    dynamic: tuple[str, ...] = ("batch",)
    fold: bool = True
    functions: bool = False


def network_units(model: torch.nn.Module) -> list[Unit]:
    """The units ``Network.forward`` runs, in order: stem, the stages' units, head."""
    plan: Plan = model.plan
    return [plan.stem, *(u for s in plan.stages for u in s.units), plan.head]


def unsupported_reason(model: torch.nn.Module, dtype: str = "fp32") -> str | None:
    """Why the writer cannot emit this network (the caller uses torch.onnx then), or None when it can."""
    if getattr(model, "features_only", False):
        return "a backbone (features_only) build has several outputs, which the writer does not emit yet"
    if dtype not in WRITER_DTYPES:
        return f"the writer emits {' and '.join(WRITER_DTYPES)}, not {dtype}"
    plan = getattr(model, "plan", None)
    if plan is None:
        return "the module is not an archspec Network"
    missing = sorted({u.block for u in network_units(model) if u.graph is None})
    if missing:
        return f"its {', '.join(missing)} units have no step graph yet"
    silent = sorted({type(n.step).__name__ for u in network_units(model) for n in u.graph.nodes
                     if not hasattr(n.step, "onnx")})
    if silent:
        return f"its {', '.join(silent)} steps do not emit ONNX nodes yet"
    return None


@dataclass(frozen=True)
class _Deferred:
    """A tensor computed from the module's only when the file is written (a folded conv weight, a
    transposed or cast one): its shape, its dtype, and how to compute it."""

    shape: tuple[int, ...]
    dtype: np.dtype
    compute: Callable[[], np.ndarray]

    @property
    def T(self) -> "_Deferred":
        return _Deferred(self.shape[::-1], self.dtype, lambda: _contiguous(self.compute().T))

    def astype(self, dtype: Any) -> "_Deferred":
        dtype = np.dtype(dtype)
        return self if dtype == self.dtype else _Deferred(self.shape, dtype, lambda: self.compute().astype(dtype))


Array = Union[np.ndarray, _Deferred]


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` (a transposed view) laid out in C order: by torch, whose blocked copy of a transpose is
    2.5 times numpy's; writing a view element by element (numpy's ``tofile``) is slower still."""
    return torch.from_numpy(array).contiguous().numpy()


class _Network:
    """The initializers, constants and functions of one emission, shared by its units' builders.

    ``proto`` holds the graph with each initializer as a shell (name, type, shape, no data); ``data``
    holds what each one is: the module's array itself, or a :class:`_Deferred` computation.
    """

    def __init__(self, state: dict[str, np.ndarray], settings: WriterSettings):
        from onnx import ModelProto, TensorProto, helper

        self.helper = helper
        self.state = state
        self.settings = settings
        self.float = np.float16 if settings.dtype == "fp16" else np.float32
        self.proto = ModelProto()  # filled in place: make_graph and make_model would copy every tensor
        self.element = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
                        np.dtype(np.int64): TensorProto.INT64}
        self.initializers: set[str] = set()
        self.consumed: set[str] = set()
        self.functions: dict[bytes, Any] = {}  # a body's bytes -> its FunctionProto
        self.opset = OPSET
        self.folds: dict[str, str] = {}  # BN module path -> the conv's it folds into
        self.folded_convs: dict[str, str] = {}  # the other way
        self.eps: dict[str, float] = {}  # BN module path -> its eps
        self.fused: dict[str, dict[str, Array]] = {}  # conv module path -> its folded weight and bias
        self.constants: dict[tuple[str, tuple[int, ...], bytes], str] = {}  # the flat graph's, by value
        self.data: dict[str, Array] = {}  # initializer name -> its values (see the class's docstring)

    def tensor(self, name: str, array: Array) -> str:
        """An initializer (once per name); float arrays in the file's precision. Nothing is copied: a
        cast is deferred to writing, as the folded weights are."""
        if name not in self.initializers:
            self.initializers.add(name)
            if isinstance(array, np.ndarray) and not array.flags.c_contiguous:  # a transposed weight: laid out
                array = _Deferred(array.shape, array.dtype, lambda a=array: _contiguous(a))  # when written
            if array.dtype.kind == "f" and array.dtype != self.float:
                if isinstance(array, np.ndarray):
                    array = _Deferred(array.shape, array.dtype, lambda a=array: a)
                array = array.astype(self.float)
            tensor = self.proto.graph.initializer.add()
            tensor.name, tensor.data_type = name, self.element[np.dtype(array.dtype)]
            tensor.dims.extend(array.shape)
            self.data[name] = array
        return name

    def state_tensor(self, key: str) -> np.ndarray:
        try:
            array = self.state[key]
        except KeyError:
            raise Unsupported(f"the module has no tensor {key} that its graph's step names") from None
        self.consumed.add(key)
        return array


class _Builder:
    """What a step's ``onnx`` method adds nodes through, for one unit (see plan/steps.py).

    ``prefix`` is the unit's module path with a dot (``stages.0.1.``); values and flat-graph
    initializers are named under it, as the state_dict is. In a function body (``local``) names
    are the unit's own, tensors are the function's inputs, and constants are Constant nodes.
    """

    def __init__(self, net: _Network, unit: Unit, local: bool):
        self.net, self.local = net, local
        self.prefix = f"{unit.name}."
        self.names = "" if local else self.prefix  # how values are named
        self.nodes: list[Any] = []
        self.formals: dict[str, str] = {}  # a function's tensor inputs: formal name -> initializer name
        self.step = ""
        self.count = 0
        self.constants: dict[tuple[str, tuple[int, ...], bytes], str] = {}  # a function body's, by value

    # -- what the steps call ------------------------------------------------------------------
    def node(self, op: str, inputs: Sequence[str], **attrs: Any) -> str:
        """One node of the current step; returns its output's name (the step's path for its first node)."""
        out = f"{self.names}{self.step}" + (f"/{self.count}" if self.count else "")
        if out in self.net.initializers or out in self.formals:  # a bare parameter's name (layer scale)
            out += "/out"
        self.count += 1
        if op == "DeformConv":  # ONNX has it from opset 19
            self.net.opset = max(self.net.opset, DEFORMABLE_OPSET)
        self.nodes.append(self.net.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def param(self, path: str, suffix: str, transpose: bool = False) -> str | None:
        """The name of a step's tensor (``suffix`` ``""``: a bare parameter at ``path``); None for an
        absent bias. A conv that takes a BN's fold gets its folded weight and bias."""
        key = tensor_name(f"{self.prefix}{path}", suffix)
        conv = f"{self.prefix}{path}"
        if conv in self.net.folded_convs and suffix in ("weight", "bias"):
            array = self._folded(conv, self.net.folded_convs[conv])[suffix]
        elif suffix == "bias" and key not in self.net.state:
            return None
        else:
            array = self.net.state_tensor(key)
        name = f"{key}.T" if transpose else key
        if transpose:
            array = array.T
        self.net.tensor(name, array)
        if not self.local:
            return name
        formal = name[len(self.prefix):]
        self.formals[formal] = name
        return formal

    def folded(self, path: str) -> bool:
        """Whether the BN at ``path`` is folded into the conv before it (it then adds no node)."""
        return f"{self.prefix}{path}" in self.net.folds

    def ints(self, values: Sequence[int]) -> str:
        """A 1-d int64 constant (shapes, axes, pads, indices)."""
        return self._constant("i64", np.asarray(values, dtype=np.int64))

    def scalar(self, value: float) -> str:
        """A scalar in the graph's precision (Clip's bounds, GELU's constants)."""
        return self._constant("f", np.asarray(value, dtype=self.net.float))

    def matrix(self, rows: Sequence[Sequence[float]]) -> str:
        """A 2-d constant in the graph's precision (adaptive pooling's window shares)."""
        return self._constant("m", np.asarray(rows, dtype=self.net.float))

    def unsupported(self, step: Any, what: str) -> Unsupported:
        return Unsupported(f"{self.prefix}{step.path}: the writer does not emit {what}")

    # -- the rest -----------------------------------------------------------------------------
    def _constant(self, kind: str, array: np.ndarray) -> str:
        """One initializer per distinct value in the flat graph; in a function body, one Constant node per
        distinct value, numbered in order of first use (so equal bodies are equal, byte for byte)."""
        from onnx import numpy_helper

        key = (str(array.dtype), array.shape, array.tobytes())
        known = self.constants if self.local else self.net.constants
        name = known.get(key)
        if name is not None:
            return name
        name = known[key] = f"const.{kind}{len(known)}"
        if not self.local:
            return self.net.tensor(name, array)
        self.nodes.append(self.net.helper.make_node("Constant", [], [name], name=name,
                                                    value=numpy_helper.from_array(array, name)))
        return name

    def _folded(self, conv: str, bn: str) -> dict[str, Any]:
        """The conv's weight and bias (module paths) with the BN after it folded in (in float64, then
        float32): ``w * s`` and ``(b - mean) * s + beta``, ``s = gamma / sqrt(var + eps)`` per output channel."""
        if conv not in self.net.fused:
            self.net.fused[conv] = _fold(self.net.state_tensor, conv, bn, self.net.eps[bn],
                                         f"{conv}.bias" in self.net.state)
        return self.net.fused[conv]

    def emit(self, graph: Graph, x: str) -> str:
        """Every step of ``graph`` on input ``x``; returns the name of the unit's output."""
        values = {INPUT: x}
        shapes = {INPUT: graph.input_shape}
        for n in graph.nodes:
            self.step, self.count = n.name, 0
            values[n.name] = n.step.onnx(self, [values[i] for i in n.inputs], [shapes[i] for i in n.inputs], n.shape)
            shapes[n.name] = n.shape
        return values[graph.output]


def _fold(get: Any, conv: str, bn: str, eps: float, bias: bool) -> dict[str, Any]:
    """The conv's weight and bias (module paths; ``get`` reads a tensor by state_dict key) with the BN
    after it folded in (in float64, then float32): ``w * s`` and ``(b - mean) * s + beta``,
    ``s = gamma / sqrt(var + eps)`` per output channel. The weight is :class:`_Deferred` (the product
    is the size of the conv's weight; it is computed when written), the bias an array."""
    w = get(f"{conv}.weight")
    b = get(f"{conv}.bias").astype(np.float64) if bias else 0.0
    gamma, beta, mean, var = (get(f"{bn}.{s}").astype(np.float64)
                              for s in ("weight", "bias", "running_mean", "running_var"))
    scale = gamma / np.sqrt(var + eps)  # per channel, in float64; the weight's product in float32
    per_channel = scale.astype(np.float32).reshape(-1, *([1] * (w.ndim - 1)))
    return {"weight": _Deferred(w.shape, np.result_type(w, per_channel), lambda: w * per_channel),
            "bias": ((b - mean) * scale + beta).astype(np.float32)}


def with_statistics(proto: Any, model: torch.nn.Module, settings: WriterSettings,
                    statistics: dict[str, np.ndarray]) -> Any:
    """``proto`` (the writer's file of ``model``, loaded) with other BN running statistics, in place:
    each folded conv's weight and bias initializers folded again with them, each kept BN's statistics
    initializers replaced; no node is touched. What verification's calibrated comparison runs: the
    file's very graph, without emitting it a second time. Returns ``proto``."""
    from onnx import TensorProto

    units = network_units(model)
    folds = _fold_pairs(units) if settings.fold else {}
    eps = {f"{u.name}.{n.name}": n.step.eps for u in units for n in u.graph.nodes if isinstance(n.step, Norm)}
    state = _state(model, statistics)
    replace: dict[str, np.ndarray] = {}
    for bn, conv in folds.items():
        if f"{bn}.running_mean" in statistics:
            fused = _fold(state.__getitem__, conv, bn, eps[bn], f"{conv}.bias" in state)
            replace.update({f"{conv}.weight": fused["weight"].compute(), f"{conv}.bias": fused["bias"]})
    folded = {f"{bn}.{s}" for bn in folds for s in ("running_mean", "running_var")}
    replace.update({k: v for k, v in statistics.items() if k not in folded})
    dtype = np.float16 if settings.dtype == "fp16" else np.float32
    found = 0
    for tensor in proto.graph.initializer:
        array = replace.get(tensor.name)
        if array is None:
            continue
        if tensor.data_type not in (TensorProto.FLOAT, TensorProto.FLOAT16) or tuple(tensor.dims) != array.shape:
            raise Unsupported(f"the file's initializer {tensor.name} is not the module's tensor of that name")
        tensor.ClearField("float_data")
        tensor.raw_data = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        found += 1
    if found != len(replace):
        raise Unsupported(f"the file holds {found} of the {len(replace)} initializers the BN statistics change")
    return proto


def _fold_pairs(units: list[Unit]) -> dict[str, str]:
    """BN module path -> conv module path, for each batch norm whose input is a plain conv read by
    nothing else: inside a unit, or across two (a unit that ends in a conv, the next one's input read
    only by a BN, as pre-activation units begin)."""
    pairs: dict[str, str] = {}
    before: str | None = None  # the previous unit's output conv, where nothing else in it reads it
    for unit in units:
        graph, at = unit.graph, f"{unit.name}."
        steps, uses = {n.name: n.step for n in graph.nodes}, graph.uses()
        for n in graph.nodes:
            if not (isinstance(n.step, Norm) and n.step.kind == "batch" and len(n.inputs) == 1):
                continue
            source = n.inputs[0]
            if type(steps.get(source)) is Conv and uses[source] == 1:
                pairs[at + n.name] = at + source
            elif source == INPUT and before is not None and uses[INPUT] == 1:
                pairs[at + n.name] = before
        out = steps.get(graph.output)
        before = at + graph.output if type(out) is Conv and uses[graph.output] == 1 else (
            before if not graph.nodes else None)
    return pairs


def _state(model: torch.nn.Module, overrides: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The module's tensors as float32 (or integer) arrays, sharing the module's storage where they can."""
    state = {k: (v.detach().float() if v.is_floating_point() and v.dtype != torch.float32 else v.detach()).numpy()
             for k, v in model.state_dict().items()}
    return {**state, **(overrides or {})}


@dataclass(frozen=True)
class Emitted:
    """An ONNX model whose weights are not copied in: ``proto`` is its ModelProto with each initializer a
    shell (name, type, shape, no data), ``tensors`` what each one holds (by name): the module's array itself,
    or a :class:`_Deferred` computation. It shares the module's storage: write it (:func:`save`) before
    changing the module."""

    proto: Any
    tensors: dict[str, Array]

    def to_proto(self) -> Any:
        """The whole ModelProto, every tensor copied in (:func:`emit`)."""
        proto = type(self.proto)()
        proto.CopyFrom(self.proto)
        for tensor in proto.graph.initializer:
            tensor.raw_data = _little_endian(self.tensors[tensor.name]).tobytes()
        return proto

    def to_ir(self) -> Any:
        """The ``onnx_ir`` Model, its tensors over the arrays (no copy), the deferred ones lazy."""
        import onnx_ir as ir

        model = ir.serde.deserialize_model(self.proto)
        initializers = model.graph.initializers
        for key, array in self.tensors.items():
            value = initializers[key]
            value.const_value = _ir_tensor(ir, key, array)
            value.type = value.shape = None  # the tensor says both; no value_info for initializers, as before
        return model


def _little_endian(array: Array) -> np.ndarray:
    """The array's values (computed, if deferred) in C order and little-endian, as ONNX stores them; no copy
    of an array that already is."""
    array = array.compute() if isinstance(array, _Deferred) else array
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def emit(model: torch.nn.Module, settings: WriterSettings = WriterSettings(), metadata: dict[str, str] | None = None,
         overrides: dict[str, np.ndarray] | None = None) -> Any:
    """The ONNX ModelProto of ``model``: :func:`emit_model`'s, every weight copied into it."""
    return emit_model(model, settings, metadata, overrides).to_proto()


def emit_model(model: torch.nn.Module, settings: WriterSettings = WriterSettings(),
               metadata: dict[str, str] | None = None, overrides: dict[str, np.ndarray] | None = None) -> Emitted:
    """The ONNX model of ``model`` (an archspec Network whose units all have graphs), its weights not copied
    (:class:`Emitted`; :func:`save` writes it).

    ``overrides`` replace state_dict tensors by name (verification's calibrated BN statistics).
    Raises :class:`Unsupported` naming what the writer cannot emit.
    """
    reason = unsupported_reason(model, settings.dtype)
    if reason:
        raise Unsupported(reason)
    from onnx import helper

    plan: Plan = model.plan
    units = network_units(model)
    net = _network(model, units, settings, overrides, _fold_pairs(units) if settings.fold else {})
    nodes: list[Any] = []
    x = INPUT_NAME
    for unit in units:
        if not unit.graph.nodes:  # an empty stem: the identity
            continue
        b = _Builder(net, unit, local=settings.functions)
        if not settings.functions:
            x = b.emit(unit.graph, x)
            nodes += b.nodes
            continue
        out = b.emit(unit.graph, INPUT)
        function = _function(net, unit, b, out)
        call = f"{unit.name}"
        nodes.append(helper.make_node(function.name, [x, *b.formals.values()], [call], name=call,
                                      domain=FUNCTION_DOMAIN))
        x = call
    _name_output(nodes, x, OUTPUT_NAME)
    h, w = plan.input_size
    batch = "batch" if "batch" in settings.dynamic else 1
    hw = ["height", "width"] if "hw" in settings.dynamic else [h, w]
    return _finish(net, plan.name, nodes, [(INPUT_NAME, [batch, plan.in_channels, *hw])],
                   [(OUTPUT_NAME, [batch, plan.classes])], metadata)


def emit_units(model: torch.nn.Module, units: Sequence[Unit], settings: WriterSettings = WriterSettings()) -> Any:
    """One ModelProto holding each unit as a graph of its own: input ``NAME:in`` to output ``NAME:out``
    (``NAME`` the unit's name, batch dynamic), where ``model`` holds each unit's module at the unit's name.

    The nodes are those :func:`emit` writes for the unit, BN folded within the unit (``settings.fold``);
    with ``settings.functions`` each body is a local function, called once, as :func:`emit` writes them.
    What compares the writer with torch.onnx one distinct unit at a time (tests/test_onnx_equivalence.py):
    a network's file is these bodies chained, so every unit body can be checked without every network's weights.
    """
    if settings.dynamic != ("batch",):
        raise ValueError("emit_units writes graphs with a dynamic batch only")
    from onnx import helper

    folds = {bn: conv for u in units for bn, conv in _fold_pairs([u]).items()} if settings.fold else {}
    net = _network(model, units, settings, None, folds)
    nodes: list[Any] = []
    inputs, outputs = [], []
    for unit in units:
        if not unit.graph.nodes:
            raise Unsupported(f"{unit.name}: an empty unit is the identity; it has no nodes to compare")
        b = _Builder(net, unit, local=settings.functions)
        x = f"{unit.name}:in"
        if settings.functions:
            function = _function(net, unit, b, b.emit(unit.graph, INPUT))
            nodes.append(helper.make_node(function.name, [x, *b.formals.values()], [f"{unit.name}:out"],
                                          name=unit.name, domain=FUNCTION_DOMAIN))
        else:
            out = b.emit(unit.graph, x)
            _name_output(b.nodes, out, f"{unit.name}:out")
            nodes += b.nodes
        inputs.append((x, ["batch", *unit.graph.input_shape]))
        outputs.append((f"{unit.name}:out", ["batch", *unit.graph.shape_of(unit.graph.output)]))
    return _finish(net, "units", nodes, inputs, outputs, None).to_proto()


def _network(model: torch.nn.Module, units: Sequence[Unit], settings: WriterSettings,
             overrides: dict[str, np.ndarray] | None, folds: dict[str, str]) -> _Network:
    """The emission's shared state: the module's tensors, the BN folds, every norm's eps."""
    net = _Network(_state(model, overrides), settings)
    net.folds = folds
    net.folded_convs = {conv: bn for bn, conv in folds.items()}
    net.eps = {f"{u.name}.{n.name}": n.step.eps for u in units for n in u.graph.nodes if isinstance(n.step, Norm)}
    for bn in folds:
        net.consumed.add(f"{bn}.{BN_COUNTER}")
    return net


def _finish(net: _Network, name: str, nodes: list[Any], inputs: list[tuple[str, list]],
            outputs: list[tuple[str, list]], metadata: dict[str, str] | None) -> Emitted:
    """The model: every module tensor read, the nodes, the typed inputs and outputs, the metadata."""
    from onnx import TensorProto, helper

    settings = net.settings
    unused = {k for k in net.state if not k.endswith(BN_COUNTER)} - net.consumed
    if unused:
        raise Unsupported(f"the graphs do not read {len(unused)} of the module's tensors ({sorted(unused)[0]}, ...)")
    elem = TensorProto.FLOAT16 if settings.dtype == "fp16" else TensorProto.FLOAT
    proto = net.proto
    proto.ir_version, proto.producer_name, proto.producer_version = IR_VERSION, "archspec", __version__
    proto.opset_import.extend([helper.make_opsetid("", net.opset)]
                              + ([helper.make_opsetid(FUNCTION_DOMAIN, 1)] if settings.functions else []))
    proto.functions.extend(net.functions.values())
    graph = proto.graph
    graph.name = name
    graph.node.extend(nodes)
    graph.input.extend(helper.make_tensor_value_info(n, elem, shape) for n, shape in inputs)
    graph.output.extend(helper.make_tensor_value_info(n, elem, shape) for n, shape in outputs)
    for key, value in (metadata or {}).items():
        proto.metadata_props.add(key=key, value=value)
    return Emitted(proto, net.data)


def _ir_tensor(ir: Any, name: str, array: Array) -> Any:
    """An ``onnx_ir`` tensor over ``array``, no copy; a :class:`_Deferred` one computed each time it is read."""
    if isinstance(array, np.ndarray):
        return ir.Tensor(array, name=name)
    return ir.LazyTensor(lambda: ir.Tensor(array.compute()), dtype=ir.DataType.from_numpy(array.dtype),
                         shape=ir.Shape(array.shape), name=name)


def _function(net: _Network, unit: Unit, b: _Builder, out: str) -> Any:
    """The local function of this unit's body: an existing one where another unit's body is the same."""
    helper = net.helper
    inputs = [INPUT, *b.formals]
    body = b"".join(n.SerializeToString(deterministic=True) for n in b.nodes) + repr((inputs, out)).encode()
    function = net.functions.get(body)
    if function is None:
        name = f"{unit.block}_{len(net.functions)}"
        function = helper.make_function(FUNCTION_DOMAIN, name, inputs, [out], b.nodes,
                                        [helper.make_opsetid("", net.opset)])
        net.functions[body] = function
    return function


def _name_output(nodes: list[Any], value: str, output: str) -> None:
    """The graph's output value is named ``output`` (``logits``; renamed where the last node makes it)."""
    for node in reversed(nodes):
        for i, name in enumerate(node.output):
            if name == value:
                node.output[i] = output
                return
    raise Unsupported("the network's output is its input")


def save(model: Emitted | Any, path: Path, external: bool) -> None:
    """Write :func:`emit_model`'s model (or a whole ModelProto, :func:`emit`'s) to ``path``. With ``external``
    each tensor of 1 KiB or more is streamed into ``NAME.data`` beside it (named in the file) by ``onnx_ir``,
    one at a time, as it is computed; without, every tensor is copied into the one ModelProto that onnx
    writes (protobuf's limit: under 2 GiB)."""
    import onnx

    if isinstance(model, Emitted) and external:
        import onnx_ir as ir

        ir.save(model.to_ir(), str(path), external_data=f"{path.name}.data", size_threshold_bytes=1023)
        return
    proto = model.to_proto() if isinstance(model, Emitted) else model
    if external:
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{path.name}.data", size_threshold=1024)
    else:
        onnx.save_model(proto, str(path))


def write_onnx(model: torch.nn.Module, path: Path, settings: WriterSettings, metadata: dict[str, str],
               external: bool = False) -> Emitted:
    """Emit and write; returns the model written."""
    emitted = emit_model(model.eval(), settings, metadata)
    save(emitted, path, external)
    return emitted


def verify_written(model: torch.nn.Module, input_shape: Sequence[int], path: str | Path, settings: WriterSettings,
                   batches: Sequence[int] = (1, 3), calibrate: bool = True):
    """:func:`archspec.export.verify.verify_onnx`'s checks for a written file: onnx.checker, then
    onnxruntime against the module as built and with calibrated BN statistics, one session per
    graph: the file's, and the file's in-memory copy with the calibrated statistics written into
    its initializers (:func:`with_statistics`; no second emission). Non-finite or input-independent
    outputs fail, as there."""
    import onnx

    from .verify import OnnxCheck, compare_export

    proto = onnx.load(str(path))  # read once: checked, run, and the calibrated copy's source
    onnx.checker.check_model(proto, full_check=True)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    statistics = {k for k in model.state_dict() if k.endswith(("running_mean", "running_var"))}

    def run(inputs: Sequence[torch.Tensor], overrides: dict[str, np.ndarray] | None) -> list[np.ndarray]:
        if overrides:  # the file's graph, its BN-derived initializers replaced in memory
            session = _session(with_statistics(proto, model, settings, overrides).SerializeToString())
        else:
            session = _session(str(path))
        name = session.get_inputs()[0].name
        dtype = np.float16 if settings.dtype == "fp16" else np.float32
        return [o.astype(np.float32) for x in inputs for o in session.run(None, {name: x.numpy().astype(dtype)})]

    comparisons, problems = compare_export(model, input_shape, run, statistics, batches=batches, calibrate=calibrate)
    return OnnxCheck(Path(path), opset, tuple(batches), comparisons, problems)


def _session(model: str | bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def node_count(proto: Any) -> int:
    """Nodes of the main graph, with the bodies of the functions it calls counted once per call."""
    functions = {(f.domain, f.name): len(f.node) for f in proto.functions}
    return sum(functions.get((n.domain, n.op_type), 1) for n in proto.graph.node)


__all__ = ["Emitted", "Unsupported", "WriterSettings", "emit", "emit_model", "emit_units", "node_count", "save",
           "unsupported_reason", "verify_written", "with_statistics", "write_onnx"]
