"""Run generated code where archspec cannot be imported, and compare it with the compiled module.

The child is ``python -I`` (no PYTHONPATH, no user site, no script directory on the path)
started in an empty temporary directory, with an import hook that refuses ``archspec``
(an editable install would otherwise still provide it). It imports each generated
file by path, builds its network class, checks the ``state_dict`` keys against the
compiled network's, loads the weights strictly, and saves its outputs for the parent
to judge by the one verification policy (:mod:`archspec.export.verify`). Several jobs
share one child, so one torch import serves them all.
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

from .checks import ExportError

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
        ys = [model(x) for x in torch.load(job["inputs"], weights_only=True)]
    torch.save(ys, job["outputs"])
if any(name == "archspec" or name.startswith("archspec.") for name in sys.modules):
    sys.exit("archspec was imported")
'''


@dataclass(frozen=True)
class Job:
    """One generated file to run: its network class, the weights to load and the input batches."""

    code: Path
    class_name: str
    state: dict[str, torch.Tensor]
    inputs: Sequence[torch.Tensor]
    target: Path  # the file checked, by its final name (the code may sit at a staged path)


def run_isolated(jobs: Sequence[Job]) -> list[list[torch.Tensor]]:
    """Run every job in one clean child; each job's outputs, in order. The caller judges them
    (:func:`archspec.export.verify.settle`)."""
    with tempfile.TemporaryDirectory(prefix="archspec-isolated-") as tmp:
        work = Path(tmp)
        specs = []
        for i, job in enumerate(jobs):
            torch.save(job.state, work / f"w{i}.pt")
            torch.save(list(job.inputs), work / f"x{i}.pt")
            specs.append({"code": str(Path(job.code).resolve()), "class": job.class_name,
                          "weights": str(work / f"w{i}.pt"), "inputs": str(work / f"x{i}.pt"),
                          "outputs": str(work / f"y{i}.pt")})
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
        return [torch.load(work / f"y{i}.pt", weights_only=True) for i in range(len(jobs))]
