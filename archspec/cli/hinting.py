"""Hints in the CLI: valid but surprising specs as warnings on stderr, or errors under ``--strict``.

The hints themselves are in :mod:`archspec.plan.hints`; this module prints them where
``validate``, ``report`` and ``build`` find them, located like errors (FILE:LINE:COL).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import typer

from .common import ErrorFormat, console, errors, escape, github_annotation

if TYPE_CHECKING:
    from ..plan import Plan
    from ..spec import Problem, Spec

STRICT_HELP = "Make hints (valid but surprising specs, e.g. DenseNet strides in ResNet order) errors: exit 2."


def strict_option() -> Any:
    return typer.Option(False, "--strict", help=STRICT_HELP)


def hints_for(spec: "Spec", resolved: "Plan", path: Optional[Path] = None, overrides: Sequence[str] = (),
              input_size: Any = None) -> list["Problem"]:
    """The spec's hints, and, for a file given with ``--set``, whether the overrides renamed a changed network."""
    from ..api import plan
    from ..plan.hints import override_hints, plan_hints, spec_hints
    from ..spec import SpecError
    from ..spec.yaml_safety import STDIN

    found = spec_hints(spec) + plan_hints(spec, resolved)
    if path is not None and overrides and str(path) != STDIN:
        try:
            base = plan(path, input_size)
        except SpecError:  # the overrides are what makes it valid: nothing to compare with
            return found
        found += override_hints(base, resolved, overrides, spec)
    return found


def report_hints(found: Sequence["Problem"], strict: bool, fmt: ErrorFormat = ErrorFormat.text) -> bool:
    """Print each hint (a warning, or an error under ``strict``); True when ``strict`` made one an error."""
    level = "error" if strict else "warning"
    for hint in found:
        if fmt is ErrorFormat.github:
            console.print(github_annotation(hint).replace("::error ", f"::{level} ", 1), markup=False, soft_wrap=True)
            continue
        note = " (a hint: --strict makes hints errors)" if strict else ""
        colour = "red" if strict else "yellow"
        errors.print(f"[bold {colour}]{level}[/]: {escape(str(hint))}{note}", soft_wrap=True)
    return strict and bool(found)
