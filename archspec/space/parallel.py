"""Judge a sampler's draws in worker processes, and hand the verdicts back in draw order.

The main process makes every draw (one seeded generator, as before) and decides, in draw
order, what each verdict means: which sample is new, when there are enough. The workers only
compute verdicts, which are pure functions of the drawn values, so the samples a seed yields
do not depend on the number of workers. Work is routed by the draw's non-real values (its
choices and integers): draws that share them share a body, so each body's stages are planned
in one worker's memo, not in all of them. Workers are forked (they inherit the loaded space
and its validated base; nothing is sent but values and verdicts) and never write files.

Workers die with the main process, however it ends (a CI timeout's SIGKILL included): on
Linux the kernel kills them when it goes (``PR_SET_PDEATHSIG``), and everywhere a worker
holds no read end of any pipe, so its next send to a main process that is gone fails and it
leaves.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import zlib
from typing import Any, Callable, Iterable, Iterator

from .load import Space
from .model import FloatRange

Verdict = Callable[[dict[str, Any]], Any]  # values -> a rejection reason or an accepted sample
MIN_SAMPLES = 500
CHUNK = 1024  # draws sent at a time: large enough to amortise the pipes, small enough not to overshoot N much


def usable_workers(requested: int | None, n: int) -> int:
    """How many worker processes to judge the draws for ``n`` samples with (1: in this process).

    By default one per core for runs of ``MIN_SAMPLES`` or more (shorter ones finish before
    the workers would pay for themselves), where the platform can fork; ``requested`` is
    taken as given (where forking is possible).
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if requested is not None:
        return max(1, requested)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores if n >= MIN_SAMPLES else 1


def judged(space: Space, draws: Callable[[], Iterable[dict[str, Any]]], limit: int, judge: Verdict, workers: int,
           chunk: int | None = None) -> Iterator[tuple[dict[str, Any] | None, Any]]:
    """``(values, judge(values))`` for the first ``limit`` draws, in draw order, judged by forked workers.

    Every worker makes the whole sequence of draws itself (``draws()``, cheap next to
    judging) and judges the ones routed to it, a chunk of draw numbers at a time, so only
    verdicts travel. ``values`` is None for rejected draws (the caller counts only their
    reasons). Workers run ahead until their pipe is full; closing the iterator stops them.
    """
    chunk = chunk or CHUNK
    context = multiprocessing.get_context("fork")
    pipes, procs = [], []
    try:
        for me in range(workers):
            ours, theirs = context.Pipe(duplex=False)
            inherited = [*pipes, ours]  # read ends a forked worker must not keep: then its sends notice our death
            proc = context.Process(target=_serve, args=(theirs, space, draws, limit, judge, me, workers, chunk,
                                                        os.getpid(), inherited), daemon=True)
            proc.start()
            theirs.close()
            pipes.append(ours)
            procs.append(proc)
        for start in range(0, limit, chunk):
            verdicts: list[Any] = [None] * min(chunk, limit - start)
            for pipe in pipes:
                reply = pipe.recv()
                if isinstance(reply, BaseException):
                    raise reply
                for i, verdict in reply:
                    verdicts[i - start] = verdict
            for verdict in verdicts:
                yield verdict if isinstance(verdict, tuple) else (None, verdict)
    finally:
        for pipe in pipes:
            pipe.close()  # a worker blocked on sending gets a broken pipe and leaves
        for proc in procs:
            proc.terminate()
            proc.join()


def _router(space: Space) -> Callable[[dict[str, Any]], int]:
    """A stable number per draw from its non-real values (reals rarely repeat, so they say nothing)."""
    keys = [axis.key for axis in space.axes if not isinstance(axis.dim, FloatRange)]
    return lambda values: zlib.crc32(repr([values[k] for k in keys]).encode("utf-8"))


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when ``parent`` ends (Linux), and leave at once if it
    already has: a forked worker must not outlive the run that needs its verdicts."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's prctl, no library search
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc to call: the pipes still stop us at the next send
            pass
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(0)


def _serve(pipe: Any, space: Space, draws: Callable[[], Iterable[dict[str, Any]]], limit: int, judge: Verdict,
           me: int, workers: int, chunk: int, parent: int, inherited: list[Any]) -> None:
    """A worker: judge the draws routed to worker ``me``, sending one list of verdicts per chunk.

    It leaves by ``os._exit``: a forked copy has nothing of its own to flush or clean up,
    and the parent's threads (a progress bar) may have held the standard streams' locks.
    """
    die_with_parent(parent)
    for end in inherited:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    route = _router(space)
    try:
        batch: list[tuple[int, Any]] = []
        for i, values in zip(range(limit), draws()):
            if route(values) % workers == me:
                verdict = judge(values)
                batch.append((i, verdict if isinstance(verdict, str) else (values, verdict)))
            if (i + 1) % chunk == 0 or i + 1 == limit:
                pipe.send(batch)
                batch = []
    except (BrokenPipeError, EOFError, OSError):  # the main process has all it needs
        pass
    except Exception as exc:  # noqa: BLE001  (handed to the main process, which raises it)
        try:
            pipe.send(exc)
        except Exception:  # noqa: BLE001  (one that does not pickle: its text)
            pipe.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        os._exit(0)
