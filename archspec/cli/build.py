"""``archspec build``: compile a spec and write the requested exports, verified."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import app
from .common import EXIT_INVALID, console, errors, fail, set_option, user_errors, writing
from .hinting import hints_for, report_hints, strict_option


class WeightsFormat(str, Enum):
    torchvision = "torchvision"
    archspec = "archspec"


class Export(str, Enum):
    onnx = "onnx"
    state_dict = "state_dict"
    fx = "fx"
    safetensors = "safetensors"
    pt2 = "pt2"
    python = "python"
    all = "all"


class OnnxDtype(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


@app.command()
def build(
    spec: Path = typer.Argument(..., help="The spec file, or a bundled spec's name (archspec list)."),
    export: list[Export] = typer.Option([], "--export", "-e", help="What to write (repeatable); all: every kind."),
    out: Path = typer.Option(Path("build"), "--output", "-o", help="Output directory."),
    sets: list[str] = set_option(),
    weights: Optional[Path] = typer.Option(
        None, "--weights", "-w", exists=True, dir_okay=False,
        help="A state_dict file (torch.save or .safetensors) to load before exporting; nothing is downloaded."),
    weights_format: WeightsFormat = typer.Option(
        WeightsFormat.torchvision, "--weights-format", help="Who named the tensors in --weights."),
    strict: bool = strict_option(),
    dynamic: str = typer.Option("batch", "--dynamic", metavar="batch|hw|batch,hw",
                                help="ONNX input axes left symbolic; hw is verified at two resolutions."),
    dtype: OnnxDtype = typer.Option(OnnxDtype.fp32, "--dtype", help="ONNX precision, checked against fp32 torch."),
    external_data: bool = typer.Option(False, "--external-data",
                                       help="Write ONNX weights to NAME.onnx.data (automatic above 2 GB)."),
) -> None:
    """Compile SPEC to a torch module, trace it with torch.fx, and write the exports.

    Every export is verified before anything is written (docs/exports.md): ONNX in
    onnxruntime against the torch module, .pt2 loaded back with torch.export.load,
    the standalone .py imported in a clean Python without archspec, safetensors read
    back. Every file is staged and renamed into place only when all of them
    succeeded. With --weights, the checkpoint is converted to the spec's names (every
    tensor's shape checked) and loaded strictly first.
    """
    from ..extras import require

    require("torch", *(["onnx", "onnxscript", "onnxruntime"] if Export.onnx in export or Export.all in export else []),
            needed_for="archspec build")
    from ..api import as_spec, located, plan as make_plan
    from ..plan import PlanError
    from ..convert import ConversionError, read_weights
    from ..export.build import build_exports
    from ..export.checks import ExportError
    from ..export.onnx_options import OnnxOptions
    from ..export.provenance import Provenance

    try:
        options = OnnxOptions(OnnxOptions.parse_dynamic(dynamic), dtype.value, external_data)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not options.is_default and Export.onnx not in export and Export.all not in export:
        raise fail("--dynamic, --dtype and --external-data shape the ONNX file: add -e onnx")
    with user_errors():
        loaded = as_spec(spec, sets)
        resolved = make_plan(loaded)
    if report_hints(hints_for(loaded, resolved), strict):  # what --set does to names: trust-build's rule
        raise typer.Exit(EXIT_INVALID)
    provenance = Provenance(loaded)
    state, meta = None, {}
    if weights is not None:
        try:
            state = read_weights(weights, resolved, weights_format.value)
        except ConversionError as exc:
            raise fail(str(exc)) from None
        meta["archspec.weights"] = f"{weights_format.value}:{weights.name}"
    try:
        with writing(out):
            result = build_exports(resolved, [e.value for e in export], out, meta, state_dict=state,
                                   provenance=provenance, onnx_options=options)
    except PlanError as exc:  # the memory estimate refused, before anything was allocated
        with user_errors():
            raise located(loaded, exc) from None
    except ExportError as exc:
        raise fail(f"{exc}; nothing was written") from None
    console.print(
        f"{resolved.name}: {resolved.params:,} params, {resolved.macs:,} MACs, "
        f"traced with torch.fx ({result.traced_nodes} nodes)"
    )
    for path in result.written:
        console.print(f"wrote {path}")
    for path, check in result.checks:
        console.print(f"{path.name}: {check.line()}", markup=False)
    inconclusive = [path.name for path, check in result.checks if not check.input_dependent]
    if result.onnx is not None:
        check = result.onnx
        console.print(
            f"onnx: checker ok, opset {check.opset}; onnxruntime vs torch at batch "
            f"{' and '.join(map(str, check.batches))}: max |diff| {check.max_abs_diff:.3g} "
            f"({check.max_rel_diff:.2g} of the output scale)"
        )
        if not check.ok:
            raise fail("onnxruntime disagrees with torch beyond tolerance", code=1)
        if not check.input_dependent:
            inconclusive.append(check.path.name)
    if inconclusive:
        errors.print(
            f"warning: the module's outputs are the same for every input (untrained BN statistics "
            f"make its activations vanish), so the comparisons for {', '.join(inconclusive)} are inconclusive; "
            "export trained weights (--weights) to verify the graph you deploy", markup=False)
