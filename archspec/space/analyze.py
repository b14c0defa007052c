"""Compare sweeps: the metric's empirical distribution per directory, and metric against cost.

pycls compares design spaces by the EDF of their models' errors: the fraction of models
whose error is below x. Here each directory given is one curve, and the metric is also
drawn against the exact params and MACs, with the Pareto front (no cheaper model is at
least as good) marked. Only ``ok`` results that carry the metric are used.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from ..files import staged
from ..formatting import tick
from .sample import read_index
from ..extras import MissingExtra
from ..formatting import literal_text
from .sweep import read_results
from .rows import BadRows

FORMATS = ("png", "svg", "pdf")


class AnalyzeError(ValueError):
    """Nothing to analyze: no results, or no result carries the metric."""


@dataclass(frozen=True)
class Row:
    """One finished sample: where it came from, its exact counts, its metric, whether it is on a front."""

    dir: str
    sha256: str
    params: int
    macs: int
    metric: float
    on_front: bool  # Pareto-optimal in metric against params, within its directory
    on_front_macs: bool  # ... against MACs


def pareto(costs: Sequence[float], metrics: Sequence[float], lower_is_better: bool) -> list[bool]:
    """For each point: is no other point at most as costly and at least as good (strictly better in one)?"""
    sign = 1 if lower_is_better else -1
    order = sorted(range(len(costs)), key=lambda i: (costs[i], sign * metrics[i]))
    front, best = [False] * len(costs), math.inf
    for i in order:
        if sign * metrics[i] < best:
            front[i], best = True, sign * metrics[i]
    return front


def table(directories: Sequence[str | Path], metric: str, lower_is_better: bool = False) -> list[Row]:
    """Rows of every ``ok`` result with ``metric``, joined with the sample's counts by sha256."""
    rows: list[Row] = []
    for directory in directories:
        try:
            samples = {s["sha256"]: s for s in read_index(directory)}
            results = read_results(directory)
        except FileNotFoundError:
            raise AnalyzeError(f"{directory}: no index.jsonl; analyze takes directories made by `archspec sample` "
                               "and run by `archspec sweep`") from None
        except BadRows as exc:
            raise AnalyzeError(str(exc)) from None
        found, keys = [], set()
        for sha, result in results.items():
            metrics = result.get("metrics") or {}
            keys.update(metrics)
            value = metrics.get(metric)
            if result.get("status") != "ok" or sha not in samples or not _is_number(value):
                continue
            found.append((sha, samples[sha]["params"], samples[sha]["macs"], float(value)))
        if not found:
            seen = f" (metrics found: {', '.join(sorted(keys))})" if keys else ""
            raise AnalyzeError(f"{directory}: no finished sample has the metric {metric!r}{seen}; "
                               f"run `archspec sweep {directory} --run ...` first")
        values = [f[3] for f in found]
        by_params = pareto([f[1] for f in found], values, lower_is_better)
        by_macs = pareto([f[2] for f in found], values, lower_is_better)
        rows += [Row(str(directory), sha, p, m, v, a, b) for (sha, p, m, v), a, b in zip(found, by_params, by_macs)]
    return rows


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def to_json(rows: Sequence[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2) + "\n"


def to_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(Row.__dataclass_fields__), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return buffer.getvalue()


PARETO_LABEL = "pareto-label"  # the gid of the front's point labels
MAX_LABELS = 12  # per front; a longer front labels every k-th point, its ends included


def point_labels(directory: str | Path) -> dict[str, str]:
    """A short name per sample of a sampled directory: the values that vary between its samples, by
    the last part of their path (``depth=20, alpha=48``), or the sha256's first 8 digits where none vary."""
    try:
        samples = read_index(directory)
    except (FileNotFoundError, ValueError):
        return {}
    values = [s.get("values") or {} for s in samples]
    varied = [k for k in dict.fromkeys(k for v in values for k in v) if len({repr(v.get(k)) for v in values}) > 1]
    return {s["sha256"]: ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(v.get(k))}" for k in varied) or s["sha256"][:8]
            for s, v in zip(samples, values)}


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _label_front(axes: Any, front: Sequence[tuple[int, float, str]], names: dict[str, str], color: str) -> None:
    """Name the front's points beside them, alternately above and below so neighbours do not collide."""
    step = max(1, math.ceil(len(front) / MAX_LABELS))
    picked = [i for i in range(len(front)) if i % step == 0 or i == len(front) - 1]
    for n, i in enumerate(picked):
        cost, metric, sha = front[i]
        axes.annotate(names.get(sha, sha[:8]), (cost, metric), xytext=(5, 6 if n % 2 == 0 else -11),
                      textcoords="offset points", fontsize=7, color=color, gid=PARETO_LABEL)


@literal_text
def plot(rows: Sequence[Row], metric: str, out: str | Path, lower_is_better: bool = False) -> Path:
    """Draw the EDF per directory and the metric against params and MACs (fronts marked), atomically."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise AnalyzeError(f"-o {out}: write a .png, .svg or .pdf figure")
    fig = figure(rows, metric, lower_is_better)
    with staged(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=110)
    return out


def figure(rows: Sequence[Row], metric: str, lower_is_better: bool = False) -> Any:  # matplotlib Figure
    """The EDF per directory, and the metric against params and against MACs with each Pareto front
    drawn and its points named (the sample values that vary, see :func:`point_labels`)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise MissingExtra("matplotlib", "drawing the analysis") from None
    fig = Figure(figsize=(15, 4.4), layout="constrained")
    edf, vs_params, vs_macs = fig.subplots(1, 3)
    directories = list(dict.fromkeys(r.dir for r in rows))
    colors = [f"C{i % 10}" for i in range(len(directories))]
    for directory, color in zip(directories, colors):
        mine = [r for r in rows if r.dir == directory]
        values = sorted(r.metric for r in mine)
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        edf.step(values, fractions, where="post", color=color, label=f"{Path(directory).name} (n={len(values)})")
        names = point_labels(directory)
        for axes, cost, front in ((vs_params, "params", "on_front"), (vs_macs, "macs", "on_front_macs")):
            axes.scatter([getattr(r, cost) for r in mine], [r.metric for r in mine], s=14, alpha=0.6, color=color)
            best = sorted((getattr(r, cost), r.metric, r.sha256) for r in mine if getattr(r, front))
            axes.plot([b[0] for b in best], [b[1] for b in best], "-o", color=color, markersize=6, drawstyle="steps-post",
                      markerfacecolor="none", label=f"{Path(directory).name}: Pareto front")
            _label_front(axes, best, names, color)
    better = "lower is better" if lower_is_better else "higher is better"
    edf.set(xlabel=f"{metric} ({better})", ylabel="fraction of models", title=f"EDF of {metric}", ylim=(0, 1.02))
    edf.legend(loc="lower right" if lower_is_better else "upper left", fontsize=8)
    for axes, what in ((vs_params, "parameters"), (vs_macs, "MACs per image")):
        axes.set(xscale="log", xlabel=f"{what} (exact, log scale)", ylabel=metric, title=f"{metric} against {what}")
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick(v)))  # 100K, 1M rather than 10^5, 10^6
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    edf.grid(alpha=0.3)
    return fig
