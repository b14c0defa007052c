"""``archspec analyze``: EDF per sweep directory and metric against params/MACs with Pareto fronts."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .common import app
from .common import console, fail, untrusted


class TableFormat(str, Enum):
    json = "json"
    csv = "csv"


@app.command()
def analyze(
    directories: list[Path] = typer.Argument(..., help="Sweep directories (one EDF curve each)."),
    metric: str = typer.Option(..., "--metric", "-m", help="The key in metrics.json to compare."),
    lower_is_better: bool = typer.Option(False, "--lower-is-better", help="For errors and losses."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The figure: .png, .svg or .pdf."),
    fmt: Optional[TableFormat] = typer.Option(None, "--format", "-f", help="Print the table (json or csv) instead."),
) -> None:
    """Draw the metric's EDF per directory, and the metric against params and MACs with the Pareto front.

    --format json|csv prints the table: dir, sha256, params, macs, metric, on_front (against
    params), on_front_macs.
    """
    from ..space import AnalyzeError, MissingExtra, plot, table
    from ..space.analyze import to_csv, to_json

    if output is None and fmt is None:
        raise fail("give -o FIGURE.png|svg|pdf, or --format json|csv for the table")
    try:
        rows = table(directories, metric, lower_is_better)
        if output is not None:
            plot(rows, metric, output, lower_is_better)
    except (AnalyzeError, MissingExtra) as exc:
        raise fail(str(exc)) from None
    if fmt is not None:
        sys.stdout.write(to_json(rows) if fmt is TableFormat.json else to_csv(rows))
    elif output is not None:
        console.print(f"wrote {untrusted(output, markup=False)} ({len(rows)} samples)", markup=False)
