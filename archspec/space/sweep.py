"""Run the user's own command once per sample, through an executor, and record what came back.

archspec never trains anything: the command (``python train.py --spec {spec} --out {out}``)
runs in its own process, writes ``{out}/metrics.json``, and its exit status, duration and
metrics are appended to ``DIR/results.jsonl``, one whole line per finished sample.

- ``local`` runs N commands at a time as subprocesses of this one.
- ``submitit`` hands them to :class:`submitit.AutoExecutor`: SLURM job arrays on a cluster,
  submitit's local executor where there is no SLURM. Thousands of variants are the
  scheduler's business, not ours.

A rerun skips every sample with a result (``retry_failed`` reruns ``failed`` and
``no-metrics`` ones). SIGINT or SIGTERM stops the running commands and records nothing
for them: every line already in ``results.jsonl`` stays whole, so nothing finished is lost.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..extras import MissingExtra
from .sample import read_index

RESULTS = "results.jsonl"
RUNS = "runs"
PLACEHOLDERS = ("spec", "out", "sha")
RETRIED = ("failed", "no-metrics")
TAIL_BYTES = 2000
POLL_S = 0.02


class SweepError(ValueError):
    """A sweep that cannot start: no samples, a bad command template, an unknown executor."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: running commands were stopped, finished results kept."""

    def __init__(self, signum: int, result: "SweepResult"):
        self.signum = signum
        self.result = result
        super().__init__(signal.Signals(signum).name)


@dataclass(frozen=True)
class RunResult:
    """One finished sample: ``ok``, ``failed`` (non-zero exit) or ``no-metrics``."""

    sha256: str
    status: str
    exit_code: int | None
    duration_s: float
    metrics: dict[str, Any] | None = None
    error: str = ""  # why it failed: the stderr tail, or what was wrong with metrics.json

    def as_dict(self) -> dict[str, Any]:
        out = {"sha256": self.sha256, "status": self.status, "exit_code": self.exit_code,
               "duration_s": round(self.duration_s, 3), "metrics": self.metrics}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class SweepResult:
    """What this run did: results it recorded, samples it skipped as already finished."""

    results: list[RunResult] = field(default_factory=list)
    skipped: int = 0
    results_path: Path | None = None

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


@dataclass(frozen=True)
class Task:
    """One command to run: everything a worker (maybe on another machine) needs, as plain data."""

    sha256: str
    command: str
    out: str


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_template(template: str) -> None:
    """Refuse placeholders other than {spec}, {out} and {sha}; other braces (``{"a": 1}``) stay as written."""
    unknown = [n for n in PLACEHOLDER.findall(template) if n not in PLACEHOLDERS]
    if unknown:
        raise SweepError(f"--run: unknown placeholder {{{unknown[0]}}}; use {{spec}}, {{out}} and {{sha}}")
    if "{spec}" not in template:
        raise SweepError("--run: the command must take the sample's spec file, e.g. 'python train.py --spec {spec} "
                         "--out {out}'")


def fill(template: str, spec: str, out: str, sha: str) -> str:
    """The command with the placeholders replaced by shell-quoted values."""
    values = {"spec": shlex.quote(spec), "out": shlex.quote(out), "sha": sha}
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def read_results(directory: str | Path) -> dict[str, dict[str, Any]]:
    """The latest result line per sha256 (a torn last line, from a crash, is ignored)."""
    path = Path(directory) / RESULTS
    latest: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return latest
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "sha256" in row:
            latest[row["sha256"]] = row
    return latest


def append_result(path: Path, result: RunResult) -> None:
    """Append one whole line (one write on an O_APPEND descriptor); a torn last line is closed first."""
    line = (json.dumps(result.as_dict(), sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        if os.fstat(fd).st_size and _last_byte(path) != b"\n":
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


def plan_tasks(directory: Path, template: str, retry_failed: bool) -> tuple[list[Task], int]:
    """The samples still to run (and how many were skipped as finished)."""
    try:
        samples = read_index(directory)
    except FileNotFoundError:
        raise SweepError(f"{directory}: no index.jsonl; make the samples with `archspec sample SPACE -n N -o "
                         f"{directory}`") from None
    except ValueError as exc:
        raise SweepError(str(exc)) from None
    done = read_results(directory)
    tasks, skipped = [], 0
    for row in samples:
        sha = row["sha256"]
        status = done.get(sha, {}).get("status")
        if status == "ok" or (status in RETRIED and not retry_failed):
            skipped += 1
            continue
        spec = (directory / row["file"]).resolve()
        out = (directory / RUNS / sha[:12]).resolve()
        command = fill(template, str(spec), str(out), sha)
        tasks.append(Task(sha, command, str(out)))
    return tasks, skipped


def outcome(task: Task, exit_code: int | None, duration: float) -> RunResult:
    """The result of a command that ended: its exit status, then its metrics.json."""
    out = Path(task.out)
    if exit_code != 0:
        return RunResult(task.sha256, "failed", exit_code, duration, None, _tail(out / "stderr.log"))
    metrics_path = out / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RunResult(task.sha256, "no-metrics", exit_code, duration, None, f"the command wrote no {metrics_path}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return RunResult(task.sha256, "no-metrics", exit_code, duration, None, f"{metrics_path} is not JSON: {exc}")
    if not isinstance(metrics, dict):
        return RunResult(task.sha256, "no-metrics", exit_code, duration, None,
                         f"{metrics_path} holds a {type(metrics).__name__}, not an object of named metrics")
    return RunResult(task.sha256, "ok", exit_code, duration, metrics)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - TAIL_BYTES))
            return handle.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""


def _start(task: Task) -> subprocess.Popen:
    out = Path(task.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("metrics.json",):  # a rerun must not read the last attempt's metrics
        (out / stale).unlink(missing_ok=True)
    with open(out / "stdout.log", "wb") as stdout, open(out / "stderr.log", "wb") as stderr:
        return subprocess.Popen(task.command, shell=True, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                start_new_session=True)  # its own process group: stopped as a whole


def run_task(task: Task) -> RunResult:
    """Run one task to the end in this process (what a submitit job does on its node)."""
    start = time.monotonic()
    process = _start(task)
    try:
        code = process.wait()
    except BaseException:
        _stop([process])
        raise
    return outcome(task, code, time.monotonic() - start)


def _stop(processes: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """SIGTERM each command's process group, then SIGKILL what is left after ``grace_s``."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class _Signals:
    """SIGINT/SIGTERM set a flag (the loop stops cleanly) instead of raising mid-write."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[signum] = signal.signal(signum, self._note)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._old.items():
            signal.signal(signum, handler)


def _run_local(tasks: list[Task], jobs: int, record: Callable[[RunResult], None], signals: _Signals) -> None:
    pending = deque(tasks)
    running: dict[subprocess.Popen, tuple[Task, float]] = {}
    try:
        while (pending or running) and signals.received is None:
            while pending and len(running) < jobs:
                task = pending.popleft()
                running[_start(task)] = (task, time.monotonic())
            for process in [p for p in running if p.poll() is not None]:
                task, start = running.pop(process)
                record(outcome(task, process.returncode, time.monotonic() - start))
            time.sleep(POLL_S)
    finally:
        _stop(list(running))


def _run_submitit(tasks: list[Task], jobs: int, record: Callable[[RunResult], None], signals: _Signals,
                  folder: Path, cluster: str | None, parameters: dict[str, Any]) -> None:
    try:
        import submitit
    except ImportError:
        raise MissingExtra("submitit", "--executor submitit") from None
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(slurm_array_parallelism=jobs, **parameters)
    pending = deque(tasks)
    running: dict[Any, tuple[Task, float]] = {}
    if executor.cluster == "slurm":  # one job array; the scheduler runs `jobs` at a time
        for job, task in zip(executor.map_array(run_task, list(pending)), list(pending)):
            running[job] = (task, time.monotonic())
        pending.clear()
    try:
        while (pending or running) and signals.received is None:
            while pending and len(running) < jobs:
                task = pending.popleft()
                running[executor.submit(run_task, task)] = (task, time.monotonic())
            for job in [j for j in running if j.done()]:
                task, start = running.pop(job)
                try:
                    record(job.result())
                except Exception as exc:  # the job itself died (node lost, time limit): a failure
                    record(RunResult(task.sha256, "failed", None, time.monotonic() - start, None, str(exc)[-TAIL_BYTES:]))
            time.sleep(POLL_S * 5)
    finally:
        for job in running:
            job.cancel(check=False)


def sweep(
    directory: str | Path, command: str, executor: str = "local", jobs: int = 1, retry_failed: bool = False,
    cluster: str | None = None, parameters: dict[str, Any] | None = None,
    on_result: Callable[[RunResult], None] | None = None,
) -> SweepResult:
    """Run ``command`` for every sample in ``directory`` not yet finished; append results as they finish.

    ``parameters`` go to :meth:`submitit.AutoExecutor.update_parameters` (``timeout_min``,
    ``slurm_partition``, ``gpus_per_node``...); ``cluster`` forces submitit's choice
    (``local``, ``slurm``, ``debug``). Raises :class:`Interrupted` after a SIGINT/SIGTERM,
    once the running commands are stopped.
    """
    if jobs < 1:
        raise SweepError(f"--jobs must be at least 1 (got {jobs})")
    if executor not in ("local", "submitit"):
        raise SweepError(f"unknown executor {executor!r}; use local or submitit")
    check_template(command)
    directory = Path(directory)
    tasks, skipped = plan_tasks(directory, command, retry_failed)
    result = SweepResult(skipped=skipped, results_path=directory / RESULTS)

    def record(run: RunResult) -> None:
        append_result(directory / RESULTS, run)
        result.results.append(run)
        if on_result:
            on_result(run)

    with _Signals() as signals:
        if executor == "local":
            _run_local(tasks, jobs, record, signals)
        else:
            params = {"timeout_min": 24 * 60, **(parameters or {})}
            _run_submitit(tasks, jobs, record, signals, directory / "submitit", cluster, params)
    if signals.received is not None:
        raise Interrupted(signals.received, result)
    return result

