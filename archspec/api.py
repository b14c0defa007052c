"""The Python API: load, plan, report, build; sample, fit, sweep, analyze. Only ``build`` imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Union

from .plan import Plan, PlanError
from .plan.ops import Size
from .spec import Problem, Spec, SpecError, load
from .spec.checks import checked_plan
from .spec.loader import source_of

if TYPE_CHECKING:
    import torch

    from .space import FitResult, Row, SampleResult, SweepResult

SpecLike = Union[Spec, str, Path]


def as_spec(spec: SpecLike, overrides: Iterable[str] = ()) -> Spec:
    return spec if isinstance(spec, Spec) else load(spec, overrides)


def plan(spec: SpecLike, input_size: Size | int | None = None, overrides: Iterable[str] = ()) -> Plan:
    """Resolve a spec (or a spec file) into its Plan; errors name the file, line and field.

    ``overrides`` (``path=value`` strings, the CLI's ``--set``) apply when a path is given.
    """
    spec = as_spec(spec, overrides)
    input_size = _checked_size(input_size)
    try:
        return checked_plan(spec, input_size)  # make_plan, guarded by the size limits
    except PlanError as exc:
        raise SpecError([source_of(spec).problem(exc.path, exc.message)]) from None


def _checked_size(size: Any) -> Size | None:
    """``None``, N or (H, W) with positive whole numbers; anything else is a SpecError."""
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
    if (isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)):
        return (pair[0], pair[1])
    raise SpecError([Problem("<input_size>", None, None, "input_size",
                             f"{size!r} is not a size: give N or (H, W) with positive whole numbers")])


def report(
    spec: SpecLike, input_size: Size | int | None = None, overrides: Iterable[str] = (), elementwise: bool = False,
    aux: bool = False,
) -> dict[str, Any]:
    """Params, MACs and shapes per unit, stage and network: the data of ``archspec report --format json``.

    Analytic, from the Plan (no torch). ``elementwise=True`` adds the separately counted
    BN/bias/add/pool ops (docs/report.md states the policy); ``aux=True`` counts the
    training-only auxiliary classifiers too (what ``build(..., aux=True)`` adds).
    """
    from .complexity import make_report

    return make_report(plan(spec, input_size, overrides), elementwise, aux).as_dict()


def build(spec: SpecLike, overrides: Iterable[str] = (), aux: bool = False) -> "torch.nn.Module":
    """Compile a spec into an ``nn.Module`` (He-initialised, fx-traceable).

    ``aux=True`` adds the spec's training-only auxiliary classifiers (GoogLeNet).
    """
    from .blocks.network import Network

    return Network(plan(spec, overrides=overrides), aux=aux)


def sample(space: Union[str, Path], n: int, seed: int = 0, max_draws: int | None = None,
           out: Union[str, Path, None] = None) -> "SampleResult":
    """Draw ``n`` distinct in-budget networks from a space file (written to ``out`` when given).

    See :func:`archspec.space.sample`; the result lists each sample's sha256, values and counts.
    """
    from .space import load_space, sample as draw_samples

    return draw_samples(load_space(space), n, seed=seed, max_draws=max_draws, out=out)


def fit(spec: SpecLike, path: str, params: int | None = None, macs: int | None = None,
        overrides: Iterable[str] = ()) -> "FitResult":
    """The value of one numeric field (``path``, as ``--set`` writes it) closest to a params or MACs target."""
    from .space import fit as fit_field

    return fit_field(as_spec(spec, overrides), path, params=params, macs=macs)


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
