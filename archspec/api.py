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


def build(spec: SpecLike, overrides: Iterable[str] = (), aux: bool = False) -> "torch.nn.Module":
    """Compile a spec into an ``nn.Module`` (He-initialised, fx-traceable).

    ``aux=True`` adds the spec's training-only auxiliary classifiers (GoogLeNet).
    """
    from .blocks.network import Network

    return Network(plan(spec, overrides=overrides), aux=aux)


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
