"""Draw distinct, valid, in-budget networks from a space, reproducibly.

Each draw picks a value per axis with one seeded :class:`random.Random`, so the same
space and seed give the same samples in the same order, hence the same files. A draw
becomes a sample when it validates, resolves, fits the budget and has an expanded-spec
sha256 not seen before; otherwise its reason is counted (``params above 3M``,
``does not resolve at body.depth``, ``duplicate``...). Long runs judge the draws in worker
processes (:mod:`.parallel`); this process still takes the verdicts in draw order, so the
samples do not depend on how many workers there are.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .._startup import collector_paused
from ..files import staged_targets, write_text
from .load import Axis, Space
from .model import Choice, FloatRange
from .parallel import judged, usable_workers
from .text import ExpandedText
from .variants import Counter, Unresolved, sha256_of, with_changes

INDEX = "index.jsonl"
DUPLICATE = "duplicate (same sha256 as an earlier sample)"


@dataclass(frozen=True)
class Sample:
    """One accepted network: its identity, the values drawn (by vary path), its exact counts."""

    sha256: str
    file: str
    values: dict[str, Any]
    params: int
    macs: int

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "file": self.file, "values": self.values, "params": self.params,
                "macs": self.macs}


@dataclass
class SampleResult:
    """What a sampling run found: the samples, how many draws it took, why the others were rejected."""

    requested: int
    samples: list[Sample] = field(default_factory=list)
    drawn: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    out: Path | None = None

    @property
    def complete(self) -> bool:
        return len(self.samples) >= self.requested


def draw(axis: Axis, rng: random.Random) -> Any:
    """One value of an axis: uniform (or log-uniform) over its range, or one of its choices."""
    dim = axis.dim
    if isinstance(dim, Choice):
        return dim.choice[rng.randrange(len(dim.choice))]
    lo, hi = dim.bounds
    if isinstance(dim, FloatRange):
        return math.exp(rng.uniform(math.log(lo), math.log(hi))) if dim.log else rng.uniform(lo, hi)
    steps = (hi - lo) // dim.step
    if not dim.log:
        return lo + dim.step * rng.randint(0, steps)
    value = math.exp(rng.uniform(math.log(lo), math.log(lo + steps * dim.step)))
    return lo + dim.step * min(steps, max(0, round((value - lo) / dim.step)))


def sample(
    space: Space, n: int, seed: int = 0, max_draws: int | None = None, out: str | Path | None = None,
    progress: Callable[[SampleResult], None] | None = None, every: int = 500, workers: int | None = None,
) -> SampleResult:
    """Draw until ``n`` distinct in-budget samples (or ``max_draws`` draws, default ``1000 * n``).

    With ``out``, each sample is written as ``<first 12 hex of sha256>.yaml`` (the expanded
    spec) and the list as ``index.jsonl``, each file atomically; the index last.
    ``progress`` is called every ``every`` draws and once at the end. ``workers``: processes
    judging the draws (default: one per core for long runs, see :mod:`.parallel`); the
    samples are the same for any number.
    """
    if n < 1:
        raise ValueError(f"the number of samples must be at least 1 (got {n})")
    limit = max_draws if max_draws is not None else 1000 * n
    if limit < 1:
        raise ValueError(f"--max-draws must be at least 1 (got {limit})")
    with collector_paused():  # the memo grows to millions of acyclic records: no cycles to find there
        return _sample(space, n, seed, limit, Path(out) if out is not None else None, progress, every,
                       usable_workers(workers, n))


class Judge:
    """What each draw is: the reason it is rejected, or its counts, sha256 and file text.

    A pure function of the drawn values (its memo and text cache change how fast, not
    what), so draws can be judged in any process, in any order.
    """

    def __init__(self, space: Space):
        self.space = space
        self.counter = Counter()
        self.text = ExpandedText()

    def __call__(self, values: dict[str, Any]) -> str | Accepted:
        space = self.space
        try:
            counted = self.counter.count(with_changes(space.base, space.changes(values)))
        except Unresolved as exc:
            return exc.reason
        verdict = space.budget.verdict(counted.params, counted.macs)
        if verdict:
            return verdict
        sha, data = sha256_of(counted.spec, counted.plan)
        return Accepted(counted.params, counted.macs, sha, self.text(data, sha))


@dataclass(frozen=True)
class Accepted:
    """A draw that resolves within the budget (a sample, unless an earlier one has its sha256)."""

    params: int
    macs: int
    sha256: str
    text: str


def draws(space: Space, seed: int) -> Iterator[dict[str, Any]]:
    """The space's draws for ``seed``, in order: one value per axis from one seeded generator."""
    rng = random.Random(seed)
    while True:
        yield {axis.key: draw(axis, rng) for axis in space.axes}


def _sample(space: Space, n: int, seed: int, limit: int, out: Path | None,
            progress: Callable[[SampleResult], None] | None, every: int, workers: int) -> SampleResult:
    judge = Judge(space)
    if workers > 1:
        outcomes = judged(space, functools.partial(draws, space, seed), limit, judge, workers)
    else:
        outcomes = ((values, judge(values)) for values in itertools.islice(draws(space, seed), limit))
    result = SampleResult(requested=n, out=out)
    rejected: Tally[str] = Tally()
    seen: set[str] = set()
    leftovers = staged_targets(out)
    try:
        for values, verdict in outcomes:
            result.drawn += 1
            if isinstance(verdict, str):
                rejected[verdict] += 1
            elif verdict.sha256 in seen:
                rejected[DUPLICATE] += 1
            else:
                seen.add(verdict.sha256)
                name = f"{verdict.sha256[:12]}.yaml"
                if out is not None:  # each file atomic; the directory is looked through for stale ones once
                    write_text(out / name, verdict.text, sweep=name in leftovers)
                result.samples.append(Sample(verdict.sha256, name, values, verdict.params, verdict.macs))
                if len(result.samples) >= n:
                    break
            if progress and result.drawn % every == 0:
                result.rejected = dict(rejected)
                progress(result)
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()  # stops the workers
    result.rejected = dict(rejected.most_common())
    if out is not None:
        lines = "".join(json.dumps(s.as_dict(), sort_keys=True) + "\n" for s in result.samples)
        write_text(out / INDEX, lines)
    if progress:
        progress(result)
    return result




def read_index(directory: str | Path) -> list[dict[str, Any]]:
    """The samples a sampling run wrote to ``directory`` (its ``index.jsonl``)."""
    path = Path(directory) / INDEX
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
    return rows
