"""``archspec diagram``: draw channel progression or the module graph, both from the Plan (no torch)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..diagram.groups import DEFAULT_MAX_NODES
from .common import app
from .common import EXIT_INVALID, console, fail, set_option, untrusted, user_errors, writing

class Scale(str, Enum):
    shared = "shared"
    each = "each"


OUTPUT_HELP = "Output file; its suffix picks the format: .svg, .png, .pdf or .dot."


@app.command()
def diagram(
    specs: list[Path] = typer.Argument(..., metavar="SPEC", help="Spec files; several are drawn side by side (see --scale)."),
    out: Path = typer.Option(..., "--output", "-o", help=OUTPUT_HELP),
    collapse: bool = typer.Option(
        True, "--collapse/--no-collapse",
        help="Draw runs of identical units as one node (x N) and apply --max-nodes; or one node per unit.",
    ),
    max_nodes: int = typer.Option(
        DEFAULT_MAX_NODES, "--max-nodes", min=3,
        help="Node cap per network: merge stretches of similar units beyond it.",
    ),
    graph: bool = typer.Option(
        False, "--graph", help="Draw the module graph, step by step in each unit, from the units' step graphs (one spec).",
    ),
    dpi: Optional[int] = typer.Option(None, "--dpi", min=10, max=1200, metavar="N",
                                      help="Resolution of a PNG in dots per inch (default: Graphviz's, 96 with its cairo renderer)."),
    scale: Scale = typer.Option(Scale.shared, "--scale",
                                help="Width bars on one scale for all specs (shared), or each spec on its own (each)."),
    sets: list[str] = set_option(),
    features: bool = typer.Option(False, "--features", help="Mark the nodes a backbone's feature maps are taken from "
                                  "(build(..., features_only=True); timm's numbering)."),
    out_indices: Optional[str] = typer.Option(None, "--out-indices", metavar="I,J,...",
                                              help="With --features: mark only these maps (timm's index)."),
) -> None:
    """Draw how width grows through SPEC(s): stem, stages, units, head, with shapes and shortcuts.

    Both kinds read only the Plan (no torch import). Rendering needs
    Graphviz's `dot`; when it is missing the DOT source is written beside OUT and the
    command exits 2.
    """
    from ..extras import require

    require("graphviz", needed_for="archspec diagram")
    from ..api import plan as make_plan
    from ..diagram import DotMissing, RenderError, output_format, progression, write_diagram

    try:
        output_format(out)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if graph and len(specs) > 1:
        raise fail(f"--graph draws one spec at a time; got {len(specs)}")
    from .build import parse_out_indices

    indices = parse_out_indices(out_indices, features, "--features")
    with user_errors():
        plans = [make_plan(path, overrides=sets) for path in specs]
    taps = None
    if features:
        from ..plan.features import FeatureError, FeatureInfo

        try:
            taps = [FeatureInfo.of(p, indices).selected for p in plans]
        except FeatureError as exc:
            raise fail(f"--out-indices {out_indices}: {exc}") from None
    if graph:
        from ..diagram import module_graph

        drawing = module_graph(plans[0], collapse=collapse, taps=taps[0] if taps else ())
    else:
        drawing = progression(plans, collapse=collapse, max_nodes=max_nodes, scale=scale.value, taps=taps)
    try:
        with writing(out):
            written = write_diagram(drawing, out, dpi)
    except DotMissing as exc:
        raise fail(str(exc), code=EXIT_INVALID) from None
    except RenderError as exc:
        raise fail(str(exc), code=1) from None
    console.print(f"wrote {untrusted(written)}")
