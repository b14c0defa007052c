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
from ..plan.types import Plan
from .artifacts import fx_module_code, verify_fx, write_pt2, write_safetensors
from .atomic import Batch
from .checks import Agreement, ExportError
from .isolated import Job, verify_isolated
from .onnx import OnnxCheck, export_onnx, verify_onnx
from .onnx_options import OnnxOptions, export_onnx_with, verify_onnx_with
from .provenance import Provenance
from .standalone import class_name, standalone_code

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
    """
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
        for kind in kinds:
            target = out_dir / f"{plan.name}{SUFFIX[kind]}"
            try:
                if kind == "onnx" and options.is_default:
                    tmp = batch.path_for(target)
                    export_onnx(model, shape, tmp, meta)
                    result.onnx = dataclasses.replace(verify_onnx(model, shape, tmp), path=target)
                elif kind == "onnx":
                    tmp = batch.named_path_for(target)
                    min_size = provenance.smallest_input() if provenance else 1
                    if export_onnx_with(model, plan, tmp, options, meta, min_size, target):
                        batch.named_path_for(target.with_name(target.name + ".data"))  # written beside it
                    result.checks.append((target, verify_onnx_with(model, plan, tmp, options, target)))
                elif kind == "state_dict":
                    torch.save(model.state_dict(), batch.path_for(target))
                elif kind == "safetensors":
                    text = {"archspec.spec_yaml": provenance.expanded} if provenance else {}
                    check = write_safetensors(model, batch.path_for(target), target, {**meta, **text})
                    result.checks.append((target, check))
                elif kind == "pt2":
                    result.checks.append((target, write_pt2(model, plan, batch.named_path_for(target), target, meta)))
                elif kind == "python":
                    tmp = batch.named_path_for(target)
                    tmp.write_text(standalone_code(model, plan, meta.get("archspec.spec_sha256", "")), encoding="utf-8")
                    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
                    (check,) = verify_isolated([Job(tmp, class_name(plan.name), model, x, target)])
                    result.checks.append((target, check))
                else:  # fx: a runnable module, forward(model, x)
                    tmp = batch.named_path_for(target)
                    tmp.write_text(fx_module_code(traced, plan, f"{plan.name}.py"), encoding="utf-8")
                    result.checks.append((target, verify_fx(tmp, model, plan, target)))
            except OSError as exc:  # a full disk, a read-only place: name the file asked for
                raise ExportError(target, f"cannot write: {exc.strerror or exc}") from None
        result.written = batch.commit()
    return result
