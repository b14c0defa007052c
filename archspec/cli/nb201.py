"""``archspec nb201``: a NAS-Bench-201 cell string as a spec (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app
from .common import console, fail, untrusted, user_errors, writing


@app.command()
def nb201(
    cell: str = typer.Argument(..., metavar="CELL",
                               help="The cell, as NAS-Bench-201 writes it: '|nor_conv_3x3~0|+|...~0|...~1|+|...|'."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the spec here instead of stdout."),
) -> None:
    """Write the spec of a NAS-Bench-201 network (xautodl's infer.tiny, C=16, N=5) with cell CELL.

    The spec extends the bundled nas-bench-201 and sets the six edges of its nb201_cell block, so
    validate, report, build and every export take it as they take any spec. Quote CELL: `|` is
    the shell's pipe. A string that is not a cell exits 2, naming where and what a cell is.
    """
    from ..api import plan
    from ..files import write_text
    from ..space.nb201 import CellError, cell_spec, cell_spec_text

    try:
        text = cell_spec_text(cell)
    except CellError as exc:
        raise fail(f"CELL: {exc}") from None
    with user_errors():
        counted = plan(cell_spec(cell))
    if output is None:
        console.print(text, markup=False, end="")
        return
    with writing(output):
        write_text(output, text)
    console.print(f"wrote {untrusted(output, markup=False)}: {counted.params:,} params, {counted.macs:,} MACs",
                  markup=False)
