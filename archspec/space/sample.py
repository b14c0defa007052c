"""Draw distinct, valid, in-budget networks from a space, reproducibly.

Each draw picks a value per axis with one seeded :class:`random.Random`, so the same
space and seed give the same samples in the same order, hence the same files. A draw
becomes a sample when it validates, resolves, fits the budget and has an expanded-spec
sha256 not seen before; otherwise its reason is counted (``params above 3M``,
``does not resolve at body.depth``, ``duplicate``...).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .._startup import collector_paused
from ..files import write_text
from ..spec.expand import expanded_yaml
from .load import Axis, Space
from .model import Choice, FloatRange
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
    progress: Callable[[SampleResult], None] | None = None, every: int = 500,
) -> SampleResult:
    """Draw until ``n`` distinct in-budget samples (or ``max_draws`` draws, default ``1000 * n``).

    With ``out``, each sample is written as ``<first 12 hex of sha256>.yaml`` (the expanded
    spec) and the list as ``index.jsonl``, each file atomically; the index last.
    ``progress`` is called every ``every`` draws and once at the end.
    """
    if n < 1:
        raise ValueError(f"the number of samples must be at least 1 (got {n})")
    limit = max_draws if max_draws is not None else 1000 * n
    if limit < 1:
        raise ValueError(f"--max-draws must be at least 1 (got {limit})")
    with collector_paused():  # the memo grows to millions of acyclic records: no cycles to find there
        return _sample(space, n, seed, limit, Path(out) if out is not None else None, progress, every)


def _sample(space: Space, n: int, seed: int, limit: int, out: Path | None,
            progress: Callable[[SampleResult], None] | None, every: int) -> SampleResult:
    rng = random.Random(seed)
    counter = Counter()
    result = SampleResult(requested=n, out=out)
    rejected: Tally[str] = Tally()
    seen: set[str] = set()
    while len(result.samples) < n and result.drawn < limit:
        result.drawn += 1
        values = {axis.key: draw(axis, rng) for axis in space.axes}
        try:
            counted = counter.count(with_changes(space.base, space.changes(values)))
        except Unresolved as exc:
            rejected[exc.reason] += 1
            continue
        verdict = space.budget.verdict(counted.params, counted.macs)
        if verdict:
            rejected[verdict] += 1
            continue
        sha, data = sha256_of(counted.spec, counted.plan)
        if sha in seen:
            rejected[DUPLICATE] += 1
            continue
        seen.add(sha)
        name = f"{sha[:12]}.yaml"
        if result.out is not None:
            write_text(result.out / name, expanded_yaml(data, sha))
        result.samples.append(Sample(sha, name, values, counted.params, counted.macs))
        if progress and result.drawn % every == 0:
            result.rejected = dict(rejected)
            progress(result)
    result.rejected = dict(rejected.most_common())
    if result.out is not None:
        lines = "".join(json.dumps(s.as_dict(), sort_keys=True) + "\n" for s in result.samples)
        write_text(result.out / INDEX, lines)
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
