"""``archspec validate``: load and plan specs without importing torch."""

from __future__ import annotations

from pathlib import Path

import typer

from ..api import plan
from ..spec import SpecError
from . import app
from .common import EXIT_INVALID, console, report_problems, set_option


@app.command()
def validate(
    specs: list[Path] = typer.Argument(..., help="Spec files to check."),
    sets: list[str] = set_option(),
) -> None:
    """Check specs: schema, cross-field rules, and that the network resolves. Exit 2 if any fails."""
    bad = 0
    for path in specs:
        try:
            resolved = plan(path, overrides=sets)
        except SpecError as exc:
            report_problems(exc)
            bad += 1
            continue
        console.print(f"[green]ok[/] {path}: {resolved.name}, {resolved.params:,} params, {resolved.macs:,} MACs")
    if bad:
        raise typer.Exit(EXIT_INVALID)
