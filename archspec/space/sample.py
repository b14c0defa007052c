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

from pydantic import BaseModel

from .._startup import collector_paused
from ..files import check_target, staged_targets, write_text
from ..spec.base import CountFree
from ..spec.errors import FieldPath
from ..spec.models import Spec
from .load import Axis, Space, axis_size, value_at
from .model import Choice, FloatRange
from .parallel import judged, usable_workers
from .rows import INDEX, read_index  # noqa: F401  (read_index: its home before rows.py)
from .text import ExpandedText
from .variants import Counter, Unresolved, sha256_of, with_changes

DUPLICATE = "duplicate (same sha256 as an earlier sample)"


class SpaceTooSmall(ValueError):
    """More distinct samples asked for than the space has draws: refused before drawing any."""


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
    size = space.size
    if size is not None and n > size:
        axes = " x ".join(f"{axis_size(a.dim):,} ({a.key})" for a in space.axes)
        raise SpaceTooSmall(f"{space.file}: {n:,} distinct samples asked for, but the space has only {size:,} "
                            f"different draws ({axes}), fewer still within its budget; ask for at most {size:,}, "
                            "or widen the space")
    limit = max_draws if max_draws is not None else 1000 * n
    if limit < 1:
        raise ValueError(f"--max-draws must be at least 1 (got {limit})")
    if out is not None:
        check_target(Path(out) / INDEX)  # a link or FIFO there: refused before drawing
    with collector_paused():  # the memo grows to millions of acyclic records: no cycles to find there
        return _sample(space, n, seed, limit, Path(out) if out is not None else None, progress, every,
                       usable_workers(workers, n))


class Judge:
    """What each draw is: the reason it is rejected, or its counts, sha256 and file text.

    A pure function of the drawn values (its memos and text cache change how fast, not
    what), so draws can be judged in any process, in any order.

    Most draws fall outside the budget, and most repeat a structure drawn before: the same
    values but for real-valued ones that set only fields no count depends on (a dropout
    rate, :class:`~archspec.spec.base.CountFree`). So a structure's first draw that resolves
    outside the budget is kept (:class:`_Structure`); a later draw of it is validated as that
    draw's spec with those fields changed (:func:`.variants.with_changes` gives the spec that
    validating the whole edited data would give) and rejected by the same counts, without
    planning. Anything else (a draw of a structure inside the budget, one that does not
    validate this way, a field that counts may depend on) takes the full path: validated from
    the base, planned, and for a sample its sha256 and file from its own plan.
    """

    MAX_STRUCTURES = 50_000  # a bound on memory (a few KB each: the models a draw validated anew)

    def __init__(self, space: Space, reuse_counts: bool = True):
        self.space = space
        self.counter = Counter()
        self.text = ExpandedText()
        self.structures: dict[str, _Structure] | None = {} if reuse_counts else None
        self.fixed = [axis.key for axis in space.axes if not isinstance(axis.dim, FloatRange)]
        self.real = [axis for axis in space.axes if isinstance(axis.dim, FloatRange)]

    def __call__(self, values: dict[str, Any]) -> str | Accepted:
        space, structures = self.space, self.structures
        key = repr([values[k] for k in self.fixed]) if structures is not None else ""  # repr: 1, 1.0, True differ
        known = structures.get(key) if structures is not None else None
        if known is not None:
            verdict = self._by_structure(known, values)
            if verdict:
                return verdict
        try:
            counted = self.counter.count(with_changes(space.base, space.changes(values)))
        except Unresolved as exc:
            return exc.reason
        verdict = space.budget.verdict(counted.params, counted.macs)
        if verdict:
            if structures is not None and known is None:  # kept only where it can spare a plan: a rejection
                if len(structures) >= self.MAX_STRUCTURES:
                    structures.clear()
                structures[key] = _Structure(counted.spec, values, counted.params, counted.macs)
            return verdict
        sha, data = sha256_of(counted.spec, counted.plan)
        return Accepted(counted.params, counted.macs, sha, self.text(data, sha))

    def _by_structure(self, known: "_Structure", values: dict[str, Any]) -> str | None:
        """The budget's verdict on a draw of ``known``'s structure (one outside the budget), by its
        counts; None: judge it in full."""
        verdict = self.space.budget.verdict(known.params, known.macs)
        changes = [(path, values[axis.key]) for axis in self.real if values[axis.key] != known.values[axis.key]
                   for path in axis.paths]
        if not changes:
            return verdict  # the same values: the same spec
        if not all(_count_free(known.spec, path) for path, _ in changes):
            return None  # a real value that counts may depend on (a width multiplier): rarely drawn twice
        try:
            spec = with_changes(known.spec, changes)
        except Unresolved:
            return None  # the full path names the reason as validating from the base does
        return verdict if all(_count_free(spec, path) for path, _ in changes) else None  # still their fields


@dataclass(frozen=True)
class _Structure:
    """A structure's first resolved draw outside the budget: its validated spec, its values, its plan's counts."""

    spec: Spec
    values: dict[str, Any]
    params: int
    macs: int


def _count_free(spec: Spec, path: FieldPath) -> bool:
    """Whether ``path`` is a field of ``spec``'s models declared :class:`~archspec.spec.base.CountFree`."""
    owner = value_at(spec, path[:-1])
    return isinstance(owner, BaseModel) and isinstance(path[-1], str) and _declared_count_free(type(owner), path[-1])


@functools.cache
def _declared_count_free(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields.get(name)
    return info is not None and any(isinstance(m, CountFree) for m in info.metadata)


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
