"""Compile a Plan and write its exports together (all or nothing), each verified where it is staged."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import torch
import torch.fx

from .. import __version__
from ..blocks.network import Network
from ..plan import memory_budget
from ..plan.types import Plan
from .artifacts import fx_module_code, verify_fx, write_pt2, write_safetensors
from .atomic import Batch, WholeWrites
from .checks import Agreement, ExportError
from .isolated import Job, verify_isolated
from .onnx import VERIFY_BATCHES, OnnxCheck, export_onnx, verify_onnx
from .onnx_options import PROTOBUF_LIMIT, OnnxOptions, export_onnx_with, verify_onnx_with, weight_bytes
from .provenance import Provenance
from .standalone import StandaloneError, class_name, standalone_code

SUFFIX = {"onnx": ".onnx", "state_dict": ".pt", "fx": ".fx.py", "safetensors": ".safetensors", "pt2": ".pt2",
          "python": ".py"}
KINDS = tuple(SUFFIX)
ALL = "all"


@dataclass
class BuildResult:
    model: torch.nn.Module
    traced_nodes: int
    written: list[Path] = field(default_factory=list)
    onnx: OnnxCheck | None = None  # the default ONNX file's check
    checks: list[tuple[Path, Agreement]] = field(default_factory=list)  # every other artifact's


def export_kinds(exports: Iterable[str]) -> list[str]:
    """The kinds asked for, in order, once each; ``all`` is every kind."""
    kinds: list[str] = []
    for kind in exports:
        kinds += list(KINDS) if kind == ALL else [kind]
    unknown = [k for k in kinds if k not in SUFFIX]
    if unknown:
        raise ValueError(f"unknown export {unknown[0]!r}; use one of: {', '.join(KINDS)}, {ALL}")
    return list(dict.fromkeys(kinds))


def build_exports(plan: Plan, exports: list[str], out_dir: str | Path,
                  metadata: dict[str, str] | None = None,
                  state_dict: Mapping[str, torch.Tensor] | None = None,
                  provenance: Provenance | None = None,
                  onnx_options: OnnxOptions | None = None) -> BuildResult:
    """``state_dict`` (names already the network's, see ``archspec.convert``) loads strictly first.

    Any export that cannot be made or does not verify raises :class:`ExportError` naming
    its file, and nothing is written: earlier files of the same names stay as they were.

    Raises :class:`~archspec.plan.PlanError` before allocating anything when the build would need
    more memory than ``--max-memory`` allows (:mod:`archspec.plan.memory_budget`).
    """
    memory_budget.require(plan, memory_budget.for_build(plan, export_kinds(exports), max(VERIFY_BATCHES)))
    model = Network(plan)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    model.eval()
    traced = torch.fx.symbolic_trace(model)
    result = BuildResult(model, len(traced.graph.nodes))
    shape = (plan.in_channels, *plan.input_size)
    out_dir = Path(out_dir)
    meta = {"archspec.version": __version__, "archspec.spec": plan.name,
            **(provenance.metadata(plan) if provenance else {}), **(metadata or {})}
    options = onnx_options or OnnxOptions()
    kinds = export_kinds(exports)
    with Batch() as batch:
        writer = _Writer(model, plan, traced, meta, provenance, options, batch, result)
        for kind in kinds:
            check = getattr(writer, kind)(out_dir / f"{plan.name}{SUFFIX[kind]}")
            if check is not None:
                result.checks.append(check)
        result.written = batch.commit()
    return result


@dataclass
class _Writer:
    """One method per export kind: write to a staged path, verify there, return the check (if any)."""

    model: torch.nn.Module
    plan: Plan
    traced: torch.fx.GraphModule
    meta: dict[str, str]
    provenance: Provenance | None
    options: OnnxOptions
    batch: Batch
    result: BuildResult

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.plan.in_channels, *self.plan.input_size)

    def onnx(self, target: Path) -> tuple[Path, Agreement] | None:
        if self.options.is_default and weight_bytes(self.model) < PROTOBUF_LIMIT:  # one fp32 file (export/onnx.py)
            tmp = self.batch.path_for(target)
            export_onnx(self.model, self.shape, tmp, self.meta)
            self.result.onnx = dataclasses.replace(verify_onnx(self.model, self.shape, tmp), path=target)
            return None
        tmp = self.batch.named_path_for(target)
        min_size = self.provenance.smallest_input() if self.provenance else 1
        if export_onnx_with(self.model, self.plan, tmp, self.options, self.meta, min_size, target):
            self.batch.named_path_for(target.with_name(target.name + ".data"))  # the exporter wrote it beside
        return target, verify_onnx_with(self.model, self.plan, tmp, self.options, target)

    def state_dict(self, target: Path) -> None:
        with WholeWrites(self.batch.path_for(target)) as file:  # a full disk raises OSError, not "unexpected pos"
            torch.save(self.model.state_dict(), file)

    def safetensors(self, target: Path) -> tuple[Path, Agreement]:
        text = {"archspec.spec_yaml": self.provenance.expanded} if self.provenance else {}
        return target, write_safetensors(self.model, self.batch.path_for(target), target, {**self.meta, **text})

    def pt2(self, target: Path) -> tuple[Path, Agreement]:
        return target, write_pt2(self.model, self.plan, self.batch.named_path_for(target), target, self.meta)

    def python(self, target: Path) -> tuple[Path, Agreement]:
        tmp = self.batch.named_path_for(target)  # its own name: the check imports it by path
        try:
            code = standalone_code(self.model, self.plan, self.meta)
        except StandaloneError as exc:
            raise ExportError(target, str(exc)) from None
        tmp.write_text(code, encoding="utf-8")
        x = torch.randn(2, *self.shape, generator=torch.Generator().manual_seed(0))
        (check,) = verify_isolated([Job(tmp, class_name(self.plan.name), self.model, x, target)])
        return target, check

    def fx(self, target: Path) -> tuple[Path, Agreement]:
        tmp = self.batch.named_path_for(target)
        tmp.write_text(fx_module_code(self.traced, self.plan, f"{self.plan.name}.py", target), encoding="utf-8")
        return target, verify_fx(tmp, self.model, self.plan, target)
