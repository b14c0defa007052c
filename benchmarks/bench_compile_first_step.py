"""How long is the first ``torch.compile``d CPU training step of a network whose units all differ?

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_compile_first_step.py

PyramidNet-20 (9 units, every one of its own width) against ResNet-20 (9 units, three
shapes), both at 16x16, batch 8, one thread: the first three training steps eager, under
``torch.compile`` and under ``torch.compile(dynamic=True)``. Each runs in its own process,
so that no compiled code is reused between them (Inductor's on-disk cache is switched off).
docs/getting-started.md ("Performance") quotes the figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

NETWORKS = {"pyramidnet-20": ("pyramidnet", ["body.depth=20", "input.size=16", "name=p20"]),
            "resnet-20": ("resnet-20", ["input.size=16", "name=r20"])}
MODES = ("eager", "compile", "dynamic")


def steps(network: str, mode: str) -> list[float]:
    """Seconds of each of the first three training steps."""
    import torch
    import torch.nn.functional as F

    import archspec

    torch.set_num_threads(1)
    spec, overrides = NETWORKS[network]
    model = archspec.build(spec, overrides=overrides).train()
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = model if mode == "eager" else torch.compile(model, dynamic=mode == "dynamic")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        loss = F.cross_entropy(run(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    if len(sys.argv) == 3:  # one measurement, in a fresh process
        print(" ".join(f"{t:.2f}" for t in steps(sys.argv[1], sys.argv[2])))
        return
    env = {**os.environ, "TORCHINDUCTOR_FX_GRAPH_CACHE": "0", "TORCHINDUCTOR_AUTOGRAD_CACHE": "0"}
    for network in NETWORKS:
        for mode in MODES:
            done = subprocess.run([sys.executable, __file__, network, mode], env=env, capture_output=True, text=True,
                                  check=True)
            print(f"{network:14} {mode:8} first three steps (s): {done.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
