"""``archspec sweep``: run the user's command once per sample, through an executor; record results."""

from __future__ import annotations

import signal
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from .common import app
from .common import console, errors, fail, untrusted


class Executor(str, Enum):
    local = "local"
    submitit = "submitit"


@app.command()
def sweep(
    directory: Path = typer.Argument(..., help="A directory made by `archspec sample`."),
    run: str = typer.Option(..., "--run", help="The command, with {spec}, {out} and {sha}; it writes {out}/metrics.json."),
    executor: Executor = typer.Option(Executor.local, "--executor", "-e",
                                      help="local: N subprocesses here; submitit: SLURM (or submitit's local executor)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Commands running at once (SLURM: the array's parallelism)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Rerun failed and no-metrics samples too."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="submitit: force slurm, local or debug."),
    timeout_min: int = typer.Option(24 * 60, "--timeout-min", help="submitit: time limit per job, minutes."),
    slurm_partition: Optional[str] = typer.Option(None, "--slurm-partition", help="SLURM partition."),
    slurm_gpus: Optional[int] = typer.Option(None, "--slurm-gpus-per-node", help="GPUs per job."),
    slurm_cpus: Optional[int] = typer.Option(None, "--slurm-cpus-per-task", help="CPUs per job."),
    slurm_mem_gb: Optional[float] = typer.Option(None, "--slurm-mem-gb", help="Memory per job, GB."),
) -> None:
    """Run --run once per sample of DIRECTORY not yet finished, appending to DIRECTORY/results.jsonl.

    Each line: sha256, status (ok, failed, no-metrics), exit_code, duration_s, metrics, and
    for failures the tail of stderr. A rerun skips finished samples; SIGINT or SIGTERM stops
    the running commands and keeps every finished result.
    """
    from ..space import Interrupted, MissingExtra, RunResult, SweepError, sweep as run_sweep

    parameters: dict[str, Any] = {"timeout_min": timeout_min}
    for key, value in (("slurm_partition", slurm_partition), ("gpus_per_node", slurm_gpus),
                       ("cpus_per_task", slurm_cpus), ("mem_gb", slurm_mem_gb)):
        if value is not None:
            parameters[key] = value

    def show(result: RunResult) -> None:
        why = f" (exit {result.exit_code}): {result.error.splitlines()[-1] if result.error else ''}" \
            if result.status != "ok" else ""
        console.print(f"{result.status:<10} {result.sha256[:12]} {result.duration_s:7.1f} s{untrusted(why)}")

    try:
        done = run_sweep(directory, run, executor=executor.value, jobs=jobs, retry_failed=retry_failed,
                         cluster=cluster, parameters=parameters, on_result=show)
    except (SweepError, MissingExtra) as exc:
        raise fail(str(exc)) from None
    except Interrupted as stop:
        errors.print(f"interrupted by {signal.Signals(stop.signum).name}: {len(stop.result.results)} results recorded "
                     f"in {untrusted(directory / 'results.jsonl')}; rerun the same command to resume")
        raise typer.Exit(128 + stop.signum) from None
    console.print(f"{len(done.results)} run ({done.count('ok')} ok, {done.count('failed')} failed, "
                  f"{done.count('no-metrics')} no-metrics), {done.skipped} already finished; results in "
                  f"{untrusted(done.results_path)}")
