"""Compile a Plan and write its exports together (all or nothing)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
import torch.fx

from .. import __version__
from ..blocks.network import Network
from ..plan import memory_budget
from ..plan.types import Plan
from .atomic import Batch, WholeWrites
from .onnx import VERIFY_BATCHES, OnnxCheck, export_onnx, verify_onnx

SUFFIX = {"onnx": ".onnx", "state_dict": ".pt", "fx": ".fx.py"}


@dataclass
class BuildResult:
    model: torch.nn.Module
    traced_nodes: int
    written: list[Path] = field(default_factory=list)
    onnx: OnnxCheck | None = None


def build_exports(plan: Plan, exports: list[str], out_dir: str | Path,
                  metadata: dict[str, str] | None = None,
                  state_dict: Mapping[str, torch.Tensor] | None = None) -> BuildResult:
    """``state_dict`` (names already the network's, see ``archspec.convert``) loads strictly first.

    Raises :class:`~archspec.plan.PlanError` before allocating anything when the build would need
    more memory than ``--max-memory`` allows (:mod:`archspec.plan.memory_budget`).
    """
    memory_budget.require(plan, memory_budget.for_build(plan, exports, max(VERIFY_BATCHES)))
    model = Network(plan)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    model.eval()
    traced = torch.fx.symbolic_trace(model)
    result = BuildResult(model, len(traced.graph.nodes))
    shape = (plan.in_channels, *plan.input_size)
    out_dir = Path(out_dir)
    with Batch() as batch:
        for kind in dict.fromkeys(exports):
            target = out_dir / f"{plan.name}{SUFFIX[kind]}"
            tmp = batch.path_for(target)
            if kind == "onnx":
                meta = {"archspec.version": __version__, "archspec.spec": plan.name, **(metadata or {})}
                export_onnx(model, shape, tmp, meta)
                result.onnx = dataclasses.replace(verify_onnx(model, shape, tmp), path=target)
            elif kind == "state_dict":
                with WholeWrites(tmp) as file:  # a full disk raises OSError, not "unexpected pos"
                    torch.save(model.state_dict(), file)
            else:
                tmp.write_text(traced.code, encoding="utf-8")
        result.written = batch.commit()
    return result
