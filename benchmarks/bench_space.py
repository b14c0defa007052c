"""How fast are design-space variants counted, sampled and fitted?

    PYTHONPATH=$PWD python benchmarks/bench_space.py [--rounds N] [--skip-cli] [--skip-counting] [--before DIR]

Prints:
- in process: distinct PyramidNet-110 variants (54 units; alpha drawn uniformly from
  [24, 300]) counted per second by the fast path (targeted validation + unit memo +
  sha256 of the expanded spec, a fresh memo every round so its warm-up is included), next
  to the normal path (``archspec.report(spec, overrides=[...])``, which loads, validates
  and plans every variant from scratch), and their ratio;
- the wall and CPU time of ``archspec sample spaces/pyramidnet.yaml -n 10000`` (a fresh
  process: nothing is cached across processes), with its default workers (one per core)
  and with ``--workers 1``, and with ``--before DIR`` another checkout's, interleaved;
- distinct Res2Net variants (spaces/res2net.yaml varies its YAML block's parameters and the
  stage depths) counted per second in process, warm-up included, against issue 22's target
  (at least 1,000 a second);
- the CPU per draw of judging the bundled spaces' first draws as ``sample`` does, with
  repeated structures judged by their first draw's counts and with every draw planned;
- ``fit`` in process for every bundled spec (the field the tests fit), and one CLI run.

Rounds are interleaved (fast, normal, fast, normal...) and medians reported, so that a
change in the machine's load hits both paths alike.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archspec  # noqa: E402
from archspec._startup import collector_paused  # noqa: E402
from archspec.space import Counter, Unresolved, fit, sha256_of, with_changes  # noqa: E402
from archspec.space.load import value_at  # noqa: E402
from archspec.spec import load  # noqa: E402
from archspec.spec.compose import override_path  # noqa: E402

SPEC = ROOT / "specs" / "pyramidnet.yaml"
ALPHA = ("body", "widening", "alpha")
SAMPLE_TARGET = 10.0  # seconds of wall time for the 10,000-sample CLI run (issue 25)
USER_BLOCK_SPACE = ROOT / "spaces" / "res2net.yaml"  # varies the parameters of a YAML block (blocks/res2net.yaml)
USER_BLOCK_TARGET = 1000  # distinct variants a second, in process (issue 22)
# The field fitted per spec: the first numeric one of these, as tests/test_space_fit.py picks it (a ViT's
# mlp_dim, a Swin's mlp_ratio: their stem width is tied to the heads or to the first stage's width).
FIELDS = ("body.widening.alpha", "body.widening.k", "body.block.growth", "scaling.width_mult", "body.block.mlp_dim",
          "body.block.mlp_ratio", "stem.width", "classes")
NOT_MONOTONE = {"ghostnet-100": "stem.width"}  # its first unit's shortcut is the identity only at width 16


def fast_round(draws: int, seed: int, counter: Counter | None = None) -> tuple[int, float, float]:
    """Distinct variants, wall and CPU seconds for ``draws`` alphas (a fresh memo unless given one)."""
    base, rng, seen = load(SPEC), random.Random(seed), set()
    counter = counter or Counter()
    start, cpu = time.perf_counter(), time.process_time()
    with collector_paused():  # as archspec.sample() does: the memo's records hold no cycles
        for _ in range(draws):
            counted = counter.count(with_changes(base, [(ALPHA, rng.uniform(24, 300))]))
            counted.params, counted.macs
            seen.add(sha256_of(counted.spec, counted.plan)[0])
    return len(seen), time.perf_counter() - start, time.process_time() - cpu


def normal_round(draws: int, seed: int) -> tuple[int, float, float]:
    rng = random.Random(seed)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(draws):
        archspec.report(SPEC, overrides=[f"body.widening.alpha={rng.uniform(24, 300)!r}"])
    return draws, time.perf_counter() - start, time.process_time() - cpu


def counting(rounds: int) -> None:
    fast, normal, fast_cpu, normal_cpu, warm, warm_cpu = [], [], [], [], [], []
    for r in range(rounds):
        counter = Counter()
        distinct, seconds, cpu = fast_round(6000, r, counter)
        fast.append(distinct / seconds)
        fast_cpu.append(distinct / cpu)
        distinct, seconds, cpu = fast_round(6000, 1000 + r, counter)  # new alphas, the memo of the first 6,000
        warm.append(distinct / seconds)
        warm_cpu.append(distinct / cpu)
        n, seconds, cpu = normal_round(200, r)
        normal.append(n / seconds)
        normal_cpu.append(n / cpu)
    print("counting PyramidNet-110 variants in process (median of interleaved rounds; per wall / per CPU second):")
    for label, wall_rates, cpu_rates in (("fast path, first 6,000 draws (memo warming up)", fast, fast_cpu),
                                         ("fast path, next 6,000 draws (warm memo)", warm, warm_cpu),
                                         ("archspec.report(spec, overrides)", normal, normal_cpu)):
        print(f"  {label:<50} {statistics.median(wall_rates):7.0f} /s wall  {statistics.median(cpu_rates):7.0f} /s CPU")
    print(f"  ratio, first 6,000 (CPU)                           {statistics.median(fast_cpu) / statistics.median(normal_cpu):7.1f} x")


# space -> draws judged (PyramidNet's: all that `sample spaces/pyramidnet.yaml -n 10000` makes)
JUDGED_SPACES = {"pyramidnet.yaml": 96_795, "res2net.yaml": 3_000, "nas-bench-201.yaml": 3_000}


def judge_round(space_file: str, draws: int, reuse: bool) -> tuple[float, int]:
    """CPU seconds for judging the first ``draws`` draws of a space as ``sample`` does (a fresh Judge:
    warm-up included), and how many were in budget. ``reuse``: later draws of a structure judged
    by its first one's counts (False: every draw planned, as before)."""
    from archspec.plan import user_block
    from archspec.space import load_space
    from archspec.space.sample import Judge, draws as space_draws

    space = load_space(ROOT / "spaces" / space_file)
    user_block._PLANNED.clear()
    judge = Judge(space, reuse_counts=reuse)
    values = list(itertools.islice(space_draws(space, 0), draws))
    cpu = time.process_time()
    with collector_paused():
        verdicts = [judge(v) for v in values]
    return time.process_time() - cpu, sum(not isinstance(v, str) for v in verdicts)


def judging(rounds: int) -> None:
    print(f"judging a space's draws in process as `sample` does (CPU per draw, median of {rounds} interleaved rounds; "
          "first draws: warm-up included):")
    for space_file, draws in JUDGED_SPACES.items():
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for reuse in (True, False):
                seconds, accepted = judge_round(space_file, draws, reuse)
                cpu[reuse].append(seconds)
        by_structure, planned = (statistics.median(cpu[r]) / draws * 1e6 for r in (True, False))
        print(f"  {space_file:<20} {draws:>6,} draws ({accepted:,} in budget): {by_structure:6.0f} us by structure, "
              f"{planned:6.0f} us planning each, ratio {by_structure / planned:5.2f}")


def user_block_round(draws: int, seed: int) -> tuple[int, float, float]:
    """Distinct variants, wall and CPU seconds for ``draws`` draws of the Res2Net space (its YAML
    block's ``scale`` and ``base_width``, and the stage depths): everything planned afresh (a new
    Counter, and the user-block planner's own memo emptied), so the warm-up is included."""
    from archspec.plan import user_block
    from archspec.space import load_space
    from archspec.space.sample import draws as space_draws

    space = load_space(USER_BLOCK_SPACE)
    user_block._PLANNED.clear()
    counter, seen = Counter(), set()
    values = list(itertools.islice(space_draws(space, seed), draws))
    start, cpu = time.perf_counter(), time.process_time()
    with collector_paused():
        for drawn in values:
            try:
                counted = counter.count(with_changes(space.base, space.changes(drawn)))
            except Unresolved:
                continue
            counted.params, counted.macs
            seen.add(sha256_of(counted.spec, counted.plan)[0])
    return len(seen), time.perf_counter() - start, time.process_time() - cpu


def user_blocks(rounds: int) -> None:
    wall, cpu = [], []
    for r in range(rounds):
        distinct, seconds, used = user_block_round(3000, r)
        wall.append(distinct / seconds)
        cpu.append(distinct / used)
    rate = statistics.median(cpu)
    print(f"counting Res2Net variants (spaces/res2net.yaml: a YAML block's parameters varied) in process, "
          f"3,000 draws a round, median of {rounds}:")
    print(f"  distinct variants {statistics.median(wall):7.0f} /s wall  {rate:7.0f} /s CPU  "
          f"target (issue 22) >= {USER_BLOCK_TARGET:,} /s: {'met' if rate >= USER_BLOCK_TARGET else 'NOT met'} (CPU)")


def sample_cli(rounds: int, before: Path | None) -> None:
    """The 10,000-sample CLI run: default workers, one process, and (``before``) another checkout, interleaved."""
    import os
    import resource

    runs = {"default (one worker per core)": (ROOT, []), "--workers 1": (ROOT, ["--workers", "1"])}
    if before is not None:
        runs[f"before ({before})"] = (before, [])
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    times: dict[str, list[float]] = {label: [] for label in runs}
    cpus: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(rounds):
        for label, (checkout, extra) in runs.items():
            with tempfile.TemporaryDirectory() as out:
                used = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "archspec", "sample", "spaces/pyramidnet.yaml", "-n", "10000", "-o",
                                out, *extra], check=True, cwd=checkout, stdout=subprocess.DEVNULL,
                               env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"})
                times[label].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus[label].append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"archspec sample spaces/pyramidnet.yaml -n 10000 (median of {rounds} interleaved rounds; load average "
          f"{load_before:.1f} before, {load:.1f} after; CPU: user + sys of all its processes):")
    first, first_cpu = (statistics.median(next(iter(t.values()))) for t in (times, cpus))
    for label in runs:
        wall, cpu = statistics.median(times[label]), statistics.median(cpus[label])
        print(f"  {label:<40} {wall:6.2f} s wall  {cpu:6.2f} s CPU  {wall / first:5.2f}x the first's wall, "
              f"{cpu / first_cpu:5.2f}x its CPU")
    print(f"  target (issue 25): default workers under {SAMPLE_TARGET:.0f} s wall on a quiet machine: "
          f"{'met' if first < SAMPLE_TARGET else 'NOT met'} here (load average {load:.1f} on "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores)")


def fits() -> None:
    worst = (0.0, "")
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = load(path)
        field = next(f for f in FIELDS if NOT_MONOTONE.get(spec.name) != f
                     and isinstance(value_at(spec, override_path(f)), (int, float)))
        start_value = value_at(spec, override_path(field))
        target = archspec.plan(spec).params * 5 // 4  # a quarter more parameters than the spec has
        start = time.perf_counter()
        result = fit(spec, field, params=target)
        seconds = time.perf_counter() - start
        print(f"  fit {path.stem:<22} {field:<20} {start_value!s:>6} -> {result.value!s:<8} "
              f"{seconds * 1e3:7.1f} ms, {result.evaluations} evaluations")
        worst = max(worst, (seconds, path.stem))
    print(f"  slowest fit in process: {worst[0] * 1e3:.0f} ms ({worst[1]})")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "archspec", "fit", "specs/pyramidnet-272-a200.yaml", "--vary",
                    "body.widening.alpha", "--params", "1.7M"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    print(f"  archspec fit specs/pyramidnet-272-a200.yaml --vary body.widening.alpha --params 1.7M: "
          f"{time.perf_counter() - start:.2f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-cli", action="store_true", help="Skip the 10,000-sample CLI runs.")
    parser.add_argument("--before", type=Path, help="Another checkout (e.g. `git archive` of an older commit) whose "
                                                    "10,000-sample CLI run is interleaved with this one's.")
    parser.add_argument("--skip-counting", action="store_true", help="Skip the in-process counting rounds.")
    args = parser.parse_args()
    if not args.skip_counting:
        counting(args.rounds)
        user_blocks(args.rounds)
        judging(max(1, args.rounds // 2))
    if not args.skip_cli:
        sample_cli(max(1, args.rounds // 2), args.before)
    print("fit, in process:")
    fits()


if __name__ == "__main__":
    main()
