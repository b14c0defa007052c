"""The deployment artifacts besides ONNX, each written to a staged path and verified there.

- ``safetensors``: the state_dict with provenance metadata; read back bit for bit.
- ``pt2``: a ``torch.export`` program with a dynamic batch; loaded back with
  ``torch.export.load`` and run against the module.
- ``python``: standalone PyTorch code (:mod:`archspec.export.standalone`); imported in a
  clean ``python -I`` without archspec, loaded with the weights, run against the module.
- ``fx``: the torch.fx trace as a runnable module, ``forward(model, x)`` over the module
  tree of the ``python`` file (or ``archspec.build``'s); it imports only torch and torchvision (checked
  in its syntax tree), and is imported and run on the compiled module.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import inspect
import json
import textwrap
import types
from pathlib import Path

import torch
import torch.fx

from .._version import __version__
from ..files import WholeWrites
from ..plan.types import Plan
from .checks import Agreement, ExportError
from .onnx_options import MAX_BATCH, root_cause
from .verify import holding, verification_inputs, verified

TORCH_TOLERANCE = 1e-5  # a re-traced program on the same kernels: summation order at most
VERIFY_BATCHES = (1, 3)


def state_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}


def write_safetensors(model: torch.nn.Module, path: Path, target: Path, metadata: dict[str, str]) -> Agreement:
    """Write the weights and read them back: every tensor bit-identical, every metadata key intact."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save

    state = state_of(model)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ExportError(target, f"tensor {name} holds NaN or infinite values; refusing to write broken weights")
    header = {"format": "pt", **metadata}
    # serialised in memory, written by archspec.files: a full disk is an OSError naming the file
    # (safetensors' own writer raises its SafetensorError), and the staged file keeps its mode
    data = save(state, metadata=header)
    with WholeWrites(path) as file:
        file.write(data)
    del data
    loaded = load_file(str(path))
    if set(loaded) != set(state):
        raise ExportError(target, f"read back {len(loaded)} tensors for {len(state)} written")
    for name, tensor in state.items():
        if loaded[name].dtype != tensor.dtype or not torch.equal(loaded[name], tensor):
            raise ExportError(target, f"tensor {name} reads back different from what was written")
    with safe_open(str(path), framework="pt") as handle:
        if handle.metadata() != header:
            raise ExportError(target, "the metadata reads back different from what was written")
    return Agreement(f"safetensors read back: {len(state)} tensors bit for bit, {len(header)} metadata keys",
                     0.0, 0.0, 0.0)


def write_pt2(model: torch.nn.Module, plan: Plan, path: Path, target: Path, metadata: dict[str, str],
              seed: int = 0, calibrate: bool = True, loaded_from: str | None = None) -> Agreement:
    """torch.export with a dynamic batch; torch.export.load must give the module's outputs at batch 1 and 3."""
    model = model.eval()
    example = torch.randn(2, plan.in_channels, *plan.input_size)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    except Exception as exc:
        raise ExportError(target, f"torch.export failed: {root_cause(exc)}") from None
    with WholeWrites(path) as file:  # a full disk raises OSError naming the file, not "unexpected pos" (or abort)
        torch.export.save(program, file, extra_files={"archspec.json": json.dumps(metadata, sort_keys=True)})
    extra = {"archspec.json": ""}
    loaded = torch.export.load(str(path), extra_files=extra).module()
    if json.loads(extra["archspec.json"]) != metadata:
        raise ExportError(target, "the archspec.json metadata reads back different from what was written")

    def run(inputs, overrides):
        with holding(loaded, overrides), torch.no_grad():
            return [loaded(x).numpy() for x in inputs]

    shape = (plan.in_channels, *plan.input_size)
    return verified(target, f"torch.export.load vs module at batch {' and '.join(map(str, VERIFY_BATCHES))}",
                    model, verification_inputs(shape, VERIFY_BATCHES, seed), run, "torch.export.load",
                    TORCH_TOLERANCE, calibrate, loaded_from)


def fx_module_code(traced: torch.fx.GraphModule, plan: Plan, python_file: str, target: Path) -> str:
    """The fx trace as an importable module: its globals provided, wrapped helpers included."""
    code = traced.graph.python_code(root_module="self")
    lines, helpers = [], []
    for name, value in sorted(code.globals.items()):
        if getattr(builtins, name, None) is value:  # ``getattr`` (a ViT's ``getattr(self.stages, "0")``): no import
            continue
        if isinstance(value, types.ModuleType):
            lines.append(f"import {value.__name__}" if value.__name__ == name else f"import {value.__name__} as {name}")
        elif isinstance(value, float):  # inf, nan
            lines.append(f"{name} = float({str(value)!r})")
        elif isinstance(value, str):  # an annotation kept as text (``from __future__ import annotations``)
            lines.append(f"{name} = {value!r}")
        elif value is type(None):
            lines.append(f"{name} = type(None)")
        elif isinstance(value, types.FunctionType) and value.__module__.startswith("archspec."):
            source = textwrap.dedent(inspect.getsource(value)).rstrip()  # an fx.wrap'd leaf (deform_conv)
            helpers.append(source if name == value.__name__ else f"{source}\n\n\n{name} = {value.__name__}")
        elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
            lines.append(f"from {value.__module__} import {value.__qualname__} as {name}")
        else:
            raise ExportError(target, f"the fx code needs a global {name} ({type(value).__name__}) "
                                           "that cannot be written as an import")
    header = (f'"""torch.fx trace of {plan.name} (archspec {__version__}): the whole forward as one flat function.\n\n'
              f"``forward(model, x)`` runs on a module with the compiled network's tree: the class in\n"
              f"{python_file} (``archspec build -e python``) or ``archspec.build(spec)``.\n"
              '"""')
    body = code.src.strip("\n")
    return "\n\n".join([header, "\n".join(["import torch", *sorted(set(lines) - {"import torch"})]), *helpers,
                        body]) + "\n"


def verify_fx(path: Path, model: torch.nn.Module, plan: Plan, target: Path, seed: int = 0,
              calibrate: bool = True, loaded_from: str | None = None) -> Agreement:
    """No import but torch's; importable; ``forward(model, x)`` gives the module's outputs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        foreign = [n for n in names if n.split(".")[0] not in ("torch", "torchvision")]
        if foreign:
            raise ExportError(target, f"line {node.lineno} imports {foreign[0]}; the fx module may import only torch and torchvision")
    spec = importlib.util.spec_from_file_location(f"archspec_fx_check_{id(path)}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:
        raise ExportError(target, f"importing it failed: {type(exc).__name__}: {exc}") from None
    model = model.eval()

    def run(inputs, overrides):
        with holding(model, overrides), torch.no_grad():
            try:
                return [module.forward(model, x).numpy() for x in inputs]
            except Exception as exc:
                raise ExportError(target, f"forward(model, x) failed: {type(exc).__name__}: {exc}") from None

    shape = (plan.in_channels, *plan.input_size)
    return verified(target, f"fx forward(model, x) vs module at batch {' and '.join(map(str, VERIFY_BATCHES))}",
                    model, verification_inputs(shape, VERIFY_BATCHES, seed), run, "the fx module",
                    TORCH_TOLERANCE, calibrate, loaded_from)
