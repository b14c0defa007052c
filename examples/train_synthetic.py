"""A stand-in training command for `archspec sweep`: a few dozen SGD steps on synthetic data.

    archspec sweep DIR --run 'python examples/train_synthetic.py --spec {spec} --out {out}'

The data are 512 fixed random images (seed 0) labelled by a fixed random teacher (a linear
map of the 4x4-pooled image), so every network sees the same learnable task. The metric
written to {out}/metrics.json is ``train_loss_synthetic``: the mean cross-entropy of the
last 20 training steps (of 100 at batch 16, on 16x16 images, by default). It is a real measurement of how fast each variant fits this toy
task, not an accuracy on any real data set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import archspec


def synthetic(channels: int, size: int, classes: int, n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, channels, size, size, generator=g)
    teacher = torch.randn(channels * 16, classes, generator=g)
    labels = (F.adaptive_avg_pool2d(images, 4).flatten(1) @ teacher).argmax(1)
    return images, labels


def train(spec: str | Path, steps: int = 100, batch: int = 16, lr: float = 0.05, seed: int = 0, size: int = 16) -> dict:
    """Train ``spec`` from scratch on the synthetic task; its metrics. One thread, seeded: the same
    machine and versions give the same figures, bit for bit. ``seed`` changes the initial weights
    and the batch order, not the data (the noise scripts/gen_design_spaces_table.py states).
    The images are ``size`` x ``size`` (16: a quarter of CIFAR's pixels, so four times faster)."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    spec = archspec.load(spec, [f"input.size={size}"])
    plan = archspec.plan(spec)
    model = archspec.build(spec).train()
    images, labels = synthetic(plan.in_channels, plan.input_size[0], plan.classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    losses, start = [], time.perf_counter()
    for step in range(steps):
        order = torch.Generator().manual_seed(seed * 1_000_003 + step)
        index = torch.randint(0, len(images), (batch,), generator=order)
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tail = losses[-20:]
    return {"train_loss_synthetic": sum(tail) / len(tail), "first_loss": losses[0], "steps": steps,
            "batch": batch, "seed": seed, "size": size, "seconds": round(time.perf_counter() - start, 2), "params": plan.params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=16, help="image size the network is trained at")
    args = parser.parse_args()
    metrics = train(args.spec, args.steps, args.batch, args.lr, args.seed, args.size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
