"""``archspec build``: compile a spec and write the requested exports, verified."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .common import app
from .common import EXIT_INVALID, console, errors, fail, set_option, untrusted, user_errors, writing
from .hinting import hints_for, report_hints, strict_option
from .progress import Progress
from ..spec.errors import printable


class WeightsFormat(str, Enum):
    torchvision = "torchvision"
    archspec = "archspec"
    timm = "timm"
    xautodl = "xautodl"


class Export(str, Enum):
    onnx = "onnx"
    state_dict = "state_dict"
    fx = "fx"
    safetensors = "safetensors"
    pt2 = "pt2"
    python = "python"
    all = "all"


class OnnxExporter(str, Enum):
    archspec = "archspec"
    torch = "torch"


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
        WeightsFormat.torchvision, "--weights-format",
        help="Who named the tensors in --weights: torchvision, archspec, or timm and xautodl (the spec's checkpoint: names)."),
    strict: bool = strict_option(),
    dynamic: str = typer.Option("batch", "--dynamic", metavar="batch|hw|batch,hw",
                                help="ONNX input axes left symbolic; hw is verified at two resolutions."),
    dtype: OnnxDtype = typer.Option(OnnxDtype.fp32, "--dtype", help="ONNX precision, checked against fp32 torch."),
    external_data: bool = typer.Option(False, "--external-data",
                                       help="Write ONNX weights to NAME.onnx.data (automatic above 2 GB)."),
    exporter: OnnxExporter = typer.Option(
        OnnxExporter.archspec, "--exporter", help="Who writes the ONNX file: archspec's writer, straight from the "
        "step graphs (torch.onnx where a unit has no graph yet, with a note), or torch.onnx."),
    fold: bool = typer.Option(True, "--fold/--no-fold", help="Fold each BN into the conv before it (archspec's "
                              "writer); --no-fold keeps every BatchNormalization node."),
    onnx_functions: bool = typer.Option(False, "--onnx-functions", help="One ONNX local function per distinct "
                                        "unit body, called once per unit (archspec's writer)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the weight init (docs/init.md)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
    features_only: bool = typer.Option(
        False, "--features-only", help="Export the backbone (timm's features_only): NAME-features.onnx with one "
        "output per feature map, feature<i>, each verified; archspec report --features lists them."),
    out_indices: Optional[str] = typer.Option(
        None, "--out-indices", metavar="I,J,...", help="With --features-only: which maps, by timm's index "
        "(0 is the shallowest; -1 the deepest). Default: all."),
) -> None:
    """Compile SPEC to a torch module, verify it, and write the exports.

    Torch's outputs must be finite. ONNX files are checked with onnx.checker and run in
    onnxruntime against the torch module, as built and with BN statistics calibrated on
    random batches (docs/getting-started.md); .pt2 is loaded back with
    torch.export.load, the standalone .py imported in a clean Python without archspec,
    safetensors read back (docs/exports.md). Every file is staged and renamed into place
    only when all of them passed. With --weights, the checkpoint is converted to the
    spec's names (every tensor's shape checked) and loaded strictly in place of the init.
    When --set changes the network but not its name, the files are named NAME-HASH8.
    """
    from ..extras import require

    require("torch", *(["onnx", "onnxscript", "onnxruntime"] if Export.onnx in export or Export.all in export else []),
            needed_for="archspec build")
    from ..api import as_spec, located, plan as make_plan
    from ..plan import PlanError
    from ..convert import ConversionError, read_weights
    from ..export.build import build_exports
    from ..export.checks import ExportError
    from ..export.verify import VerificationError
    from ..export.onnx_options import OnnxOptions
    from ..export.provenance import Provenance

    try:
        options = OnnxOptions(OnnxOptions.parse_dynamic(dynamic), dtype.value, external_data, exporter.value, fold,
                              onnx_functions)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if options != OnnxOptions() and Export.onnx not in export and Export.all not in export:
        raise fail("--dynamic, --dtype, --external-data, --exporter, --no-fold and --onnx-functions shape the "
                   "ONNX file: add -e onnx")
    indices = parse_out_indices(out_indices, features_only)
    if features_only and ({e.value for e in export} - {"onnx"} or not options.is_default):
        raise fail("--features-only writes the backbone as ONNX only, with the default ONNX options: use -e onnx "
                   "without --dynamic hw, --dtype or --external-data")
    progress = Progress(console.made, quiet)
    with user_errors():
        with progress.step("plan"):
            loaded = as_spec(spec, sets)
            resolved = make_plan(loaded)
            stem = output_stem(spec, sets, loaded)
    if report_hints(hints_for(loaded, resolved), strict):
        raise typer.Exit(EXIT_INVALID)
    if features_only:
        from ..plan.features import FeatureError, FeatureInfo, backbone_units

        try:
            info = FeatureInfo.of(resolved, indices)
        except FeatureError as exc:
            raise fail(f"--out-indices {out_indices}: {exc}") from None
        progress.line("features: " + ", ".join(f"feature{f.index} {f.module} ({f.channels} ch, /{f.reduction})"
                                               for f in info.selected))
    if sets:
        progress.line(f"--set applied: {printable(', '.join(sets))}")
    if stem != loaded.name:
        progress.line(f"files named {stem}: --set changed the network but not its name (--set name=... names them)")
    provenance = Provenance(loaded, seed=seed if weights is None else None)
    state, meta = None, {}
    if weights is not None:
        try:
            state = read_weights(weights, resolved, weights_format.value)
        except ConversionError as exc:
            raise fail(str(exc)) from None
        meta["archspec.weights"] = f"{weights_format.value}:{weights.name}"
        progress.line(f"weights loaded: {untrusted(weights, markup=False)} ({weights_format.value} names, {len(state)} tensors)")
    else:
        progress.line(f"init: {resolved.init.preset if resolved.init else 'torchvision_resnet'}, seed {seed}")
    try:
        with writing(out):
            result = build_exports(resolved, [e.value for e in export], out, meta, state_dict=state,
                                   provenance=provenance, onnx_options=options, seed=seed, stem=stem,
                                   weights=str(weights) if weights else None, step=progress.step,
                                   features_only=features_only, out_indices=indices)
    except PlanError as exc:  # the memory estimate refused, before anything was allocated
        with user_errors():
            raise located(loaded, exc) from None
    except VerificationError as exc:
        raise fail(f"verification failed: {exc}", code=1) from None
    except ExportError as exc:
        raise fail(f"{exc}; nothing was written") from None
    traced = f", traced with torch.fx ({result.traced_nodes} nodes)" if result.traced_nodes else ""
    if features_only:
        units = backbone_units(resolved, info)
        progress.line(f"{resolved.name} backbone: {sum(u.params for u in units):,} params, "
                      f"{sum(u.macs for u in units):,} MACs; torch's outputs are finite")
    else:
        progress.line(f"{resolved.name}: {resolved.params:,} params, {resolved.macs:,} MACs{traced}; "
                      "torch's outputs are finite and depend on the input")
    for note in result.notes:
        progress.line(f"note: {note}")
    if result.onnx is not None:
        progress.line(result.onnx.describe())
    progress.line(f"{'built, verified and exported' if export else 'built and verified'} in {progress.elapsed():.1f} s")
    for path, check in result.checks:
        progress.line(f"{untrusted(path.name, markup=False)}: {check.line()}")
    for path in result.written:
        progress.line(f"wrote {untrusted(path, markup=False)}")
    if not export:
        progress.line("nothing exported: add -e KIND (repeatable: onnx, safetensors, pt2, python, fx, state_dict, "
                      "or all) to write files")


def parse_out_indices(text: Optional[str], features: bool, flag: str = "--features-only") -> Optional[tuple[int, ...]]:
    """``--out-indices 1,2,-1`` -> (1, 2, -1); each is an index (a single number too, not timm's "last n").
    ``features``: whether ``flag``, which asks for the maps, was given."""
    if text is None:
        return None
    if not features:
        raise fail(f"--out-indices picks the maps of a backbone: add {flag}")
    parts = [p.strip() for p in text.split(",")]
    if not all(p.lstrip("-").isdigit() for p in parts):
        raise fail(f"--out-indices {text!r}: give feature indices separated by commas, e.g. 1,2,3 or -1")
    return tuple(int(p) for p in parts)


def output_stem(spec: Path, sets: list[str], loaded) -> str:
    """The files' name: the spec's ``name``, or ``NAME-HASH8`` (the first 8 hex digits of the
    spec sha256) when ``--set`` changed the network but did not set its name, so that a
    variant never replaces the files of the network the name belongs to."""
    from ..api import as_spec
    from ..plan.expand import spec_hash
    from ..spec import SpecError
    from ..spec.yaml_safety import STDIN

    if not sets or any(s.split("=", 1)[0].strip() == "name" for s in sets):
        return loaded.name  # no override, or the name given explicitly
    if str(spec) != STDIN:
        try:
            base = as_spec(spec)
        except SpecError:  # only the --set made it a valid spec: a variant of nothing bundled under this name
            base = None
        if base is not None and (base.name != loaded.name or spec_hash(base) == spec_hash(loaded)):
            return loaded.name
    return f"{loaded.name}-{spec_hash(loaded)[:8]}"
