"""Run generated code where archspec cannot be imported, and compare it with the compiled module.

The child is ``python -I`` (no PYTHONPATH, no user site, no script directory on the path)
started in an empty temporary directory, with an import hook that refuses ``archspec``
(an editable install would otherwise still provide it). It imports each generated
file by path, builds its network class, checks the ``state_dict`` keys against the
compiled network's, loads the weights strictly, and saves its outputs for the parent
to compare. Several files share one child, so one torch import serves them all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .checks import Agreement, Comparison, ExportError

TOLERANCE = 1e-5  # the same kernels on the same machine: only summation order may differ
TIMEOUT_S = 600

CHILD = r'''
import importlib.abc, importlib.util, json, sys

class RefuseArchspec(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "archspec" or name.startswith("archspec."):
            raise ImportError(f"the standalone code imports {name}")
        return None

sys.meta_path.insert(0, RefuseArchspec())
import torch

for i, job in enumerate(json.load(open(sys.argv[1]))):
    spec = importlib.util.spec_from_file_location(f"standalone_{i}", job["code"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, job["class"])()
    keys, state = list(model.state_dict()), torch.load(job["weights"], weights_only=True)
    if keys != list(state):
        missing = [k for k in state if k not in keys][:3]
        extra = [k for k in keys if k not in state][:3]
        sys.exit(f"job {i}: state_dict keys differ from the compiled network's "
                 f"(missing {missing}, unexpected {extra}, or another order)")
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        x = torch.load(job["input"], weights_only=True)
        y = model(x)
    torch.save(y, job["output"])
if any(name == "archspec" or name.startswith("archspec.") for name in sys.modules):
    sys.exit("archspec was imported")
'''


@dataclass(frozen=True)
class Job:
    """One generated file to check: its network class, the compiled module and an input batch."""

    code: Path
    class_name: str
    model: torch.nn.Module
    inputs: torch.Tensor
    target: Path  # the file checked, by its final name (the code may sit at a staged path)


def verify_isolated(jobs: Sequence[Job]) -> list[Agreement]:
    """Run every job in one clean child; the outputs must match the compiled modules."""
    with tempfile.TemporaryDirectory(prefix="archspec-isolated-") as tmp:
        work = Path(tmp)
        specs, expected = [], []
        for i, job in enumerate(jobs):
            model = job.model.eval()
            torch.save(model.state_dict(), work / f"w{i}.pt")
            torch.save(job.inputs, work / f"x{i}.pt")
            with torch.no_grad():
                expected.append(model(job.inputs))
            specs.append({"code": str(Path(job.code).resolve()), "class": job.class_name,
                          "weights": str(work / f"w{i}.pt"), "input": str(work / f"x{i}.pt"),
                          "output": str(work / f"y{i}.pt")})
        (work / "jobs.json").write_text(json.dumps(specs), encoding="utf-8")
        run_dir = work / "cwd"
        run_dir.mkdir()
        try:
            child = subprocess.run([sys.executable, "-I", "-c", CHILD, str(work / "jobs.json")], cwd=run_dir,
                                   capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ExportError(jobs[0].target, f"the standalone check did not finish in {TIMEOUT_S} s") from None
        if child.returncode != 0:
            lines = (child.stderr or child.stdout).strip().splitlines() or [f"exit status {child.returncode}"]
            failed = next((jobs[int(m.group(1))] for m in [re.match(r"job (\d+): ", lines[-1])] if m), jobs[0])
            raise ExportError(failed.target, f"importing it without archspec failed: {lines[-1]}")
        results = []
        for i, job in enumerate(jobs):
            n = job.inputs.shape[0]
            comparison = Comparison(job.target, f"standalone module in a clean python -I (no archspec) at batch {n}",
                                    TOLERANCE)
            comparison.add(expected[i], torch.load(work / f"y{i}.pt", weights_only=True), f"batch {n}")
            results.append(comparison.result())
        return results
