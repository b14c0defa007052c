"""``archspec plot``: width (or params, MACs) of each unit along the depth, with matplotlib."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from .common import app
from .common import console, fail, set_option, untrusted, user_errors


class Y(str, Enum):
    width = "width"
    params = "params"
    macs = "macs"


@app.command()
def plot(
    specs: list[Path] = typer.Argument(..., metavar="SPEC", help="Spec files, drawn on one axis."),
    out: Path = typer.Option(..., "--output", "-o", help="Output file; its suffix picks the format: .png, .svg or .pdf."),
    y: Y = typer.Option(Y.width, "--y", help="What each unit shows: output channels, parameters or MACs."),
    dpi: int = typer.Option(150, "--dpi", min=10, max=1200, metavar="N", help="Resolution of a PNG (dots per inch)."),
    sets: list[str] = set_option(),
) -> None:
    """Plot each body unit's width, params or MACs against its place along the depth, several specs on one axis.

    ResNet's widths climb in steps, one per stage; PyramidNet's in a ramp. Reads only the Plan (no torch); needs matplotlib (the 'plot' extra).
    """
    from ..api import plan as make_plan
    from ..diagram.plot import MatplotlibMissing, plot_format, write_plot

    try:
        plot_format(out)
    except ValueError as exc:
        raise fail(str(exc)) from None
    with user_errors():
        plans = [make_plan(path, overrides=sets) for path in specs]
    try:
        written = write_plot(plans, out, y.value, dpi)
    except MatplotlibMissing as exc:
        raise fail(str(exc)) from None
    console.print(f"wrote {untrusted(written, markup=False)}", markup=False)
