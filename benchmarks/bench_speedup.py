"""CUDA graphs and torch.compile against eager, training on a GPU (issue 14's 2x target).

    python benchmarks/bench_speedup.py [SPEC] [--batch 256] [--rounds 10]

Measures SPEC (default specs/pyramidnet.yaml) in train mode, fp32, with eager, eager +
CUDA graphs, compile, and compile with mode reduce-overhead, each through
``archspec.api.bench`` (medians of interleaved rounds), and prints images per second and
the ratio to eager. Without CUDA it says so and exits 2: the figures need a GPU.
"""

from __future__ import annotations

import argparse
import sys

import torch

from archspec.api import bench

VARIANTS = {
    "eager": {"runtime": "eager"},
    "eager + CUDA graphs": {"runtime": "eager", "cuda_graphs": True},
    "compile": {"runtime": "compile"},
    "compile reduce-overhead": {"runtime": "compile", "cuda_graphs": True},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="specs/pyramidnet.yaml")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--dtype", default="fp32")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_speedup: no CUDA device here; these figures need a GPU", file=sys.stderr)
        return 2
    print(f"{args.spec}, train, batch {args.batch}, {args.dtype}, {torch.cuda.get_device_name(0)}")
    eager = None
    for name, options in VARIANTS.items():
        run = bench([args.spec], units=False, device="cuda", batch=args.batch, dtype=args.dtype, mode="train",
                    rounds=args.rounds, iters=args.iters, warmup=2, **options)
        rate = args.batch / run.results[0].seconds
        eager = eager or rate
        print(f"{name:26s} {rate:12,.0f} img/s  {rate / eager:5.2f}x eager")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
