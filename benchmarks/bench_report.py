"""How much faster is the analytic report than building the model and counting with PyTorch,
and do the light commands start within their targets?

    PYTHONPATH=$PWD python benchmarks/bench_report.py [SPEC] [--repeat N] [--before DIR] [--startup-only]

Prints, for SPEC (default specs/pyramidnet-272-a200.yaml):
- start-up: the wall time of fresh interpreters running ``archspec validate SPEC``,
  ``archspec report SPEC`` (table and ``--format json``) and ``import archspec.cli``, next to
  ``python -c pass`` and ``python -c "import pydantic"`` (the floor any Pydantic CLI starts
  from, and the baseline every figure is divided by). The commands run in interleaved rounds
  (each once per round, in turn), so that a change in the machine's load hits them alike;
  medians are reported, with the load average before and after. Each figure is printed
  against its target (issue 25: validate and ``report -f json`` under 0.3 s on a quiet
  machine; issue 22: the same for RES2NET, specs/res2net50-26w-4s.yaml, whose block is a YAML
  block file), and ``--before DIR`` (another checkout, e.g. ``git archive`` of an older
  commit) runs its commands in the same rounds, with the ratio now/before;
- wall time of a fresh interpreter that builds the module (CPU, He init) and counts it
  with ``FlopCounterMode`` on a real input, and of the same on the ``meta`` device;
- in-process times of the same steps (no interpreter start, imports already done):
  ``archspec.report()`` (the data, as the JSON output), and that plus the terminal table;
- the ratios. Best and median of N runs each.

The package is byte-compiled first, as ``pip install`` does: an editable checkout under
``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile every module on every start.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent

MEASURE = """
import sys, torch
from torch.utils.flop_counter import FlopCounterMode
import archspec
from archspec.blocks.network import Network
plan = archspec.plan(sys.argv[1])
device = sys.argv[2]
with torch.device(device):
    model = Network(plan).eval()
    x = torch.randn(1, plan.in_channels, *plan.input_size)
counter = FlopCounterMode(display=False)
with counter, torch.no_grad():
    model(x)
assert counter.get_total_flops() == 2 * plan.macs
assert sum(p.numel() for p in model.parameters()) == plan.params
"""


def wall(argv: list[str], repeat: int, cwd: Path = ROOT) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, cwd=cwd, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def interleaved(commands: dict[str, tuple[list[str], Path]], rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU (user + sys) times of fresh processes, each command once per round, in turn
    (``PYTHONPATH`` set to its checkout). CPU time moves less than wall time when other
    processes share the cores, so both are kept."""
    times: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in commands}
    for _ in range(rounds):
        for label, (argv, checkout) in commands.items():
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(argv, check=True, cwd=checkout, stdout=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(checkout)})
            times[label][0].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[label][1].append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
    return times


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "unknown"


USER_BLOCK_SPEC = "specs/res2net50-26w-4s.yaml"  # its block is a YAML block file (blocks/res2net.yaml)
TARGETS = {"archspec validate SPEC": 0.3, "archspec report --format json SPEC": 0.3,  # seconds, issue 25
           "archspec validate RES2NET": 0.3, "archspec report --format json RES2NET": 0.3}  # issue 22


def startup(spec: str, rounds: int, before: Path | None) -> float:
    """The light commands from a fresh interpreter, interleaved, against their targets; returns the report's median."""
    py = sys.executable
    archspec = [py, "-m", "archspec"]
    base = {"python -c pass": ([py, "-c", "pass"], ROOT),
            "python -c 'import pydantic'": ([py, "-c", "import pydantic"], ROOT)}
    ours = {"archspec validate SPEC": [*archspec, "validate", spec],
            "archspec report SPEC": [*archspec, "report", spec],
            "archspec report --format json SPEC": [*archspec, "report", "--format", "json", spec],
            "archspec validate RES2NET": [*archspec, "validate", USER_BLOCK_SPEC],
            "archspec report --format json RES2NET": [*archspec, "report", "--format", "json", USER_BLOCK_SPEC],
            # what the CLI loads before it parses its arguments (and freezes, as its main() does)
            "import archspec.cli": [py, "-c", "from archspec.cli import freeze_imported; freeze_imported()"]}
    commands = dict(base)
    for label, argv in ours.items():
        commands[label] = (argv, ROOT)
        if before is not None:
            commands[f"{label} (before)"] = (argv, before)
    load_before = load_average()
    times = interleaved(commands, rounds)
    floor = statistics.median(times["python -c 'import pydantic'"][0])
    cpu_floor = statistics.median(times["python -c 'import pydantic'"][1])
    print(f"fresh interpreter ({rounds} interleaved rounds, interpreter start included; load average {load_before} "
          f"before, {load_average()} after; medians, and in brackets / import pydantic's):")
    for label, (runs, cpus) in times.items():
        median, cpu = statistics.median(runs), statistics.median(cpus)
        line = (f"  {label:<46} wall {median * 1e3:6.0f} ms ({median / floor:4.2f}x)  "
                f"CPU {cpu * 1e3:6.0f} ms ({cpu / cpu_floor:4.2f}x)")
        target = TARGETS.get(label)
        if target is not None:
            line += f"  target < {target * 1e3:.0f} ms: {'met' if median < target else 'NOT met'}"
        if label.endswith(" (before)"):
            now = times[label[:-len(" (before)")]]
            line += (f"  now/before: wall {statistics.median(now[0]) / median:4.2f}, "
                     f"CPU {statistics.median(now[1]) / cpu:4.2f}")
        print(line)
    return statistics.median(times["archspec report SPEC"][0])


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def show(label: str, times: list[float]) -> float:
    """Print best and median; return the median, the figure ratios are taken of."""
    median = statistics.median(times)
    print(f"  {label:<58} best {min(times) * 1e3:9.1f} ms   median {median * 1e3:9.1f} ms")
    return median


def in_process(spec: str, repeat: int) -> tuple[float, float, float, float]:
    import io

    import torch
    from rich.console import Console
    from torch.utils.flop_counter import FlopCounterMode

    import archspec
    from archspec.blocks.network import Network
    from archspec.complexity import make_report, unit_table
    from archspec.complexity.render import print_rich

    def table() -> None:
        print_rich(unit_table(make_report(archspec.plan(spec))), Console(file=io.StringIO(), width=200))

    def measure(device: str) -> Callable[[], None]:
        def run() -> None:
            plan = archspec.plan(spec)
            with torch.device(device):
                model = Network(plan).eval()
                x = torch.randn(1, plan.in_channels, *plan.input_size)
            with FlopCounterMode(display=False), torch.no_grad():
                model(x)

        return run

    measure("meta")()  # first use of meta init imports torch._dynamo: not part of the steady state
    return (show("archspec.report(SPEC): load, plan, count, JSON data", timed(lambda: archspec.report(spec),
                                                                              max(repeat, 20))),
            show("the same drawn as the terminal table", timed(table, max(repeat, 20))),
            show("build on CPU (He init) + FlopCounterMode forward", timed(measure("cpu"), repeat)),
            show("build on meta + FlopCounterMode forward", timed(measure("meta"), repeat)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default="specs/pyramidnet-272-a200.yaml")
    parser.add_argument("--repeat", type=int, default=10, help="runs per figure (the slow paths: max(2, N // 2))")
    parser.add_argument("--before", type=Path, help="another checkout whose start-up figures run in the same rounds")
    parser.add_argument("--startup-only", action="store_true", help="only the fresh-interpreter start-up figures")
    args = parser.parse_args()
    py, spec, slow = sys.executable, args.spec, max(2, args.repeat // 2)
    for checkout in (ROOT, args.before):
        if checkout is not None:
            subprocess.run([py, "-m", "compileall", "-q", str(checkout / "archspec")], check=True)

    print(f"{spec}, Python {sys.version.split()[0]}, {args.repeat} runs (slow paths {slow}); ratios of medians")
    report = startup(spec, args.repeat, args.before)
    if args.startup_only:
        return
    floor = statistics.median(wall([py, "-c", "import pydantic"], args.repeat))
    cpu = show("python: build on CPU + FlopCounterMode", wall([py, "-c", MEASURE, spec, "cpu"], slow))
    meta = show("python: build on meta + FlopCounterMode", wall([py, "-c", MEASURE, spec, "meta"], slow))
    print(f"  -> report CLI is {cpu / report:.0f}x faster than build+count on CPU, {meta / report:.0f}x than on meta")
    print(f"     (a CLI that only imported pydantic would be {cpu / floor:.0f}x: the fresh-interpreter ratio's ceiling)")

    print("in process (imports done):")
    data, table, cpu_in, meta_in = in_process(spec, slow)
    print(f"  -> archspec.report() is {cpu_in / data:.0f}x faster than build+count on CPU, {meta_in / data:.0f}x than "
          f"on meta; with the table drawn {cpu_in / table:.0f}x and {meta_in / table:.0f}x")


if __name__ == "__main__":
    main()
