"""How much faster is the analytic report than building the model and counting with PyTorch?

    PYTHONPATH=$PWD python benchmarks/bench_report.py [SPEC] [--repeat N]

Prints, for SPEC (default specs/pyramidnet-272-a200.yaml):
- wall time of the CLI ``python -m archspec report SPEC`` (interpreter start included),
  next to a bare ``python -c pass`` and to ``python -m archspec validate SPEC``;
- wall time of a fresh interpreter that builds the module (CPU, He init) and counts it
  with ``FlopCounterMode`` on a real input, and of the same on the ``meta`` device;
- in-process times of the same steps (no interpreter start, imports already done);
- the ratios. Best of N runs each; the machine's load goes into every figure.
"""

from __future__ import annotations

import argparse
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


def wall(argv: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def show(label: str, times: list[float]) -> float:
    best = min(times)
    print(f"  {label:<58} best {best * 1e3:9.1f} ms   median {statistics.median(times) * 1e3:9.1f} ms")
    return best


def in_process(spec: str, repeat: int) -> tuple[float, float, float]:
    import io

    import torch
    from rich.console import Console
    from torch.utils.flop_counter import FlopCounterMode

    import archspec
    from archspec.blocks.network import Network
    from archspec.complexity import make_report, unit_table
    from archspec.complexity.render import print_rich

    def report() -> None:
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
    return (show("report: plan + tabulate + rich table", timed(report, max(repeat, 20))),
            show("build on CPU (He init) + FlopCounterMode forward", timed(measure("cpu"), repeat)),
            show("build on meta + FlopCounterMode forward", timed(measure("meta"), repeat)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default="specs/pyramidnet-272-a200.yaml")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (the slow paths: max(2, N // 2))")
    args = parser.parse_args()
    py, spec, slow = sys.executable, args.spec, max(2, args.repeat // 2)

    print(f"{spec}, Python {sys.version.split()[0]}, {args.repeat} runs (slow paths {slow})")
    print("fresh interpreter (wall, interpreter start included):")
    show("python -c pass", wall([py, "-c", "pass"], args.repeat))
    show("python -m archspec validate SPEC", wall([py, "-m", "archspec", "validate", spec], args.repeat))
    cli = show("python -m archspec report SPEC", wall([py, "-m", "archspec", "report", spec], args.repeat))
    cpu = show("python: build on CPU + FlopCounterMode", wall([py, "-c", MEASURE, spec, "cpu"], slow))
    meta = show("python: build on meta + FlopCounterMode", wall([py, "-c", MEASURE, spec, "meta"], slow))
    print(f"  -> report CLI is {cpu / cli:.0f}x faster than build+count on CPU, {meta / cli:.0f}x than on meta"
          f" (target >= 50x; CLI target < 300 ms: {'met' if cli < 0.3 else 'NOT met'})")

    print("in process (imports done):")
    report, cpu_in, meta_in = in_process(spec, slow)
    print(f"  -> report is {cpu_in / report:.0f}x faster than build+count on CPU, {meta_in / report:.0f}x than on meta")


if __name__ == "__main__":
    main()
