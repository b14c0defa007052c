"""``archspec validate``: load and plan specs without importing torch (fit for CI and pre-commit)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..api import plan
from ..spec import SpecError
from ..spec.errors import problem
from ..spec.yaml_safety import STDIN, spec_file_name
from . import app
from .common import EXIT_INVALID, ErrorFormat, console, report_problems, set_option, show_traceback

SUFFIXES = (".yaml", ".yml")


def spec_files(paths: list[Path]) -> tuple[list[Path], list[SpecError]]:
    """Files as given; directories searched recursively for ``*.yaml``/``*.yml``.

    Names starting with ``_`` (partial bases, used only through ``extends``) or ``.`` are
    skipped in directories; a file named on the command line is always checked.
    """
    files: list[Path] = []
    missing: list[SpecError] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file() and _listed(p, path))
            if not found:
                missing.append(problem(str(path), "no *.yaml or *.yml spec files in this directory"))
            files += found
        elif path.exists() or str(path) == STDIN:
            files.append(path)
        else:
            missing.append(problem(str(path), "cannot read the spec: no such file or directory"))
    return list(dict.fromkeys(files)), missing


def _listed(file: Path, root: Path) -> bool:
    return not any(part.startswith(("_", ".")) for part in file.relative_to(root).parts)


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., help="Spec files, or directories to search for *.yaml / *.yml."),
    sets: list[str] = set_option(),
    fmt: ErrorFormat = typer.Option(
        ErrorFormat.text, "--format", "-f", help="text, or github for GitHub Actions annotations."),
) -> None:
    """Check specs: schema, cross-field rules, size limits, and that the network resolves.

    Reports every problem of every file; exits 2 if any file fails.
    """
    files, bad = spec_files(paths)
    if sets and fmt == ErrorFormat.text:
        console.print(f"--set applied to each spec: {escape(', '.join(sets))}")
    for error in bad:
        report_problems(error, fmt)
    for path in files:
        try:
            resolved = plan(path, overrides=sets)
        except SpecError as exc:
            show_traceback()
            report_problems(exc, fmt)
            bad.append(exc)
            continue
        summary = f"{resolved.name}, {resolved.params:,} params, {resolved.macs:,} MACs"
        console.print(f"[green]ok[/] {escape(spec_file_name(path))}: {escape(summary)}")
    if bad:
        raise typer.Exit(EXIT_INVALID)
