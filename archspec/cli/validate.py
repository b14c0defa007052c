"""``archspec validate``: load and plan specs without importing torch (fit for CI and pre-commit)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..api import as_spec, plan, validate as validated_plan
from ..plan.reference import variant_mismatches
from ..spec import Problem, SpecError
from ..spec.bundled import bundled_path, is_bare_name, unknown_name
from ..spec.errors import printable, problem
from ..spec.loader import source_of
from ..spec.yaml_safety import STDIN, spec_file_name
from .common import app
from .common import EXIT_INVALID, ErrorFormat, console, errors, escape, report_problems, say, set_option, show_traceback, \
    untrusted
from .hinting import hints_for, report_hints, strict_option

SUFFIXES = (".yaml", ".yml")


def spec_files(paths: list[Path]) -> tuple[list[Path], list[SpecError]]:
    """Files as given (or bundled specs by name); directories searched recursively for ``*.yaml``/``*.yml``.

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
        elif bundled_path(str(path)) is not None:
            files.append(bundled_path(str(path)))
        elif is_bare_name(str(path)):
            missing.append(unknown_name(str(path)))
        else:
            missing.append(problem(str(path), "cannot read the spec: no such file or directory"))
    return list(dict.fromkeys(files)), missing


def _listed(file: Path, root: Path) -> bool:
    return not any(part.startswith(("_", ".")) for part in file.relative_to(root).parts)


def as_written(path: Path) -> tuple | None:
    """The spec without --set and its Plan, to tell what the --set changed; None where it cannot be
    read again (standard input) or is not valid on its own."""
    if str(path) == STDIN:
        return None
    try:
        spec = as_spec(path)
        return spec, plan(spec)
    except SpecError:
        return None


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Spec files, or directories to search for *.yaml / *.yml."),
    sets: list[str] = set_option(),
    fmt: ErrorFormat = typer.Option(
        ErrorFormat.text, "--format", "-f",
        help="text; github for GitHub Actions annotations; gitlab for a GitLab code-quality report (JSON on stdout)."),
    strict: bool = strict_option(),
) -> None:
    """Check specs: schema, cross-field rules, size limits, that the network resolves, and its `reference:` figures.

    Reports every problem of every file; exits 2 if any file fails. Hints (valid specs that probably mean something else) are warnings on stderr; --strict makes them errors.
    """
    gathered: list[Problem] = []  # --format gitlab: one JSON array at the end

    def report(exc: SpecError) -> None:
        if fmt is ErrorFormat.gitlab:
            gathered.extend(exc.problems)
        else:
            report_problems(exc, fmt)

    files, bad = spec_files(paths)
    if sets and fmt == ErrorFormat.text:
        console.print(f"--set applied to each spec: {escape(printable(', '.join(sets)))}")
    for error in bad:
        report(error)
    for path in files:
        try:
            loaded = as_spec(path, sets)
            resolved = validated_plan(loaded) if not sets else plan(loaded)  # a variant: its reference, a hint
        except SpecError as exc:
            show_traceback()
            report(exc)
            bad.append(exc)
            continue
        hints = hints_for(loaded, resolved, path, sets)
        if sets:
            wrong, variant = variant_mismatches(loaded, resolved, as_written(path))
            if wrong:
                report(SpecError([source_of(loaded).problem(where, message) for where, message in wrong]))
                bad.append(SpecError([]))
                continue
            hints += [source_of(loaded).problem(where, message) for where, message in variant]
        if fmt is ErrorFormat.gitlab and strict and hints:
            gathered.extend(hints)  # under --strict, hints are errors of the report
            bad.append(SpecError(hints))
            continue
        if report_hints(hints, strict, fmt):
            bad.append(SpecError(hints))
            continue
        summary = f"{resolved.name}, {resolved.params:,} params, {resolved.macs:,} MACs"
        if fmt is ErrorFormat.gitlab:
            errors.print(f"[green]ok[/] {untrusted(spec_file_name(path))}: {untrusted(summary)}")
        else:
            say(lambda markup: f"{'[green]ok[/]' if markup else 'ok'} {untrusted(spec_file_name(path), markup)}: "
                               f"{untrusted(summary, markup)}")
    if fmt is ErrorFormat.gitlab:
        from .ci_formats import gitlab_report

        sys.stdout.write(gitlab_report(gathered))
    if bad:
        raise typer.Exit(EXIT_INVALID)
