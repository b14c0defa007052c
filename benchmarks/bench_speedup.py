"""CUDA graphs and torch.compile against eager, training on a GPU (issue 14's 2x target),
and the analytic training memory against ``torch.cuda.max_memory_allocated``.

    python benchmarks/bench_speedup.py [SPEC] [--batch 256] [--rounds 10]

Measures SPEC (default specs/pyramidnet.yaml) in train mode, fp32, with eager, eager +
CUDA graphs, compile, and compile with mode reduce-overhead, each through
``archspec.api.bench`` (medians of interleaved rounds), and prints images per second and
the ratio to eager. Then one eager SGD step's peak allocated memory beside the analytic
``train_step_bytes`` (weights, grads, momentum, saved activations; target: within 10 %).
Without CUDA it says so and exits 2: the figures need a GPU.
"""

from __future__ import annotations

import argparse
import sys

import torch

from archspec.api import bench, plan
from archspec.blocks.network import Network
from archspec.complexity.memory import memory

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
    measured, analytic = peak_of_one_step(args.spec, args.batch)
    print(f"one SGD step: max_memory_allocated {measured / 2**20:,.1f} MiB, analytic train_step_bytes "
          f"{analytic / 2**20:,.1f} MiB, ratio {measured / analytic:.3f}")
    return 0


def peak_of_one_step(spec: str, batch: int) -> tuple[int, int]:
    """Peak bytes allocated by one eager fp32 SGD step (after a warm-up step made grads and momentum)."""
    resolved = plan(spec)
    model = Network(resolved).cuda().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, resolved.in_channels, *resolved.input_size, device="cuda")

    def step() -> None:
        model(x).float().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(), memory(resolved, batch, "fp32", "cuda").train_step_bytes


if __name__ == "__main__":
    raise SystemExit(main())
