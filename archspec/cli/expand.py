"""``archspec expand``: print the fully resolved spec and its hash (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app
from .common import console, set_option, untrusted, user_errors, writing


@app.command()
def expand(
    spec: Path = typer.Argument(..., metavar="SPEC", help="The spec file."),
    sets: list[str] = set_option(),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Print SPEC with every default, unit count and per-unit width explicit, and its sha256.

    The output is itself a valid spec that resolves to the same network; the hash
    (sha256 of its canonical JSON) is what ONNX exports record as archspec.spec_sha256.
    """
    from ..api import as_spec, plan
    from ..files import write_text
    from ..plan.expand import canonical_yaml

    with user_errors():
        loaded = as_spec(spec, sets)
        resolved = plan(loaded)  # resolves and checks the limits: expand only what would build
        text = canonical_yaml(loaded, resolved)
    if output is None:
        console.print(text, markup=False, end="")
    else:
        with writing(output):
            write_text(output, text)
        console.print(f"wrote {untrusted(output, markup=False)}", markup=False)
