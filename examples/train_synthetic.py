"""A stand-in training command for `archspec sweep`: a few hundred SGD steps on synthetic data.

    archspec sweep DIR --run 'python examples/train_synthetic.py --spec {spec} --out {out}'

The data are 512 fixed random images (seed 0) labelled by a fixed random teacher (a linear
map of the 4x4-pooled image), so every network sees the same learnable task. The metric
written to {out}/metrics.json is ``train_loss_synthetic``: the mean cross-entropy of the
last 20 training steps. It is a real measurement of how fast each variant fits this toy
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    plan = archspec.plan(args.spec)
    model = archspec.build(args.spec).train()
    images, labels = synthetic(plan.in_channels, plan.input_size[0], plan.classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    losses, start = [], time.perf_counter()
    for step in range(args.steps):
        index = torch.randint(0, len(images), (args.batch,), generator=torch.Generator().manual_seed(step))
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tail = losses[-20:]
    metrics = {"train_loss_synthetic": sum(tail) / len(tail), "first_loss": losses[0], "steps": args.steps,
               "batch": args.batch, "seconds": round(time.perf_counter() - start, 2), "params": plan.params}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
