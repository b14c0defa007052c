"""How long does ``archspec.build`` take next to torchvision building a model of similar size?

    PYTHONPATH=$PWD python benchmarks/bench_build.py [--rounds N]

In one process, interleaved round by round (so the machine's drifting load falls on both):
- ``archspec.build("specs/pyramidnet-272-a200.yaml", ["body.depth=1001"])``: 333 bottleneck
  units, 96.1 M parameters: load, validate, plan, make the layers without torch's default
  init, initialise each tensor once;
- ``torchvision.models.resnet152()``: 50 bottleneck units, 60.2 M parameters, torch's
  default init in every layer constructor, then torchvision's Kaiming loop.
Prints both medians, the ratio of the medians (target: at most 1.25), and, for archspec,
where its time goes (plan, layers, init; medians of separate runs).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

import archspec
from archspec.blocks.init import initialise
from archspec.blocks.network import Network

SPEC, OVERRIDES = "specs/pyramidnet-272-a200.yaml", ["body.depth=1001"]


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def breakdown() -> dict[str, float]:
    """One build taken apart: the steps ``archspec.build`` runs, timed one by one."""
    times = {}
    start = time.perf_counter()
    plan = archspec.plan(SPEC, overrides=OVERRIDES)
    times["load + plan"] = time.perf_counter() - start
    start = time.perf_counter()
    model = Network(plan, initialised=False)
    times["layers"] = time.perf_counter() - start
    start = time.perf_counter()
    initialise(model, plan.init, 0)
    times["init"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    archspec.build(SPEC, OVERRIDES)  # warm: imports, first allocations
    torchvision.models.resnet152()
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(seconds(lambda: archspec.build(SPEC, OVERRIDES)))
        theirs.append(seconds(torchvision.models.resnet152))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} interleaved rounds")
    print(f"archspec.build pyramidnet-272-a200 depth=1001: median {a:.3f} s (best {min(ours):.3f} s)")
    print(f"torchvision.models.resnet152():            median {b:.3f} s (best {min(theirs):.3f} s)")
    print(f"ratio of medians: {a / b:.2f}x (target <= 1.25x)")
    parts = [breakdown() for _ in range(3)]
    for key in parts[0]:
        print(f"  {key:<14} {statistics.median(p[key] for p in parts):.3f} s")


if __name__ == "__main__":
    main()
