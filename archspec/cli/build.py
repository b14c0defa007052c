"""``archspec build``: compile a spec and write the requested exports, verified."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import app
from .common import console, fail, set_option, user_errors
from .progress import Progress


class WeightsFormat(str, Enum):
    torchvision = "torchvision"
    archspec = "archspec"


class Export(str, Enum):
    onnx = "onnx"
    state_dict = "state_dict"
    fx = "fx"


@app.command()
def build(
    spec: Path = typer.Argument(..., help="The spec file."),
    export: list[Export] = typer.Option([], "--export", "-e", help="What to write (repeatable)."),
    out: Path = typer.Option(Path("build"), "--output", "-o", help="Output directory."),
    sets: list[str] = set_option(),
    weights: Optional[Path] = typer.Option(
        None, "--weights", "-w", exists=True, dir_okay=False,
        help="A state_dict file (torch.save) to load before exporting; nothing is downloaded."),
    weights_format: WeightsFormat = typer.Option(
        WeightsFormat.torchvision, "--weights-format", help="Who named the tensors in --weights."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the weight init (docs/init.md)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Compile SPEC to a torch module, verify it, and write the exports.

    Torch's outputs must be finite. ONNX files are checked with onnx.checker and run in
    onnxruntime against the torch module, as built and with BN statistics calibrated on
    random batches (docs/getting-started.md). Every file is staged and renamed into place
    only when all of them passed. With --weights, the checkpoint is converted to the
    spec's names (every tensor's shape checked) and loaded strictly in place of the init.
    When --set changes the network but not its name, the files are named NAME-HASH8.
    """
    from ..api import as_spec, plan as make_plan
    from ..convert import ConversionError, read_weights
    from ..export.build import build_exports
    from ..export.verify import VerificationError
    from ..spec.expand import spec_hash

    progress = Progress(console, quiet)
    with user_errors():
        with progress.step("plan"):
            loaded = as_spec(spec, sets)
            resolved = make_plan(loaded)
            stem = output_stem(spec, sets, loaded)
    if sets:
        progress.line(f"--set applied: {', '.join(sets)}")
    if stem != loaded.name:
        progress.line(f"files named {stem}: --set changed the network but not its name (--set name=... names them)")
    state, meta = None, {"archspec.spec_sha256": spec_hash(loaded)}
    if weights is not None:
        try:
            state = read_weights(weights, resolved, weights_format.value)
        except ConversionError as exc:
            raise fail(str(exc)) from None
        meta["archspec.weights"] = f"{weights_format.value}:{weights.name}"
        progress.line(f"weights loaded: {weights} ({weights_format.value} names, {len(state)} tensors)")
    else:
        progress.line(f"init: {resolved.init.preset if resolved.init else 'torchvision_resnet'}, seed {seed}")
    try:
        result = build_exports(resolved, [e.value for e in export], out, meta, state_dict=state, seed=seed,
                               stem=stem, weights=str(weights) if weights else None, step=progress.step)
    except VerificationError as exc:
        raise fail(f"verification failed: {exc}", code=1) from None
    traced = f", traced with torch.fx ({result.traced_nodes} nodes)" if result.traced_nodes else ""
    progress.line(f"{resolved.name}: {resolved.params:,} params, {resolved.macs:,} MACs{traced}; "
                  "torch's outputs are finite")
    if result.onnx is not None:
        progress.line(result.onnx.describe())
    for path in result.written:
        progress.line(f"wrote {path}")
    if not export:
        progress.line("nothing exported: add -e onnx, -e state_dict or -e fx (repeatable) to write files")


def output_stem(spec: Path, sets: list[str], loaded) -> str:
    """The files' name: the spec's ``name``, or ``NAME-HASH8`` (the first 8 hex digits of the
    spec sha256) when ``--set`` changed the network but did not set its name, so that a
    variant never replaces the files of the network the name belongs to."""
    from ..api import as_spec
    from ..spec.expand import spec_hash
    from ..spec.yaml_safety import STDIN

    if not sets or any(s.split("=", 1)[0].strip() == "name" for s in sets):
        return loaded.name  # no override, or the name given explicitly
    if str(spec) != STDIN:
        base = as_spec(spec)
        if base.name != loaded.name or spec_hash(base) == spec_hash(loaded):
            return loaded.name
    return f"{loaded.name}-{spec_hash(loaded)[:8]}"
