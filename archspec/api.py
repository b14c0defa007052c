"""The Python API: load, plan, report, build; sample, fit, sweep, analyze. Only ``build`` imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union

from .plan import Plan, PlanError
from .plan.features import FeatureInfo, OutIndices
from .plan.ops import Size
from .plan.reference import reference_mismatches
from .plan.resolve import SpecLike, located, resolve
from .spec import Problem, Spec, SpecError
from .spec.bundled import bundled_names, load_any
from .spec.loader import source_of

if TYPE_CHECKING:
    import torch

    from .spec.catalog import BlockType

    from .export.build import BuildResult
    from .space import FitResult, Row, SampleResult, SweepResult


def load(spec: SpecLike, overrides: Iterable[str] = ()) -> Spec:
    """A Spec from a file path, a bundled spec's name (``list_specs()``), YAML text or a dict.

    A real path wins over a name; a ``str`` with a newline (or starting with ``{``) is YAML
    text. ``overrides`` are ``path=value`` strings, the CLI's ``--set``.
    """
    return load_any(spec, overrides)


as_spec = load  # the name the CLI commands use


def list_specs(pattern: str = "*") -> list[str]:
    """Names of the bundled specs matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
    from fnmatch import fnmatchcase

    return [name for name in bundled_names() if fnmatchcase(name, pattern)]


def block_types() -> list["BlockType"]:
    """Every block type a spec can name: built-in kinds, bundled block files and plugins (spec/catalog.py)."""
    from .spec.catalog import block_types as listed

    return listed()


def plan(spec: SpecLike, input_size: Size | int | None = None, overrides: Iterable[str] = ()) -> Plan:
    """Resolve a spec (or a spec file) into its Plan; errors name the file, line and field.

    ``overrides`` (``path=value`` strings, the CLI's ``--set``) apply when a path is given.
    Planning and its guards live in :mod:`archspec.plan.resolve`.
    """
    return resolve(spec, input_size, overrides)


def validate(spec: SpecLike, overrides: Iterable[str] = ()) -> Plan:
    """:func:`plan` at the spec's own input size, then its ``reference:`` figures checked against it.

    What ``archspec validate`` runs: a spec that claims a published network's params or
    MACs and does not reproduce them is a SpecError naming ``reference.params`` or
    ``reference.macs`` at its line.
    """
    spec = as_spec(spec, overrides)
    resolved = plan(spec)
    problems = [source_of(spec).problem(path, message) for path, message in reference_mismatches(spec, resolved)]
    if problems:
        raise SpecError(problems)
    return resolved


def plot(
    specs: SpecLike | Iterable[SpecLike], output: str | Path, y: str = "width", overrides: Iterable[str] = (),
    dpi: int = 150,
) -> Path:
    """Plot each body unit's ``y`` (``width``, ``params`` or ``macs``) along the depth, every spec on
    one axis, to ``output`` (.png, .svg or .pdf, written atomically); returns the path. Needs matplotlib."""
    from collections.abc import Mapping

    from .diagram.plot import write_plot

    many = [specs] if isinstance(specs, (Spec, str, Path, Mapping)) else list(specs)  # one spec, or several
    return write_plot([plan(s, overrides=overrides) for s in many], output, y, dpi)


def hints(spec: SpecLike, overrides: Iterable[str] = ()) -> list[Problem]:
    """Valid but surprising choices, located like errors (plan/hints.py): DenseNet strides in ResNet
    order, an even ``depth`` split where ResNet's layout is likely meant, a squeeze-excite of fewer than 4
    channels, and ``overrides`` that
    change a spec file's network but not its name. The CLI prints them as warnings (--strict: errors)."""
    from .plan.hints import override_hints, plan_hints, spec_hints

    overrides = list(overrides)
    loaded = as_spec(spec, overrides)
    found = spec_hints(loaded) + plan_hints(loaded, plan(loaded))
    if overrides and not isinstance(spec, Spec):
        try:
            base = plan(spec)
        except SpecError:  # the overrides are what makes it valid: nothing to compare with
            return found
        found += override_hints(base, plan(loaded), overrides, loaded)
    return found


def report(
    spec: SpecLike, input_size: Size | int | None = None, overrides: Iterable[str] = (), elementwise: bool = False,
    aux: bool = False, batch: int = 1, dtype: str = "fp32", device: str = "cpu", policy: str = "archspec",
) -> dict[str, Any]:
    """Params, MACs and shapes per unit, stage and network: the data of ``archspec report --format json``.

    Analytic, from the Plan (no torch). ``elementwise=True`` adds the separately counted
    BN/bias/add/pool ops (docs/report.md states the policy); ``aux=True`` counts the
    training-only auxiliary classifiers too (what ``build(..., aux=True)`` adds). Memory
    (``memory`` and each row's ``*_bytes``) is counted at ``batch`` (>= 1), ``dtype``
    (fp32, bf16, fp16) and ``device`` (cpu, cuda: whose kernels decide what is saved).
    ``policy`` ("fvcore", "ptflops", "thop", "torchinfo", "torchvision") puts that tool's
    count of the built module in ``macs`` (and each row's), named by ``policy.name``.
    """
    from .complexity import make_report

    return make_report(plan(spec, input_size, overrides), elementwise, aux, batch, dtype, device,
                       policy).as_dict()


def build(
    spec: SpecLike, overrides: Iterable[str] = (), aux: bool = False, seed: int = 0, *,
    num_classes: Optional[int] = None, in_chans: Optional[int] = None,
    features_only: bool = False, out_indices: OutIndices = None,
) -> "torch.nn.Module":
    """Compile a spec into an ``nn.Module`` (fx-traceable), initialised as the spec's ``init``
    says (docs/init.md) from ``seed``: the same spec, seed and versions give the same tensors.

    ``aux=True`` adds the spec's training-only auxiliary classifiers (GoogLeNet).
    ``num_classes`` and ``in_chans`` (timm's ``create_model`` names) set ``classes`` and
    ``input.channels``, after ``overrides``. The seed is kept as ``model.seed``.

    As a backbone, timm's way: ``features_only=True`` returns a module whose ``forward`` gives
    a list of feature maps, one per reduction level or those ``out_indices`` picks (an int n:
    the last n), described by its ``feature_info`` (see :func:`feature_info`);
    ``num_classes=0`` keeps the head but drops its classifier layer, so ``forward`` returns the
    pooled features. A bad ``out_indices`` raises ``archspec.plan.features.FeatureError``.
    """
    from .extras import require

    require("torch")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    from .blocks.network import Network
    from .plan import memory_budget

    pooled = num_classes == 0 and not isinstance(num_classes, bool)
    keywords = {"num_classes": ("classes", None if pooled else num_classes), "in_chans": ("input.channels", in_chans)}
    spec = load(spec, [*overrides, *_keyword_sets(keywords)])
    resolved = plan(spec)
    if features_only or out_indices is not None:
        FeatureInfo.of(resolved, out_indices)  # a bad selection fails before anything is allocated
    try:
        memory_budget.require(resolved, memory_budget.estimate(resolved))  # before allocating anything
    except PlanError as exc:
        raise located(spec, exc) from None
    return Network(resolved, aux=aux, seed=seed, features_only=features_only, out_indices=out_indices,
                   pooled=pooled)


def feature_info(spec: SpecLike, out_indices: OutIndices = None, input_size: Size | int | None = None,
                 overrides: Iterable[str] = ()) -> FeatureInfo:
    """What ``build(spec, features_only=True, out_indices=...)`` returns, from the Plan (no torch):
    timm's ``FeatureInfo``, with ``channels()``, ``reduction()`` and ``module_name()``.

    One map per reduction level, the deepest there (archspec/plan/features.py); ``size`` in
    each ``get_dicts()`` entry is at ``input_size`` (default: the spec's).
    """
    return FeatureInfo.of(plan(spec, input_size, overrides), out_indices)


def _keyword_sets(keywords: dict[str, tuple[str, Optional[int]]]) -> list[str]:
    """``--set`` strings for the keyword arguments given (``{kwarg: (field, value)}``);
    a value that is not a whole number is a SpecError naming the argument."""
    sets = []
    for kwarg, (field, value) in keywords.items():
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpecError([Problem("<build>", None, None, kwarg, f"must be a whole number, got {value!r}")])
        sets.append(f"{field}={value}")
    return sets


def write_exports(
    spec: SpecLike, kinds: Iterable[str], out_dir: str | Path, overrides: Iterable[str] = (), *,
    dynamic: str = "batch", dtype: str = "fp32", external_data: bool = False,
    weights: str | Path | None = None, weights_format: str = "torchvision", seed: int = 0,
    exporter: str = "archspec", fold: bool = True, onnx_functions: bool = False,
) -> "BuildResult":
    """Compile and write verified exports (``onnx``, ``safetensors``, ``pt2``, ``python``, ``fx``,
    ``state_dict`` or ``all``; docs/exports.md), all or nothing.

    ``dynamic``, ``dtype``, ``external_data``, ``exporter`` (``archspec``: the writer from the step
    graphs, or ``torch``: torch.onnx), ``fold`` and ``onnx_functions`` shape the ONNX file, and ``weights``
    (a torch.save or .safetensors file, named by ``weights_format``) is loaded first, as the
    CLI's options do. An export that cannot be made raises
    ``archspec.export.checks.ExportError`` (a ``ValueError`` naming the file and the
    reason), and nothing is written; so is ``archspec.export.verify.VerificationError`` when
    the outputs of torch or of any artifact are not finite, do not depend on the input, or
    disagree (one policy for every kind and option, docs/authoring.md). ``seed`` drives the init.
    """
    from .convert import read_weights
    from .export.build import build_exports
    from .export.onnx_options import OnnxOptions
    from .export.provenance import Provenance

    loaded = as_spec(spec, overrides)
    resolved = plan(loaded)
    options = OnnxOptions(OnnxOptions.parse_dynamic(dynamic), dtype, external_data, exporter, fold, onnx_functions)
    state = read_weights(weights, resolved, weights_format) if weights is not None else None
    meta = {"archspec.weights": f"{weights_format}:{Path(weights).name}"} if weights is not None else {}
    provenance = Provenance(loaded, seed=seed if weights is None else None)
    return build_exports(resolved, list(kinds), out_dir, meta, state_dict=state, provenance=provenance,
                         onnx_options=options, seed=seed, weights=str(weights) if weights is not None else None)


def bench(specs: Iterable[SpecLike], overrides: Iterable[str] = (), table: Any = None, max_memory: int | None = None,
          units: bool = True, **options: Any) -> Any:
    """Measure built networks (``archspec bench``): ``options`` are :class:`archspec.export.bench.Config`'s
    fields (device, batch, dtype, channels_last, mode, runtime, cuda_graphs, warmup, rounds, iters).

    Returns an :class:`archspec.export.bench.BenchRun`; ``table`` (a ``LatencyTable``) is reused and
    filled (``units=False``: not timed, no prediction). Refuses (``BenchError``) a run the analytic
    memory says exceeds ``max_memory``.
    """
    from .export.bench import Config, bench as run_bench

    cfg = Config(**options)
    cfg.check()
    plans = [plan(s, overrides=overrides) for s in specs]
    needs = memory_needs(plans, cfg.batch, cfg.dtype, cfg.device, cfg.mode)
    return run_bench(plans, needs, cfg, table, max_memory, units=units)


def memory_needs(plans: Iterable[Plan], batch: int, dtype: str, device: str, mode: str) -> list[tuple[int, int]]:
    """Each plan's (weight bytes, activation bytes) for a bench run in ``mode``: what it refuses on."""
    from .complexity.memory import memory

    mems = [memory(p, batch, dtype, device) for p in plans]
    return [(m.params_bytes, m.train_saved_bytes if mode == "train" else m.infer_peak_bytes) for m in mems]


def sample(space: Union[str, Path], n: int, seed: int = 0, max_draws: int | None = None,
           out: Union[str, Path, None] = None, workers: int | None = None) -> "SampleResult":
    """Draw ``n`` distinct in-budget networks from a space file (written to ``out`` when given).

    See :func:`archspec.space.sample`; the result lists each sample's sha256, values and counts.
    """
    from .space import load_space, sample as draw_samples

    return draw_samples(load_space(space), n, seed=seed, max_draws=max_draws, out=out, workers=workers)


def fit(spec: SpecLike, path: str, params: int | None = None, macs: int | None = None,
        overrides: Iterable[str] = ()) -> "FitResult":
    """The value of one numeric field (``path``, as ``--set`` writes it) closest to a params or MACs target."""
    from .space import fit as fit_field

    return fit_field(as_spec(spec, overrides), path, params=params, macs=macs)


def nb201(cell: str) -> Spec:
    """The spec of a NAS-Bench-201 cell string (``|nor_conv_3x3~0|+|...|``): the bundled ``nas-bench-201``
    network with the cell's six edges; :class:`archspec.space.CellError` (one paragraph) for a bad string."""
    from .space.nb201 import cell_spec

    return cell_spec(cell)


def sweep(directory: Union[str, Path], command: str, executor: str = "local", jobs: int = 1,
          retry_failed: bool = False, **options: Any) -> "SweepResult":
    """Run ``command`` ({spec}, {out}, {sha}) once per sample of ``directory``; see :func:`archspec.space.sweep`."""
    from .space import sweep as run_sweep

    return run_sweep(directory, command, executor=executor, jobs=jobs, retry_failed=retry_failed, **options)


def analyze(directories: Iterable[Union[str, Path]], metric: str, lower_is_better: bool = False,
            out: Union[str, Path, None] = None) -> "list[Row]":
    """The table of finished samples (counts, metric, Pareto fronts); with ``out``, also the figure."""
    from .space import plot, table

    rows = table(list(directories), metric, lower_is_better)
    if out is not None:
        plot(rows, metric, out, lower_is_better)
    return rows
