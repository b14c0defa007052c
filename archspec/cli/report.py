"""``archspec report``: params, MACs and shapes per unit, stage and network, without torch.

Also home of what ``archspec diff`` shares with it: ``--input-size`` parsing, loading
several specs with every error reported, and printing a table in any format.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

import typer

from .common import app
from .common import EXIT_INVALID, SET_HELP, console, errors, fail, report_problems, show_traceback, terminal_size
from .hinting import strict_option

if TYPE_CHECKING:
    from ..complexity import Report
    from ..plan import Plan
    from ..complexity.render import Table

EXIT_MISMATCH = 1  # --verify found the Plan and the module disagree


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class By(str, Enum):
    unit = "unit"
    stage = "stage"


class DType(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Policy(str, Enum):
    archspec = "archspec"
    fvcore = "fvcore"
    ptflops = "ptflops"
    thop = "thop"
    torchinfo = "torchinfo"
    torchvision = "torchvision"
    flopcounter = "flopcounter"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def batch_option(what: str = "Batch size the memory is counted at") -> Any:
    return typer.Option(1, "--batch", "-b", min=1, help=f"{what} (>= 1).")


def dtype_option() -> Any:
    return typer.Option(DType.fp32, "--dtype", help="Activation and weight dtype: fp32, bf16 or fp16.")


def format_option() -> Any:
    return typer.Option(Format.table, "--format", "-f", help="table (terminal), json, markdown or csv.")


def input_size_option() -> Any:
    return typer.Option(
        None, "--input-size", "-i", metavar="H[,W]",
        help="Count at this input resolution instead of the spec's (e.g. 224 or 320,256).",
    )


def parse_input_size(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``"224"`` -> (224, 224), ``"320,256"`` -> (320, 256); anything else exits 2."""
    if text is None:
        return None
    from ..spec.numbers import NumberError, parse_int

    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    try:
        sizes = [parse_int(p) for p in parts] if len(parts) in (1, 2) else []
    except NumberError as exc:
        if "out of range" in str(exc):
            raise fail(f"--input-size: {exc}") from None
        sizes = []
    if sizes and all(s > 0 for s in sizes):
        return sizes[0], sizes[-1]
    raise fail(f"--input-size {text!r}: give one positive integer (square) or two as H,W, e.g. 224 or 320,256")


def affordable(report: "Report", resolved: "Plan", spec: Any, dtype: str) -> None:
    """Refuse ``--verify`` up front, with the estimate, where its CPU builds would not fit the memory
    limit (as ``build`` does): the inference-peak check builds the module with real (zero) weights and
    runs one forward; bf16/fp16 saved bytes are measured on a second real build in training mode."""
    from ..api import located
    from ..plan import PlanError, memory_budget

    memory = report.memory
    if memory is None:
        return
    passes = memory.infer_peak_bytes + (memory.train_saved_bytes if dtype != "fp32" else 0)
    needed = memory_budget.for_measurement(resolved, memory.params_bytes, passes, 1 if dtype == "fp32" else 2)
    try:
        memory_budget.require(resolved, needed)
    except PlanError as exc:
        raise located(spec, exc) from None


def load_reports(
    paths: Sequence[Path], input_size: Optional[str], overrides: Sequence[Sequence[str]],
    elementwise: bool = False, aux: bool = False, strict: Optional[bool] = None,
    batch: int = 1, dtype: str = "fp32", device: str = "cpu",
    policy: str = "archspec", verify: bool = False,
) -> list[tuple["Report", "Plan"]]:
    """Plan and tabulate every spec (``overrides[i]`` applied to ``paths[i]``); report every bad one,
    then exit 2 if any was bad. ``strict`` not None: print hints too (cli/hinting.py), as errors if True."""
    from ..api import as_spec, plan
    from ..complexity import make_report
    from ..spec import SpecError
    from .hinting import hints_for, report_hints

    size = parse_input_size(input_size)
    if aux and policy != "archspec":
        raise fail(f"--aux with --policy {policy}: the other tools' counts are reproduced for the default build "
                   "only (no training-only heads); drop one of the two")
    loaded, bad = [], False
    for path, sets in zip(paths, overrides, strict=True):
        try:
            spec = as_spec(path, sets)
            resolved = plan(spec, size)
        except SpecError as exc:
            show_traceback()
            report_problems(exc)
            bad = True
            continue
        if strict is not None and report_hints(hints_for(spec, resolved, path, sets, size), strict):
            bad = True
            continue
        made = make_report(resolved, elementwise, aux, batch, dtype, device, policy)
        if verify:  # before any table is printed: the estimate of what --verify will allocate
            try:
                affordable(made, resolved, spec, dtype)
            except SpecError as exc:
                report_problems(exc)
                bad = True
                continue
        loaded.append((made, resolved))
    if bad:
        raise typer.Exit(EXIT_INVALID)
    return loaded


def sets_option(*flags: str, applies_to: str, text: str = SET_HELP) -> Any:
    """``--set`` (or a per-spec variant) saying which of the specs it changes."""
    return typer.Option([], *flags, metavar="PATH=VALUE", help=f"{text} Applied to {applies_to}.")


def overrides_note(sets: Sequence[str], which: str = "every spec") -> list[str]:
    """The ``--set`` overrides in words, for a table's notes (none: no note)."""
    from ..spec.errors import printable

    return [f"--set applied to {which}: " + printable(", ".join(sets))] if sets else []


def wide_option() -> Any:
    return typer.Option(False, "--wide", help="Terminal tables: every column at full precision, however wide.")


def table_width(wide: bool) -> Optional[int]:
    """The width terminal tables are fitted to: the terminal's, or ``COLUMNS`` when piped; None (every
    column, natural width) for ``--wide`` and for piped output without ``COLUMNS``."""
    if wide:
        return None
    if console.is_terminal:
        return console.width
    return terminal_size("COLUMNS")


def emit(table: "Table", fmt: Format, data: Any, wide: bool = False) -> None:
    """Print ``table`` as a terminal table, Markdown or CSV, or ``data`` as JSON."""
    emit_all([table], fmt, data, wide)


def emit_all(tables: Sequence["Table"], fmt: Format, data: Any, wide: bool = False) -> None:
    """Print several tables one after another (CSV: one table, a ``table`` column naming each row's), or
    ``data`` as JSON. Terminal tables fit the terminal unless ``wide``."""
    from ..complexity import render

    if fmt is Format.table:
        width = table_width(wide)
        for i, table in enumerate(tables):
            if i:
                console.print()
            render.print_rich(table, console.made, width)
        return
    text = {Format.json: lambda: render.to_json(data),
            Format.markdown: lambda: "\n".join(render.to_markdown(t, table_width(wide)) for t in tables),
            Format.csv: lambda: render.to_csv(tables[0] if len(tables) == 1 else render.stacked(tables))}[fmt]()
    sys.stdout.write(text)


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """A reader that stops early (``report ... | head``) ends the output, not the command: exit 0, no traceback.

    The Python docs' recipe (signal module, "Note on SIGPIPE"): point stdout at devnull so
    that the interpreter's final flush cannot fail again.
    """
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def check(plans: Sequence["Plan"], fmt: Format, batch: int = 1, dtype: str = "fp32", device: str = "cpu",
          width: Optional[int] = None) -> None:
    """``--verify``: build each module (torch) and compare; exit 1 naming the first difference.
    The verdict is wrapped at ``width`` (None: one line)."""
    from ..complexity.render import wrap
    from ..complexity.verify import module_steps, verify, verify_memory, verify_peak, verify_steps

    out = console if fmt is Format.table else errors
    if device == "cpu" and batch == 1:  # before any module is built
        for resolved in plans:
            _refuse_single_value_norms(resolved)
    for resolved in plans:
        mismatches = verify_steps(resolved) + verify(resolved)  # a plugin's wrong declaration first, by step
        if device == "cpu":
            mismatches += verify_memory(resolved, batch, dtype) + verify_peak(resolved, dtype)
        if mismatches:
            more = f" ({len(mismatches) - 1} more differences)" if len(mismatches) > 1 else ""
            raise fail(f"{resolved.name}: {mismatches[0]}{more}", code=EXIT_MISMATCH)
        out.print(wrap(f"verified {resolved.name}: params of all {len(resolved.units)} units == sum(p.numel()), "
                       f"2 x MACs == FlopCounterMode ({2 * resolved.macs:,} FLOPs)"
                       + (f", train_saved_bytes == autograd's saved tensors at batch {batch}, {dtype}, "
                          "infer_peak_bytes == a traced CPU forward's" if device == "cpu"
                          else " (saved tensors not verified: the meta build replays CPU kernels, not CUDA's)")
                       + (f"; the declared params, MACs and saved bytes of its {len(module_steps(resolved))} plugin "
                          "steps == their modules'" if module_steps(resolved) else ""), width),
                  markup=False)


def _refuse_single_value_norms(resolved: "Plan") -> None:
    """A batch norm over a 1x1 map (an attention's, as Selective Kernel's) sees one value per channel at
    batch 1, which PyTorch refuses in training: the saved-bytes forward could not run. Say so (exit 2)."""
    from ..plan.ops import Norm

    for unit in resolved.units:
        for node in unit.graph or ():
            if isinstance(node.step, Norm) and node.step.kind == "batch" and node.shape[1:] == (1, 1):
                raise fail(f"{resolved.name}: --verify measures saved bytes in a training-mode forward, and at batch 1 "
                           f"the batch norm {unit.name}.{node.name} sees one value per channel (a 1x1 map), which "
                           "PyTorch refuses in training; verify with --batch 2 or more")


@app.command()
def report(
    specs: list[Path] = typer.Argument(..., metavar="SPEC", help="Spec files; two or more give a comparison table."),
    fmt: Format = format_option(),
    input_size: Optional[str] = input_size_option(),
    by: Optional[By] = typer.Option(
        None, "--by", help="One row per unit (default for one spec) or per stage; with several specs, one table "
        "each instead of the comparison."),
    elementwise: bool = typer.Option(
        False, "--elementwise",
        help="Also count norm (BN, LayerNorm), bias, layer-scale, residual-add and pooling ops, one per element."
    ),
    aux: bool = typer.Option(
        False, "--aux", help="Count the training-only auxiliary classifiers (GoogLeNet) as rows and in the totals."
    ),
    verify: bool = typer.Option(False, "--verify", help="Build the module and check the counts against PyTorch's."),
    batch: int = batch_option(),
    dtype: DType = dtype_option(),
    device: Device = typer.Option(Device.cpu, "--device", help="Whose kernels decide what training saves: cpu or "
                                  "cuda (dropout keeps a bool mask and BN fp32 statistics there)."),
    policy: Policy = typer.Option(
        Policy.archspec, "--policy", help="Whose MAC count to report: archspec (conv + linear), or the figure "
        "fvcore, ptflops, thop, torchinfo or torchvision would print for the built module, or FlopCounterMode "
        "with its defaults (flopcounter; docs/report.md)."),
    sets: list[str] = sets_option("--set", "-s", applies_to="every spec given"),
    wide: bool = wide_option(),
    strict: bool = strict_option(),
    features: bool = typer.Option(
        False, "--features", help="Also list the feature maps a backbone build returns (timm's features_only: "
        "index, module, channels, reduction); JSON always has them, as \"features\"."),
) -> None:
    """Analytic params and MACs of SPECS from the Plan (no torch), per unit or stage.

    MACs are multiply-accumulates of conv and linear layers at batch 1; FLOPs = 2 x MACs.
    With --verify the module is built (on the meta device) and every unit's params and
    MACs are checked against sum(p.numel()) and FlopCounterMode, and every unit's
    train_saved_bytes against what autograd saves (saved_tensors_hooks), and the inference peak
    against a traced CPU forward: exit 1 on a mismatch.
    Memory (params, saved for backward, inference peak) is counted at --batch and --dtype.

    Hints (valid specs that probably mean something else) are warnings on stderr; --strict makes them errors.
    """
    from ..complexity import comparison_table, feature_table, stage_table, unit_table

    if verify:
        from ..extras import require

        require("torch", needed_for="report --verify")
    loaded = load_reports(specs, input_size, [sets] * len(specs), elementwise, aux, strict, batch, dtype.value,
                          device.value, policy.value, verify)
    reports = [r for r, _ in loaded]
    view = stage_table if by is By.stage else unit_table
    tables = [comparison_table(reports)] if len(reports) > 1 and by is None else [view(r) for r in reports]
    for table in tables:
        table.notes += overrides_note(sets)
    if features:
        tables += [feature_table(r) for r in reports]
    with quiet_broken_pipe():
        emit_all(tables, fmt, reports[0].as_dict() if len(reports) == 1 else [r.as_dict() for r in reports], wide)
        if verify:
            check([p for _, p in loaded], fmt, batch, dtype.value, device.value, table_width(wide))
