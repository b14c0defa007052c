"""``archspec diff A B``: per part (stem, stages, head, total), what changes between two specs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from .common import set_option
from .report import Format, emit, format_option, input_size_option, load_reports


@app.command()
def diff(
    a: Path = typer.Argument(..., help="The first spec (A)."),
    b: Path = typer.Argument(..., help="The second spec (B)."),
    fmt: Format = format_option(),
    input_size: Optional[str] = input_size_option(),
    sets: list[str] = set_option(),
) -> None:
    """Units, widths, params and MACs of A and B per stage, with deltas (B - A) and ratios (B / A)."""
    from ..complexity import Diff

    (ra, _), (rb, _) = load_reports([a, b], input_size, sets)
    change = Diff(ra, rb)
    emit(change.table(), fmt, change.as_dict())
