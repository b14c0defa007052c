"""Compile a Plan, verify it, and write its exports together (all or nothing).

Every step runs inside ``step(name)`` (a context manager the CLI turns into live progress).
The fx trace runs only when an export needs it. Nothing is written unless torch's outputs
are finite and depend on the input, and every export agrees with torch, all by the one
policy of :mod:`archspec.export.verify`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Mapping

import torch
import torch.fx

from .._version import __version__
from ..blocks.network import Network
from ..plan import memory_budget
from ..plan.features import OutIndices
from ..plan.types import Plan
from .artifacts import fx_module_code, verify_fx, write_pt2, write_safetensors
from ..files import Batch, WholeWrites
from .checks import Agreement, ExportError
from .isolated import TOLERANCE as ISOLATED_TOLERANCE, Job, run_isolated
from .onnx import OUTPUT_NAME, export_onnx
from .onnx_options import (PROTOBUF_LIMIT, OnnxOptions, export_onnx_with, fixed_size_reason, verify_onnx_with,
                           weight_bytes)
from .onnx_writer import (Unsupported, WriterSettings, emit_model, save, unsupported_reason, verify_written,
                          with_statistics)
from .provenance import Provenance
from .standalone import StandaloneError, class_name, standalone_code
from .verify import (LARGEST_BATCH, VERIFY_BATCHES, OnnxCheck, cases, check_torch, require, reuse_cases,
                     settle, verification_inputs, verify_onnx)

SUFFIX = {"onnx": ".onnx", "state_dict": ".pt", "fx": ".fx.py", "safetensors": ".safetensors", "pt2": ".pt2",
          "python": ".py"}
KINDS = tuple(SUFFIX)
ALL = "all"
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
    onnx: OnnxCheck | None = None  # the default ONNX file's check
    checks: list[tuple[Path, Agreement]] = field(default_factory=list)  # every other artifact's
    notes: list[str] = field(default_factory=list)  # what the user should know (torch.onnx used instead of the writer)


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
                  onnx_options: OnnxOptions | None = None, *,
                  seed: int = 0, stem: str | None = None, weights: str | None = None,
                  step: Step = no_progress, features_only: bool = False,
                  out_indices: OutIndices = None) -> BuildResult:
    """``state_dict`` (names already the network's, see ``archspec.convert``) loads strictly,
    in place of the init; ``weights`` names where it came from, for messages. ``stem`` names
    the files (default: the plan's name).

    ``features_only`` builds the backbone (``out_indices``: which maps, timm's rules) and writes
    one ONNX file, ``<stem>-features.onnx``, with an output ``feature<i>`` per map, each verified;
    its ``state_dict`` loads the tensors the backbone has (the head's are not needed).

    Raises :class:`~archspec.plan.PlanError` before allocating anything when the build would need
    more memory than ``--max-memory`` allows (:mod:`archspec.plan.memory_budget`);
    :class:`~archspec.export.verify.VerificationError` when torch's outputs, or any artifact's,
    are not finite, do not depend on the input or disagree with torch (one policy for every
    kind and option, :mod:`archspec.export.verify`); :class:`ExportError` naming its file when
    an export cannot be made. Nothing is written then: earlier files of the same names stay.
    """
    kinds = export_kinds(exports)
    if features_only and set(kinds) - {"onnx"}:
        raise ExportError(Path(out_dir), "a features_only build exports ONNX only, not "
                          + ", ".join(k for k in kinds if k != "onnx"))
    memory_budget.require(plan, memory_budget.for_build(plan, kinds, LARGEST_BATCH))
    with step("build"):
        model = Network(plan, seed=seed, initialised=state_dict is None, features_only=features_only,
                        out_indices=out_indices)
        if state_dict is not None:
            state_dict = {name: state_dict[name] for name in model.state_dict()} if features_only else state_dict
            model.load_state_dict(state_dict, strict=True)
        model.eval()
    result = BuildResult(model, seed)
    traced = None
    if NEEDS_TRACE & set(kinds):
        with step("trace"):
            traced = torch.fx.symbolic_trace(model)
        result.traced_nodes = len(traced.graph.nodes)
    shape = (plan.in_channels, *plan.input_size)
    with reuse_cases():  # every artifact is compared with the same module outputs, computed once
        with step("verify torch"):
            check_torch(model, shape, loaded=weights)
        out_dir = Path(out_dir)
        meta = {"archspec.version": __version__, "archspec.spec": plan.name,
                **(provenance.metadata(plan) if provenance else {}),
                **_init_metadata(plan, seed, state_dict is None), **(metadata or {})}
        options = onnx_options or OnnxOptions()
        with Batch() as batch:
            writer = _Writer(model, plan, traced, meta, provenance, options, batch, result, state_dict is None, weights)
            for kind in kinds:
                target = out_dir / f"{stem or plan.name}{'-features' if features_only else ''}{SUFFIX[kind]}"
                with step(f"export {kind}"):
                    check = getattr(writer, kind)(target)
                if check is not None:
                    result.checks.append(check)
                if writer.staged_onnx is not None:  # the default ONNX file: verified as its own step
                    with step("verify onnx"):
                        writer.verify_staged_onnx(target)
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
    calibrate: bool  # no weights loaded: compare also with calibrated BN statistics
    weights: str | None  # where loaded weights came from, for messages
    staged_onnx: Path | None = None  # the default ONNX file, exported, not yet verified
    staged_settings: WriterSettings | None = None  # how the writer wrote it (None: torch.onnx did)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.plan.in_channels, *self.plan.input_size)

    def onnx(self, target: Path) -> tuple[Path, Agreement] | None:
        info = self.model.feature_info if getattr(self.model, "features_only", False) else None
        if info is not None and not (self.options.is_default and weight_bytes(self.model) < PROTOBUF_LIMIT):
            raise ExportError(target, "a features_only ONNX file is written with the default options only "
                              "(--dynamic batch, --dtype fp32, weights under 2 GB, no --external-data)")
        if self.options.exporter == "archspec":
            reason = unsupported_reason(self.model, self.options.dtype)
            if reason is None:
                try:
                    return self.written_onnx(target)
                except Unsupported as exc:
                    reason = str(exc)
            self.result.notes.append(f"{target.name}: written by torch.onnx, not archspec's ONNX writer: {reason}"
                                     + ("; its BN layers are not folded" if self.options.fold else "")
                                     + ("; it has no functions" if self.options.functions else ""))
        if self.options.is_default and weight_bytes(self.model) < PROTOBUF_LIMIT:  # one fp32 file (export/onnx.py)
            self.staged_onnx = self.batch.path_for(target)
            names = [f"feature{i}" for i in info.out_indices] if info is not None else [OUTPUT_NAME]
            export_onnx(self.model, self.shape, self.staged_onnx, self.meta, names)
            return None
        tmp = self.batch.named_path_for(target)
        min_size = self.provenance.smallest_input() if self.provenance else 1
        if export_onnx_with(self.model, self.plan, tmp, self.options, self.meta, min_size, target):
            self.batch.named_path_for(target.with_name(target.name + ".data"))  # the exporter wrote it beside
        return target, verify_onnx_with(self.model, self.plan, tmp, self.options, target, min_size=min_size,
                                        calibrate=self.calibrate, loaded_from=self.weights)

    def written_onnx(self, target: Path) -> tuple[Path, Agreement] | None:
        """The file from archspec's writer (:mod:`archspec.export.onnx_writer`); the same contracts as torch.onnx's."""
        options = self.options
        if "hw" in options.dynamic:
            reason = fixed_size_reason(self.plan)
            if reason:
                raise ExportError(target, f"cannot export a dynamic height and width: {reason}")
        settings = WriterSettings(options.dtype, options.dynamic, options.fold, options.functions)
        extra = {} if options.is_default else {"archspec.dtype": options.dtype,
                                               "archspec.dynamic_axes": ",".join(options.dynamic)}
        emitted = emit_model(self.model, settings, {**self.meta, **extra})  # before anything is staged: may raise
        if options.is_default and weight_bytes(self.model) < PROTOBUF_LIMIT:  # verified as its own step
            self.staged_onnx, self.staged_settings = self.batch.path_for(target), settings
            save(emitted, self.staged_onnx, external=False)
            return None
        half = options.dtype != "fp32"
        external = options.external_data or weight_bytes(self.model) // (2 if half else 1) >= PROTOBUF_LIMIT
        tmp = self.batch.named_path_for(target)
        if external:
            self.batch.named_path_for(target.with_name(target.name + ".data"))
        save(emitted, tmp, external)
        min_size = self.provenance.smallest_input() if self.provenance else 1

        def rewrite(overrides: dict):
            """The file read back (with its data), the calibrated statistics written into its initializers."""
            import onnx

            return with_statistics(onnx.load(str(tmp)), self.model, settings, overrides)

        return target, verify_onnx_with(self.model, self.plan, tmp, options, target, min_size=min_size,
                                        calibrate=self.calibrate, loaded_from=self.weights, rewrite=rewrite)

    def verify_staged_onnx(self, target: Path) -> None:
        if self.staged_settings is not None:
            check = verify_written(self.model, self.shape, self.staged_onnx, self.staged_settings,
                                   calibrate=self.calibrate)
        else:
            check = verify_onnx(self.model, self.shape, self.staged_onnx, calibrate=self.calibrate)
        self.staged_onnx, self.staged_settings = None, None
        self.result.onnx = dataclasses.replace(check, path=target)
        require(target, check.describe().splitlines()[0], check.comparisons, check.problems, self.weights)

    def state_dict(self, target: Path) -> None:
        with WholeWrites(self.batch.path_for(target)) as file:  # a full disk raises OSError, not "unexpected pos"
            torch.save(self.model.state_dict(), file)

    def safetensors(self, target: Path) -> tuple[Path, Agreement]:
        text = {"archspec.spec_yaml": self.provenance.expanded} if self.provenance else {}
        return target, write_safetensors(self.model, self.batch.path_for(target), target, {**self.meta, **text})

    def pt2(self, target: Path) -> tuple[Path, Agreement]:
        return target, write_pt2(self.model, self.plan, self.batch.named_path_for(target), target, self.meta,
                                 calibrate=self.calibrate, loaded_from=self.weights)

    def python(self, target: Path) -> tuple[Path, Agreement]:
        tmp = self.batch.named_path_for(target)  # its own name: the check imports it by path
        try:
            code = standalone_code(self.model, self.plan, self.meta)
        except StandaloneError as exc:
            raise ExportError(target, str(exc)) from None
        tmp.write_text(code, encoding="utf-8")
        found = cases(self.model, verification_inputs(self.shape), self.calibrate)
        state = self.model.state_dict()
        jobs = [Job(tmp, class_name(self.plan.name), {**state, **{k: torch.from_numpy(v) for k, v in
                                                                   (case.overrides or {}).items()}},
                    case.inputs, target) for case in found]
        outputs = [[y.numpy() for y in ys] for ys in run_isolated(jobs)]
        what = (f"standalone module in a clean python -I (no archspec) vs module at batch "
                f"{' and '.join(map(str, VERIFY_BATCHES))}")
        return target, settle(target, what, found, outputs, "the standalone module", ISOLATED_TOLERANCE,
                              self.weights)

    def fx(self, target: Path) -> tuple[Path, Agreement]:
        tmp = self.batch.named_path_for(target)
        tmp.write_text(fx_module_code(self.traced, self.plan, f"{self.plan.name}.py", target), encoding="utf-8")
        return target, verify_fx(tmp, self.model, self.plan, target, calibrate=self.calibrate,
                                 loaded_from=self.weights)


def _init_metadata(plan: Plan, seed: int, initialised: bool) -> dict[str, str]:
    """Where the weights came from when they were not loaded: the init preset and the seed."""
    if not initialised:
        return {}
    return {"archspec.seed": str(seed), "archspec.init": plan.init.preset if plan.init else "torchvision_resnet"}
