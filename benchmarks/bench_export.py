"""How fast is ONNX from the step graphs, next to torch.onnx, and what does the main command cost?

    PYTHONPATH=$PWD python benchmarks/bench_export.py [--rounds N] [--torch-rounds N]

Prints, each against its target (issue 25):
- in process, PyramidNet-110 (specs/pyramidnet.yaml, 1.8 M parameters): archspec's writer emitting
  the model (target: at most 0.1 s), and emitting plus writing the file; ``torch.onnx.export(dynamo=True)``
  of the same module (its default optimiser on); the ratio of the medians (target: at least 20);
- the main command, ``archspec build specs/pyramidnet.yaml --export onnx`` (plan, build, verify torch,
  write, verify in onnxruntime), against ``python -c "import torch, onnx, onnxruntime"``, each in a
  fresh process, interleaved round by round so the machine's drifting load falls on both; the ratio
  of the medians (target: at most 1.6);
- with ``--every-spec``, each bundled spec's emission at its own input size (target: at most 1 s each),
  in wall and CPU time, the module built without its init (emission reads the tensors whatever they hold);
  ``--serialise`` adds one write of each file as ``archspec build`` writes it (one file under 2 GiB,
  external data above), which is when the weights are copied and the BN folds computed;
  ``--specs A B`` measures only those;
- with ``--against TREE`` (and ``--specs``), the same for each spec in a fresh process per tree, this
  tree's and ``TREE``'s (e.g. /work/main), alternating round by round, and the ratios of the medians.
Emission is ``emit_model`` (the ``onnx_ir`` model over the module's arrays; a tree without it: ``emit``,
the ModelProto). Imports are warmed before the in-process timings: they measure emission, not ``import onnx``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import archspec
from archspec.blocks.network import Network
from archspec.export import onnx_writer

# Emission as the tree on the path defines it: the onnx_ir model, or (before it) the ModelProto.
emit = getattr(onnx_writer, "emit_model", onnx_writer.emit)

ROOT = Path(__file__).resolve().parents[1]
SPEC = "specs/pyramidnet.yaml"
EMIT_TARGET, SPEEDUP_TARGET, COMMAND_TARGET = 0.1, 20.0, 1.6


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_seconds(fn) -> float:
    """This process's CPU time: on a shared, loaded machine, what the work itself costs."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def torch_export(model: torch.nn.Module, x: torch.Tensor) -> None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), dynamo=True, opset_version=18, verbose=False)


def run(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the main command and of emission")
    parser.add_argument("--torch-rounds", type=int, default=3, help="torch.onnx exports (seconds each)")
    parser.add_argument("--every-spec", action="store_true", help="only: emission of every bundled spec")
    parser.add_argument("--specs", nargs="+", help="with --every-spec or --against: only these specs")
    parser.add_argument("--serialise", action="store_true", help="with --every-spec: also write each file once")
    parser.add_argument("--against", metavar="TREE", help="another checkout: its emission against this tree's")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one spec's figures (--against)
    args = parser.parse_args()
    for name in ("torch.onnx", "torch.export", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.json:
        return print(json.dumps(measure(args.specs[0], args.rounds, args.serialise)))
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    if args.against:
        return against(Path(args.against), args.specs or archspec.list_specs(), args.rounds)
    if args.every_spec:
        return every_spec(args.rounds, args.specs, args.serialise)

    model = Network(archspec.plan(ROOT / SPEC)).eval()
    x = torch.randn(2, 3, 32, 32)
    emit(model)  # warm: imports onnx
    emits = [seconds(lambda: emit(model)) for _ in range(args.rounds)]
    with tempfile.TemporaryDirectory(prefix="bench-export-") as out:  # emitted and written, as the build does
        file = Path(out) / "pyramidnet.onnx"
        writes = [seconds(lambda: onnx_writer.save(emit(model), file, False)) for _ in range(args.rounds)]
    emit_cpu = statistics.median(cpu_seconds(lambda: emit(model)) for _ in range(args.rounds))
    torch_export(model, x)  # warm
    theirs, theirs_cpu = [], []
    for _ in range(args.torch_rounds):
        cpu = time.process_time()
        theirs.append(seconds(lambda: torch_export(model, x)))
        theirs_cpu.append(time.process_time() - cpu)
    ours_s, write_s, theirs_s = map(statistics.median, (emits, writes, theirs))
    print(f"PyramidNet-110 emission (archspec's writer, in process): median {ours_s:.4f} s "
          f"(target <= {EMIT_TARGET} s: {verdict(ours_s <= EMIT_TARGET)}); CPU time {emit_cpu:.4f} s; "
          f"emitted and written to a file {write_s:.4f} s")
    theirs_c = statistics.median(theirs_cpu)
    print(f"torch.onnx.export(dynamo=True), same module: median {theirs_s:.2f} s, CPU time {theirs_c:.2f} s; "
          f"ratio {theirs_s / ours_s:.0f}x (target >= {SPEEDUP_TARGET:.0f}x: {verdict(theirs_s / ours_s >= SPEEDUP_TARGET)}), "
          f"of CPU times {theirs_c / emit_cpu:.0f}x")

    with tempfile.TemporaryDirectory() as out:
        build = [sys.executable, "-m", "archspec", "build", SPEC, "--export", "onnx", "-o", out, "-q"]
        imports = [sys.executable, "-c", "import torch, onnx, onnxruntime"]
        run(build), run(imports)  # warm the file cache
        command, baseline = [], []
        for _ in range(args.rounds):
            command.append(run(build))
            baseline.append(run(imports))
    cmd_s, base_s = statistics.median(command), statistics.median(baseline)
    print(f"`archspec build {SPEC} --export onnx`: median {cmd_s:.2f} s (min {min(command):.2f}, max {max(command):.2f})")
    print(f'`python -c "import torch, onnx, onnxruntime"`: median {base_s:.2f} s (min {min(baseline):.2f}, max {max(baseline):.2f})')
    print(f"ratio {cmd_s / base_s:.2f} (target <= {COMMAND_TARGET}: {verdict(cmd_s / base_s <= COMMAND_TARGET)}); "
          f"load average now {os.getloadavg()[0]:.2f}")


def measure(name: str, rounds: int, serialise: bool) -> dict:
    """One spec: emission's median wall and CPU time over ``rounds`` (fewer past 1 s) and, with ``serialise``,
    one write of the file as ``archspec build`` writes it (external data from 2 GiB, as there)."""
    import numpy as np

    from archspec.export.onnx_options import PROTOBUF_LIMIT, weight_bytes

    model = Network(archspec.plan(name), initialised=False).eval()  # uninitialised: NaNs in BN folds are fine
    row = {"spec": name, "params": model.plan.params}
    with np.errstate(all="ignore"):
        emit(model)  # warm
        times, cpus = [], []
        for _ in range(rounds):
            cpu = time.process_time()
            times.append(seconds(lambda: emit(model)))
            cpus.append(time.process_time() - cpu)
            if times[-1] > 1.0:
                break
        row.update(wall=statistics.median(times), cpu=statistics.median(cpus))
        if serialise:
            emitted = emit(model)
            with tempfile.TemporaryDirectory(prefix="bench-export-") as out:
                path = Path(out) / f"{name}.onnx"
                cpu = time.process_time()
                row["write"] = seconds(lambda: onnx_writer.save(emitted, path, weight_bytes(model) >= PROTOBUF_LIMIT))
                row["write_cpu"] = time.process_time() - cpu
    return row


def every_spec(rounds: int, names: list[str] | None, serialise: bool) -> None:
    """Each bundled spec's emission (median of ``rounds``, fewer past 1 s), slowest first, against 1 s."""
    import gc

    rows = []
    for name in names or archspec.list_specs():
        rows.append(measure(name, rounds, serialise))  # one model at a time: the largest hold 2.6 GB
        gc.collect()
    for row in sorted(rows, key=lambda r: r["wall"], reverse=True):
        write = f"; write {row['write']:.2f} s (CPU {row['write_cpu']:.2f} s)" if serialise else ""
        print(f"{row['spec']:24s} {row['params'] / 1e6:8.1f} M params  emission {row['wall']:.3f} s "
              f"(CPU {row['cpu']:.3f} s): {verdict(row['wall'] <= 1.0)}{write}")
    over = [r for r in rows if r["wall"] > 1.0]
    print(f"{len(rows) - len(over)} of {len(rows)} specs within 1 s; load average now {os.getloadavg()[0]:.2f}")


def against(tree: Path, names: list[str], rounds: int) -> None:
    """Per spec, ``rounds`` fresh processes per tree, alternating (so the load falls on both), each measuring
    emission (median of 3) and one write; the medians of both trees and their ratios (theirs / ours)."""
    for name in names:
        found: dict[str, list[dict]] = {"ours": [], "theirs": []}
        for _ in range(rounds):
            for who, root in (("theirs", tree), ("ours", ROOT)):
                env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
                out = subprocess.run([sys.executable, __file__, "--json", "--serialise", "--rounds", "3",
                                      "--specs", name], check=True, env=env, capture_output=True, text=True).stdout
                found[who].append(json.loads(out.strip().splitlines()[-1]))
        med = {who: {k: statistics.median(r[k] for r in rows) for k in ("wall", "cpu", "write", "write_cpu")}
               for who, rows in found.items()}
        ours, theirs = med["ours"], med["theirs"]
        print(f"{name:20s} emission: {ours['wall']:.3f} s (CPU {ours['cpu']:.3f}) against {theirs['wall']:.3f} s "
              f"(CPU {theirs['cpu']:.3f}), {theirs['wall'] / ours['wall']:.0f}x ({theirs['cpu'] / ours['cpu']:.0f}x "
              f"CPU), {verdict(ours['wall'] <= 1.0)}; write {ours['write']:.2f} s (CPU {ours['write_cpu']:.2f}) "
              f"against {theirs['write']:.2f} s (CPU {theirs['write_cpu']:.2f}); emission and write "
              f"{(theirs['wall'] + theirs['write']) / (ours['wall'] + ours['write']):.2f}x; "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
