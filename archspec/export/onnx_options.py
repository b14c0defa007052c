"""ONNX beyond the default file: a dynamic height and width, half precision, external data;
which exporter writes it (archspec's writer, :mod:`archspec.export.onnx_writer`, or torch.onnx),
BN folding and local functions (the writer's).

Each option is verified on its own terms, strictly (:mod:`archspec.export.checks`):

- ``dynamic`` with ``hw``: the graph's height and width must stay symbolic, and onnxruntime
  must agree with torch at the spec's resolution and at a second, non-square one;
- ``dtype`` ``fp16``/``bf16``: the half-precision file is compared with the fp32 torch
  module, within a tolerance for that precision (reported);
- external data (``NAME.onnx`` + ``NAME.onnx.data``): forced, or chosen when the weights
  pass protobuf's 2 GiB limit; the checker and onnxruntime read the pair by path.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..plan.heads import MLPOptions
from ..plan.types import Plan
from .checks import Agreement, ExportError
from .verify import holding, verified
from .onnx import INPUT_NAME, OUTPUT_NAME, _quiet, required_opset

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Relative to the largest fp32 output: fp16 keeps 11 significant bits, bf16 8.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 5e-2}
# The smallest normal number of each precision: outputs below it keep no digit in the file (verify.below_range).
FLOOR = {"fp32": 0.0, "fp16": float(np.finfo(np.float16).tiny), "bf16": float(np.finfo(np.float32).tiny)}
AXES = ("batch", "hw")
EXPORTERS = ("archspec", "torch")
PROTOBUF_LIMIT = 2**31 - 2**26  # 2 GiB less room for the graph itself
MAX_BATCH = 4096


@dataclass(frozen=True)
class OnnxOptions:
    """``--dynamic``, ``--dtype``, ``--external-data``, ``--exporter``, ``--no-fold`` and ``--onnx-functions``
    of ``archspec build``."""

    dynamic: tuple[str, ...] = ("batch",)
    dtype: str = "fp32"
    external_data: bool = False  # True forces NAME.onnx.data; False decides by size
    exporter: str = "archspec"  # archspec's writer (torch.onnx where a unit has no graph yet), or "torch"
    fold: bool = True  # the writer folds each BN into the conv before it where the graph allows
    functions: bool = False  # the writer emits one ONNX local function per distinct unit body

    def __post_init__(self) -> None:
        unknown = [a for a in self.dynamic if a not in AXES]
        if unknown or not self.dynamic:
            raise ValueError(f"--dynamic takes batch, hw or batch,hw; got {','.join(self.dynamic) or 'nothing'}")
        if self.dtype not in DTYPES:
            raise ValueError(f"--dtype takes {', '.join(DTYPES)}; got {self.dtype}")
        if self.exporter not in EXPORTERS:
            raise ValueError(f"--exporter takes {', '.join(EXPORTERS)}; got {self.exporter}")
        if self.exporter == "torch" and (self.functions or not self.fold):
            raise ValueError("--no-fold and --onnx-functions shape archspec's ONNX writer's file; torch.onnx keeps "
                             "every BN and writes no functions: drop --exporter torch, or those options")

    @classmethod
    def parse_dynamic(cls, text: str) -> tuple[str, ...]:
        axes = tuple(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
        cls(dynamic=axes)  # validates
        return axes

    @property
    def is_default(self) -> bool:
        """The plain single fp32 file with a dynamic batch (verified as :func:`archspec.export.onnx.verify_onnx`
        does, calibrated statistics included), whichever exporter writes it and however."""
        return (self.dynamic, self.dtype, self.external_data) == (("batch",), "fp32", False)

    def describe(self) -> str:
        return f"{self.dtype}, dynamic {'+'.join(self.dynamic)}"


def fixed_size_reason(plan: Plan) -> str | None:
    """Why the network cannot take a dynamic height and width, or None when it can."""
    head = plan.head
    if isinstance(head.options, MLPOptions) and head.options.pool_size != 1:
        pool = head.options.pool_size
        return (f"its head pools to a fixed {pool}x{pool} map and flattens it into {head.inner_channels} FC inputs; "
                f"adaptive pooling to {pool}x{pool} has no ONNX operator when the input size is unknown at export, "
                "so the exported graph would be fixed to one resolution (use --dynamic batch)")
    return None


def weight_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def second_resolution(plan: Plan) -> tuple[int, int]:
    """A non-square size a whole output step above the spec's: other maps everywhere, same network."""
    h, w = plan.input_size
    step = max(1, h // max(1, plan.head.in_size[0]))
    return (h + step, w + 2 * step)


def export_onnx_with(model: torch.nn.Module, plan: Plan, path: Path, options: OnnxOptions,
                     metadata: dict[str, str], min_size: int, target: Path) -> bool:
    """Write the ONNX file (and its ``.data`` beside it when external); return whether data is external."""
    dtype = DTYPES[options.dtype]
    net = model.eval() if dtype == torch.float32 else copy.deepcopy(model).to(dtype).eval()
    dims: dict[int, torch.export.Dim] = {}
    if "batch" in options.dynamic:
        dims[0] = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    if "hw" in options.dynamic:
        reason = fixed_size_reason(plan)
        if reason:
            raise ExportError(target, f"cannot export a dynamic height and width: {reason}")
        dims[2] = torch.export.Dim("height", min=min_size)
        dims[3] = torch.export.Dim("width", min=min_size)
    example = torch.randn(2 if 0 in dims else 1, plan.in_channels, *plan.input_size, dtype=dtype)
    try:  # unoptimised, as export/onnx.py's: BN statistics stay initializers named as in the state_dict
        with _quiet(), _quiet_shape_solver():
            program = torch.onnx.export(net, (example,), dynamo=True, opset_version=required_opset(model),
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=(dims,), verbose=False, optimize=False)
    except Exception as exc:  # the innermost cause in the exporter's words: a constraint, an unsupported op
        hint = "; --dynamic batch exports it at a fixed height and width" if "hw" in options.dynamic else ""
        raise ExportError(target, f"torch.onnx.export ({options.describe()}) failed: {root_cause(exc)}{hint}") from None
    for key, value in {**metadata, "archspec.dtype": options.dtype,
                       "archspec.dynamic_axes": ",".join(options.dynamic)}.items():
        program.model.metadata_props[key] = value
    external = options.external_data or weight_bytes(net) >= PROTOBUF_LIMIT
    program.save(str(path), external_data=external)
    return external


def verify_onnx_with(model: torch.nn.Module, plan: Plan, path: Path, options: OnnxOptions, target: Path,
                     seed: int = 0, min_size: int = 1, calibrate: bool = True,
                     loaded_from: str | None = None, rewrite=None) -> Agreement:
    """onnx.checker, symbolic axes where asked, then onnxruntime against the fp32 module, held to
    the policy of :mod:`archspec.export.verify` (as built and, untrained, with calibrated statistics).

    The calibrated case runs the file's own graph read back, the calibrated statistics written into its
    initializers in memory: ``rewrite(overrides) -> ModelProto`` does it (archspec's writer:
    :func:`~archspec.export.onnx_writer.with_statistics`, which folds them into the convs again); without
    it, :func:`with_initializers` replaces the initializers named as the statistics (torch.onnx's file).
    Only a file that lacks one of them is exported again, by torch.onnx, from the module holding them."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)  # by path: works beside external data
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        said = str(exc).strip().splitlines()[0]
        hint = (f"; ONNX's Conv takes bfloat16 only from opset 22, and this export pins opset "
                f"{required_opset(model)} for onnxruntime" if options.dtype == "bf16" else "")
        raise ExportError(target, f"onnx.checker rejects the {options.dtype} graph: {said}{hint}") from None
    graph_input = onnx.load(str(path), load_external_data=False).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    wanted = {0: "batch"} if "batch" in options.dynamic else {}
    if "hw" in options.dynamic:
        wanted.update({2: "hw", 3: "hw"})
    fixed = [i for i in wanted if not dims[i].dim_param]
    if fixed:
        raise ExportError(target, f"the exporter fixed input axes {fixed} that --dynamic asked to keep symbolic")
    session = _session(path, options, target)
    resolutions = [plan.input_size, *([second_resolution(plan)] if "hw" in options.dynamic else [])]
    batches = (1, 3) if "batch" in options.dynamic else (1,)
    sizes = " and ".join(f"{h}x{w}" for h, w in resolutions)
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(n, plan.in_channels, *size, generator=generator) for size in resolutions for n in batches]
    model = model.eval()

    def run(xs, overrides):
        """The file itself; with calibrated statistics, the file's graph holding them (see above)."""
        if overrides is None:
            return [_output(session, x, options.dtype) for x in xs]
        copy = rewrite(overrides) if rewrite is not None else with_initializers(path, overrides)
        with tempfile.TemporaryDirectory(prefix="archspec-calibrated-") as scratch:
            if copy is not None:
                calibrated = _session(_in_memory_or_beside(copy, Path(scratch) / path.name), options, target)
                return [_output(calibrated, x, options.dtype) for x in xs]
            with holding(model, overrides):
                again = Path(scratch) / path.name
                export_onnx_with(model, plan, again, options, {}, min_size, target)
            calibrated = _session(again, options, target)
            return [_output(calibrated, x, options.dtype) for x in xs]

    return verified(target, f"onnxruntime {options.dtype} vs fp32 torch at {sizes}, batch "
                            f"{' and '.join(map(str, batches))}", model, inputs, run, f"onnxruntime {options.dtype}",
                    TOLERANCE[options.dtype], calibrate, loaded_from, FLOOR[options.dtype],
                    None if options.dtype == "fp32" else DTYPES[options.dtype])


def with_initializers(path: Path, overrides: dict[str, np.ndarray]):
    """The file read back (with its external data), each initializer named in ``overrides`` replaced by that
    array in the initializer's own element type and shape; None when the file lacks one of them."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(path))
    found = 0
    for tensor in proto.graph.initializer:
        value = overrides.get(tensor.name)
        if value is None:
            continue
        if tuple(tensor.dims) != value.shape:
            return None
        tensor.CopyFrom(numpy_helper.from_array(value.astype(helper.tensor_dtype_to_np_dtype(tensor.data_type)),
                                                tensor.name))
        found += 1
    return proto if found == len(overrides) else None


def _in_memory_or_beside(proto, path: Path) -> bytes | Path:
    """What onnxruntime opens: the serialised graph, or past protobuf's limit a file at ``path`` with its
    tensors beside it (``NAME.data``)."""
    import onnx

    if proto.ByteSize() < PROTOBUF_LIMIT:
        return proto.SerializeToString()
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=f"{path.name}.data", size_threshold=1024)
    return path


def _output(session, x: torch.Tensor, dtype: str):
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: _feed(x, dtype)})
    return got.astype("float32")


def root_cause(exc: BaseException) -> str:
    """The first line of the innermost exception, without terminal colour codes."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_shape_solver() -> Iterator[None]:
    """Symbolic sizes make torch's shape solver log whole tracebacks of inequalities it gave up on."""
    loggers = [logging.getLogger(n) for n in ("torch.fx.experimental.symbolic_shapes", "torch._dynamo", "torch._export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _session(path: Path | bytes, options: OnnxOptions, target: Path):
    import onnxruntime as ort

    settings = ort.SessionOptions()
    settings.log_severity_level = 3
    try:
        model = path if isinstance(path, bytes) else str(path)  # a file, or a graph in memory
        return ort.InferenceSession(model, settings, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a kernel the CPU provider lacks (bf16 Conv): the runtime's reason
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(target, f"onnxruntime {ort.__version__} (CPU) cannot run the {options.dtype} graph, so it "
                                  f"cannot be verified: {said}") from None


def _feed(x: torch.Tensor, dtype: str):
    if dtype == "bf16":  # numpy has no bfloat16; ml_dtypes (an onnx dependency) provides it
        import ml_dtypes

        return x.float().numpy().astype(ml_dtypes.bfloat16)
    return x.to(DTYPES[dtype]).numpy()
