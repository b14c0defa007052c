"""The Python API: load, plan, report, build. Only ``build`` imports torch."""

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


def build(spec: SpecLike, overrides: Iterable[str] = (), aux: bool = False, seed: int = 0) -> "torch.nn.Module":
    """Compile a spec into an ``nn.Module`` (fx-traceable), initialised as the spec's ``init``
    says (docs/init.md) from ``seed``: the same spec, seed and versions give the same tensors.

    ``aux=True`` adds the spec's training-only auxiliary classifiers (GoogLeNet).
    The seed is kept as ``model.seed``.
    """
    from .blocks.network import Network

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    return Network(plan(spec, overrides=overrides), aux=aux, seed=seed)
