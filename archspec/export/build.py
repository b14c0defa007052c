"""Compile a Plan, verify it, and write its exports together (all or nothing).

Every step runs inside ``step(name)`` (a context manager the CLI turns into live progress).
The fx trace runs only when an export needs it. Nothing is written unless torch's outputs
are finite and every ONNX file agrees with torch (:mod:`archspec.export.verify`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Mapping

import torch
import torch.fx

from .. import __version__
from ..blocks.network import Network
from ..plan.types import Plan
from .atomic import Batch
from .onnx import export_onnx
from .verify import OnnxCheck, VerificationError, check_torch, verify_onnx

SUFFIX = {"onnx": ".onnx", "state_dict": ".pt", "fx": ".fx.py"}
NEEDS_TRACE = {"fx"}

Step = Callable[[str], ContextManager[object]]


def no_progress(name: str) -> ContextManager[object]:
    return contextlib.nullcontext()


@dataclass
class BuildResult:
    model: torch.nn.Module
    seed: int  # what drove the init (also ``model.seed``; recorded in the ONNX metadata)
    traced_nodes: int | None = None  # None: no export needed the fx trace
    written: list[Path] = field(default_factory=list)
    onnx: OnnxCheck | None = None


def build_exports(plan: Plan, exports: list[str], out_dir: str | Path,
                  metadata: dict[str, str] | None = None,
                  state_dict: Mapping[str, torch.Tensor] | None = None, *,
                  seed: int = 0, stem: str | None = None, weights: str | None = None,
                  step: Step = no_progress) -> BuildResult:
    """``state_dict`` (names already the network's, see ``archspec.convert``) loads strictly,
    in place of the init; ``weights`` names where it came from, for messages. ``stem`` names
    the files (default: the plan's name). Raises VerificationError before writing anything."""
    with step("build"):
        model = Network(plan, seed=seed, initialised=state_dict is None)
        if state_dict is not None:
            model.load_state_dict(state_dict, strict=True)
        model.eval()
    result = BuildResult(model, seed)
    kinds = list(dict.fromkeys(exports))
    traced = None
    if NEEDS_TRACE & set(kinds):
        with step("trace"):
            traced = torch.fx.symbolic_trace(model)
        result.traced_nodes = len(traced.graph.nodes)
    shape = (plan.in_channels, *plan.input_size)
    with step("verify torch"):
        check_torch(model, shape, loaded=weights)
    out_dir = Path(out_dir)
    with Batch() as batch:
        for kind in kinds:
            target = out_dir / f"{stem or plan.name}{SUFFIX[kind]}"
            tmp = batch.path_for(target)
            with step(f"export {kind}"):
                if kind == "onnx":
                    meta = {"archspec.version": __version__, "archspec.spec": plan.name,
                            **_init_metadata(plan, seed, state_dict is None), **(metadata or {})}
                    export_onnx(model, shape, tmp, meta)
                elif kind == "state_dict":
                    with open(tmp, "wb") as file:  # a path would name the archive's root after the temp file
                        torch.save(model.state_dict(), file)
                else:
                    tmp.write_text(traced.code, encoding="utf-8")
            if kind == "onnx":
                with step("verify onnx"):
                    check = verify_onnx(model, shape, tmp, calibrate=state_dict is None)
                result.onnx = dataclasses.replace(check, path=target)
                if not check.ok:
                    raise VerificationError(
                        f"the ONNX export failed verification: {'; '.join(check.problems)}. Nothing was written.\n"
                        + result.onnx.describe())
        result.written = batch.commit()
    return result


def _init_metadata(plan: Plan, seed: int, initialised: bool) -> dict[str, str]:
    """Where the weights came from when they were not loaded: the init preset and the seed."""
    if not initialised:
        return {}
    return {"archspec.seed": str(seed), "archspec.init": plan.init.preset if plan.init else "torchvision_resnet"}
