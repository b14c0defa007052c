"""Plan -> matplotlib figure: a figure per unit along the depth, several networks on one axis.

The PyramidNet paper's picture (Han et al. 2017, Fig. 1): ResNet's width as a staircase
that doubles at each stage, PyramidNet's as a ramp. ``--y params`` or ``macs`` shows
where a network spends its parameters or compute instead. Only the body units are
plotted (x = 1 .. number of units); the stem and the head are not "along the depth".

matplotlib is imported only here, when a plot is drawn, and without pyplot: a Figure and
its Agg canvas, so no GUI backend or global state is touched. Files are written atomically.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..formatting import human, tick
from ..files import write_bytes
from ..plan.types import Plan, Unit
from .formats import suffix_format
from ..formatting import literal_text

FORMATS = ("png", "svg", "pdf")
DEFAULT_DPI = 150


@dataclass(frozen=True)
class Measure:
    label: str  # the y axis
    title: str
    value: Callable[[Unit], int]
    log: bool  # counts span orders of magnitude between stages (a log axis where every value is > 0)


MEASURES: dict[str, Measure] = {
    "width": Measure("output channels", "width of each unit", lambda u: u.out_channels, False),
    "params": Measure("parameters", "parameters of each unit", lambda u: u.params, True),
    "macs": Measure("MACs (batch 1)", "MACs of each unit", lambda u: u.macs, True),
}


class MatplotlibMissing(ImportError):
    """matplotlib is not installed: the message names the extra that brings it."""


def plot_format(target: Path) -> str:
    """The format named by ``target``'s suffix; ``ValueError`` names the allowed ones."""
    return suffix_format(target, FORMATS, "plot")


def series(plan: Plan, y: str) -> list[int]:
    """The measure of each body unit of one network, in order along the depth."""
    return [MEASURES[y].value(u) for stage in plan.stages for u in stage.units]


@literal_text
def figure(plans: Sequence[Plan], y: str = "width", title: str | None = None):  # -> matplotlib.figure.Figure
    """The figure: one stepped line per network, in the order given, with a legend."""
    if y not in MEASURES:
        raise ValueError(f"--y {y!r}: choose one of {', '.join(MEASURES)}")
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError as exc:
        raise MatplotlibMissing(
            "plots need matplotlib, which the 'plot' extra installs: pip install 'archspec-nn[plot]'") from exc
    measure = MEASURES[y]
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    values = [series(plan, y) for plan in plans]
    colors = []
    for plan, ys in zip(plans, values):
        # unit i spans [i - 1, i]: a stage of n equal units is a flat step n long
        (line,) = ax.step(range(len(ys) + 1), [*ys, ys[-1]], where="post", linewidth=1.8,
                          label=f"{plan.name} ({len(ys)} units, {human(plan.params)} params)")
        colors.append(line.get_color())
    _mark_stages(ax, plans, colors)
    ax.set_xlabel("unit (along the depth)")
    ax.set_ylabel(measure.label)
    if measure.log and all(v > 0 for ys in values for v in ys):
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
        low, high = min(min(ys) for ys in values), max(max(ys) for ys in values)
        if high < 100 * low:  # under two decades: label 1, 2 and 5 of each, or a decade or two is all it says
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    else:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tick(v)))
    ax.set_xlim(0, max(len(ys) for ys in values))
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    ax.set_title(title or measure.title, fontsize=11)
    return fig


STAGE_BOUNDARY = "stage-boundary"  # the gid of the lines between stages (tests and SVG readers find them by it)


def stage_ends(plan: Plan) -> list[int]:
    """Where each body stage ends along the depth (the x of the line after it), the last excluded."""
    ends, count = [], 0
    for stage in plan.stages:
        count += len(stage.units)
        ends.append(count)
    return ends[:-1]


def _mark_stages(ax, plans: Sequence[Plan], colors: list[str]) -> None:
    """A dashed line between stages, and each stage's index over its span.

    Networks whose stages end at the same units share grey lines and labels; otherwise each
    network's lines take its colour and carry no labels (they would overlap).
    """
    from matplotlib.transforms import blended_transform_factory

    ends = [stage_ends(plan) for plan in plans]
    shared = all(e == ends[0] for e in ends)
    for plan, mine, color in zip(plans, ends, colors):
        for i, x in enumerate(mine):
            # without labels, one legend entry says what the coloured dashes are
            label = "stage boundaries (each network's colour)" if not shared and not i and plan is plans[0] else None
            ax.axvline(x, color="0.55" if shared else color, linestyle=(0, (4, 3)), linewidth=0.8,
                       alpha=0.8 if shared else 0.6, zorder=0, gid=STAGE_BOUNDARY, label=label)
        if shared:
            break
    if shared:
        # at the top of the axes, whatever the y scale: x in data, y in axes coordinates
        top = blended_transform_factory(ax.transData, ax.transAxes)
        bounds = [0, *ends[0], len(series(plans[0], "width"))]
        for stage, start, end in zip(plans[0].stages, bounds, bounds[1:]):
            ax.text((start + end) / 2, 0.985, f"stage {stage.index}", transform=top, ha="center", va="top",
                    fontsize=8, color="0.35", gid=STAGE_BOUNDARY)


def write_plot(plans: Sequence[Plan], target: str | Path, y: str = "width", dpi: int = DEFAULT_DPI) -> Path:
    """Draw ``plans`` and write the figure to ``target`` (format from its suffix), atomically."""
    target = Path(target)
    fmt = plot_format(target)
    fig = figure(plans, y)
    from matplotlib import rc_context

    buffer = io.BytesIO()
    # no dates, fixed SVG ids: the same plans give the same bytes, whenever they are drawn
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    with rc_context({"svg.hashsalt": "archspec"}):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return write_bytes(target, buffer.getvalue())
