"""CUDA check and inference throughput of every bundled spec, against torchvision where it has the model.

Run on a machine with a GPU:  python benchmarks/gpu.py [--specs specs/*.yaml] [--iters 20]
For each spec it prints: the largest CUDA-vs-CPU difference (fp32, TF32 off) relative to the
output scale, whether FlopCounterMode on CUDA equals 2x the Plan's MACs, and images/s in fp32
and in bf16 autocast (channels_last), next to torchvision's own model (the builder the spec's
`reference.torchvision` names), measured in alternation and reported as the median of several rounds.
Without CUDA it runs the same code on the CPU with one timed iteration (a smoke test).
"""

from __future__ import annotations

import argparse
import glob
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import archspec

def images_per_second(model: torch.nn.Module, x: torch.Tensor, iters: int, bf16: bool) -> float:
    device = x.device.type
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(3):
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()
    return iters * x.shape[0] / (time.perf_counter() - start)


def prepare(model: torch.nn.Module, shape: tuple[int, ...], device: str, channels_last: bool):
    model = model.to(device).eval()
    x = torch.randn(*shape, device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    return model, x


def compare(models: dict[str, torch.nn.Module], shape: tuple[int, ...], device: str, iters: int,
            rounds: int) -> dict[str, tuple[float, float]]:
    """Median images/s per model in fp32 and bf16 autocast (channels_last), the models measured
    in alternation over several rounds so clock ramps and neighbours affect all alike."""
    results: dict[str, tuple[float, float]] = {}
    for bf16 in (False, True):
        runs: dict[str, list[float]] = {name: [] for name in models}
        prepared = {name: prepare(m, shape, device, channels_last=bf16) for name, m in models.items()}
        for _ in range(rounds):
            for name, (model, x) in prepared.items():
                runs[name].append(images_per_second(model, x, iters, bf16))
        for name in models:
            results[name] = results.get(name, ()) + (statistics.median(runs[name]),)  # type: ignore[assignment]
    return results


def torchvision_model(path: str, plan) -> torch.nn.Module | None:
    """torchvision's model of the builder the spec's ``reference.torchvision`` names, if any."""
    reference = archspec.load(path).reference
    tv_name = reference.torchvision if reference else None
    if tv_name is None:
        return None
    import torchvision

    kwargs = {"aux_logits": False, "init_weights": False} if tv_name == "googlenet" else {}
    return getattr(torchvision.models, tv_name)(weights=None, num_classes=plan.classes, **kwargs)


def check(path: str, device: str, iters: int, rounds: int) -> None:
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    plan = archspec.plan(path)
    torch.manual_seed(0)
    model = archspec.build(path).eval()
    x = torch.randn(4, plan.in_channels, *plan.input_size)
    with torch.no_grad():
        expected = model(x)
        got = model.to(device)(x.to(device)).cpu()
        traced = torch.fx.symbolic_trace(model)(x.to(device)).cpu()
    rel = float((got - expected).abs().max() / expected.abs().max())
    rel_fx = float((traced - got).abs().max() / expected.abs().max())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x[:1].to(device))
    # FlopCounterMode cannot see deformable sampling; the Plan records that part (docs/families.md).
    unmeasured = sum(getattr(op, "unmeasured_macs", 0) for unit in plan.units for op in unit.ops)
    macs_ok = counter.get_total_flops() == 2 * (plan.macs - unmeasured)

    batch = 256 if max(plan.input_size) <= 64 else 64
    shape = (batch, plan.in_channels, *plan.input_size)
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    models = {"ours": model}
    reference = torchvision_model(path, plan)
    if reference is not None:
        models["torchvision"] = reference
    speed = compare(models, shape, device, iters, rounds)
    ours = speed["ours"]
    line = (f"{plan.name:22s} rel.diff {rel:8.1e} fx {rel_fx:8.1e} MACs {'==' if macs_ok else '!='} "
            f"| b{batch:<3d} fp32 {ours[0]:9.0f} img/s  bf16 {ours[1]:9.0f} img/s")
    if reference is not None:
        tv = speed["torchvision"]
        line += f" | torchvision fp32 {tv[0]:9.0f}  bf16 {tv[1]:9.0f}  (ours/tv {ours[0] / tv[0]:.2f}, {ours[1] / tv[1]:.2f})"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", default=sorted(glob.glob("specs/*.yaml")))
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is printed")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    iters, rounds = (args.iters, args.rounds) if device == "cuda" else (1, 1)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}; median of {rounds} rounds of {iters} timed iterations")
    for path in args.specs:
        try:
            check(path, device, iters, rounds)
        except Exception as exc:  # report and go on: one bad spec must not hide the others
            print(f"{path}: FAILED {type(exc).__name__}: {exc}", flush=True)


if __name__ == "__main__":
    main()
