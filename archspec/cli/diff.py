"""``archspec diff A B``: per part (stem, stages, head, total), what changes between two specs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app
from .report import (Format, emit_all, format_option, input_size_option, load_reports, overrides_note,
                     quiet_broken_pipe, sets_option, wide_option)


@app.command()
def diff(
    a: Path = typer.Argument(..., metavar="A", help="The first spec (A)."),
    b: Path = typer.Argument(..., metavar="B", help="The second spec (B)."),
    fmt: Format = format_option(),
    input_size: Optional[str] = input_size_option(),
    sets: list[str] = sets_option("--set", "-s", applies_to="both A and B"),
    sets_a: list[str] = sets_option("--set-a", applies_to="A only, after --set", text="Like --set."),
    sets_b: list[str] = sets_option("--set-b", applies_to="B only, after --set", text="Like --set."),
    wide: bool = wide_option(),
) -> None:
    """Units, widths, params and MACs of A and B per stage, with deltas (B - A) and ratios (B / A), and the
    block options that differ (kernel, expansion, squeeze-excite, groups, activation, ...).

    Tables: structure (units, widths), costs (params, MACs), block options where any differ; -f csv writes one.

    A spec against its own variant: archspec diff S.yaml S.yaml --set-b body.widening.alpha=270
    """
    from ..complexity import Diff
    from ..complexity.diff import option_diffs

    (ra, pa), (rb, pb) = load_reports([a, b], input_size, [[*sets, *sets_a], [*sets, *sets_b]])
    change = Diff(ra, rb, option_diffs(pa, pb))
    tables = [change.table()] if fmt is Format.csv else change.tables()
    tables[0].notes += overrides_note(sets, "A and B") + overrides_note(sets_a, "A") + overrides_note(sets_b, "B")
    with quiet_broken_pipe():
        emit_all(tables, fmt, change.as_dict(), wide)
