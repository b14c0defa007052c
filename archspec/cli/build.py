"""``archspec build``: compile a spec and write the requested exports, verified."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from . import app
from .common import console, fail, set_option, user_errors


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
) -> None:
    """Compile SPEC to a torch module, trace it with torch.fx, and write the exports.

    ONNX files are checked with onnx.checker and run in onnxruntime at two batch sizes
    against the torch module. Every file is staged and renamed into place only when
    all of them succeeded.
    """
    from ..api import as_spec, plan as make_plan
    from ..export.build import build_exports
    from ..spec.expand import spec_hash

    with user_errors():
        loaded = as_spec(spec, sets)
        resolved = make_plan(loaded)
    result = build_exports(resolved, [e.value for e in export], out,
                           metadata={"archspec.spec_sha256": spec_hash(loaded)})
    console.print(
        f"{resolved.name}: {resolved.params:,} params, {resolved.macs:,} MACs, "
        f"traced with torch.fx ({result.traced_nodes} nodes)"
    )
    for path in result.written:
        console.print(f"wrote {path}")
    if result.onnx is not None:
        check = result.onnx
        console.print(
            f"onnx: checker ok, opset {check.opset}; onnxruntime vs torch at batch "
            f"{' and '.join(map(str, check.batches))}: max |diff| {check.max_abs_diff:.3g} "
            f"({check.max_rel_diff:.2g} of the output scale)"
        )
        if not check.ok:
            raise fail("onnxruntime disagrees with torch beyond tolerance", code=1)
