"""``archspec bench``: measured latency of built networks, with a per-unit latency table."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from .common import app
from .common import _count, errors, fail, set_option, show_traceback
from .report import Device, DType, Format, batch_option, dtype_option, format_option, load_reports, quiet_broken_pipe


class Mode(str, Enum):
    infer = "infer"
    train = "train"


class Runtime(str, Enum):
    eager = "eager"
    compile = "compile"
    onnxruntime = "onnxruntime"


def _table(run: Any, cfg: Any) -> Any:
    from ..complexity.render import Column, Table, plain, ratio

    def ms(value: Any) -> str:
        return "-" if value is None else f"{value * 1e3:.3f} ms"

    rate = lambda v: "-" if v is None else f"{v:,.1f}"  # noqa: E731
    columns = [Column("name", "network", numeric=False), Column("units", "units", plain),
               Column("seconds", "measured", ms), Column("best", "best", ms),
               Column("images_per_second", "img/s", rate),
               Column("ratio", "vs first", ratio), Column("predicted", "predicted", ms),
               Column("predicted_over_measured", "predicted/measured", ratio)]
    rows = [r.as_dict(cfg.batch) for r in run.results]
    title = (f"{cfg.mode} on {cfg.device}{f' ({cfg.threads} threads)' if cfg.threads else ''}, batch {cfg.batch}, "
             f"{cfg.dtype}, {cfg.runtime}"
             f"{', channels_last' if cfg.channels_last else ''}{', CUDA graphs' if cfg.cuda_graphs else ''}")
    notes = [f"measured: medians (best: the fastest) of {cfg.rounds} interleaved rounds of {cfg.iters} step(s) after {cfg.warmup} warm-up round(s); "
             "vs first: latency / the first network's; "
             + ("predicted: the sum of the unit latencies (each distinct unit timed once, alone); "
                f"{run.timed_units} of {len(run.table.units)} unit(s) timed in this run"
                if run.results[0].predicted is not None else "units not timed (--no-units)"),
             f"estimated memory {run.estimated_bytes / 2**20:.1f} MiB (analytic, checked against --max-memory)"]
    return Table(title, columns, rows, notes)


@app.command()
def bench(
    specs: list[Path] = typer.Argument(..., help="Spec files; several are measured interleaved, as ratios to the first."),
    device: Device = typer.Option(Device.cpu, "--device", help="cpu or cuda."),
    batch: int = batch_option("Images per step"),
    dtype: DType = dtype_option(),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format for input and weights."),
    mode: Mode = typer.Option(Mode.infer, "--mode", help="infer (forward) or train (forward, backward, SGD step)."),
    runtime: Runtime = typer.Option(Runtime.eager, "--runtime", help="eager, compile (torch.compile) or onnxruntime."),
    cuda_graphs: bool = typer.Option(False, "--cuda-graphs", help="CUDA only: capture each eager step in a CUDA graph, or compile with mode reduce-overhead."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Timed rounds; the figure is their median."),
    warmup: int = typer.Option(2, "--warmup", min=1, help="Untimed rounds first."),
    iters: int = typer.Option(1, "--iters", min=1, help="Steps per timed sample."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="CPU intra-op threads (torch.set_num_threads); default: torch's. One "
        "thread is steadier on a busy machine."),
    table: Optional[Path] = typer.Option(
        None, "--table", help="Unit latency table (JSON): units found in it are not timed again; the table, "
        "with the units timed now, is written back."),
    max_memory: Optional[int] = typer.Option(
        None, "--max-memory", parser=_count, metavar="BYTES",
        help="Refuse a run whose analytic memory exceeds this (default: half the RAM, 90% of a GPU's)."),
    fmt: Format = format_option(),
    input_size: Optional[str] = typer.Option(None, "--input-size", "-i", metavar="H[,W]",
                                             help="Measure at this input resolution instead of the spec's."),
    sets: list[str] = set_option(),
    units: bool = typer.Option(True, "--units/--no-units", help="Time each distinct unit alone (the table and "
                               "the prediction); --no-units measures end to end only."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Measure SPECS' latency (medians of interleaved rounds) and each distinct unit's, alone.

    Prints the measured latency, images per second, the ratio to the first spec, and the
    predicted latency (the sum of its unit times) with its ratio to the measured one.
    """
    import json

    from ..api import memory_needs
    from ..files import check_target, write_text
    from ..export.bench import BenchError, Config, LatencyTable
    from ..export.bench import bench as run_bench

    cfg = Config(device.value, batch, dtype.value, channels_last, mode.value, runtime.value, cuda_graphs,
                 warmup, rounds, iters, threads)
    try:
        cfg.check()
    except BenchError as exc:
        raise fail(str(exc)) from None
    plans = [p for _, p in load_reports(specs, input_size, [sets] * len(specs))]
    from rich.progress import Progress

    bar = Progress(console=errors.made, transient=True, disable=not progress)

    def start(total: int) -> Any:
        task = bar.add_task("timing", total=total)
        return lambda: bar.advance(task)

    if table is not None:
        check_target(table)  # a link or FIFO in its place: refused before anything is timed
    try:
        known = LatencyTable.load(table, cfg) if table is not None and table.exists() else None
        needs = memory_needs(plans, batch, cfg.dtype, cfg.device, cfg.mode)
        with bar:
            run = run_bench(plans, needs, cfg, known, max_memory, start, units)
    except BenchError as exc:
        show_traceback()
        raise fail(str(exc)) from None
    if table is not None:
        write_text(table, json.dumps(run.table.as_dict(), indent=2) + "\n")
    from .report import emit

    data = {"config": cfg.table_key() | {"rounds": rounds, "warmup": warmup, "iters": iters},
            "estimated_bytes": run.estimated_bytes, "timed_units": run.timed_units,
            "results": [r.as_dict(batch) for r in run.results], "units": run.table.as_dict()["units"]}
    with quiet_broken_pipe():
        emit(_table(run, cfg), fmt, data)

