"""How much faster is the analytic report than building the model and counting with PyTorch?

    PYTHONPATH=$PWD python benchmarks/bench_report.py [SPEC] [--repeat N]

Prints, for SPEC (default specs/pyramidnet-272-a200.yaml):
- wall time of the CLI ``archspec report SPEC`` (interpreter start included), next to a
  bare ``python -c pass``, ``python -c "import pydantic"`` (the floor any Pydantic CLI
  starts from) and ``archspec validate SPEC``;
- wall time of a fresh interpreter that builds the module (CPU, He init) and counts it
  with ``FlopCounterMode`` on a real input, and of the same on the ``meta`` device;
- in-process times of the same steps (no interpreter start, imports already done):
  ``archspec.report()`` (the data, as the JSON output), and that plus the terminal table;
- the ratios. Best and median of N runs each; the machine's load goes into every figure.

The package is byte-compiled first, as ``pip install`` does: an editable checkout under
``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile every module on every start.
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
    args = parser.parse_args()
    py, spec, slow = sys.executable, args.spec, max(2, args.repeat // 2)
    cli = str(Path(py).with_name("archspec"))
    cli = [cli] if Path(cli).exists() else [py, "-m", "archspec"]
    subprocess.run([py, "-m", "compileall", "-q", str(ROOT / "archspec")], check=True)

    print(f"{spec}, Python {sys.version.split()[0]}, {args.repeat} runs (slow paths {slow}); ratios of medians")
    print("fresh interpreter (wall, interpreter start included):")
    show("python -c pass", wall([py, "-c", "pass"], args.repeat))
    floor = show("python -c 'import pydantic'", wall([py, "-c", "import pydantic"], args.repeat))
    show("archspec validate SPEC", wall([*cli, "validate", spec], args.repeat))
    report = show("archspec report SPEC", wall([*cli, "report", spec], args.repeat))
    show("archspec report --format json SPEC", wall([*cli, "report", "--format", "json", spec], args.repeat))
    cpu = show("python: build on CPU + FlopCounterMode", wall([py, "-c", MEASURE, spec, "cpu"], slow))
    meta = show("python: build on meta + FlopCounterMode", wall([py, "-c", MEASURE, spec, "meta"], slow))
    print(f"  -> report CLI is {cpu / report:.0f}x faster than build+count on CPU, {meta / report:.0f}x than on meta;"
          f" CLI target < 300 ms: {'met' if report < 0.3 else 'NOT met'}")
    print(f"     (a CLI that only imported pydantic would be {cpu / floor:.0f}x: the fresh-interpreter ratio's ceiling)")

    print("in process (imports done):")
    data, table, cpu_in, meta_in = in_process(spec, slow)
    print(f"  -> archspec.report() is {cpu_in / data:.0f}x faster than build+count on CPU, {meta_in / data:.0f}x than "
          f"on meta; with the table drawn {cpu_in / table:.0f}x and {meta_in / table:.0f}x")


if __name__ == "__main__":
    main()
