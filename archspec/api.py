"""The Python API: load, plan, report, build. Only ``build`` imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union

from .plan import Plan, PlanError
from .plan.ops import Size
from .plan.reference import reference_mismatches
from .spec import Problem, Spec, SpecError
from .spec.bundled import bundled_names, load_any
from .spec.checks import checked_plan
from .spec.loader import source_of

if TYPE_CHECKING:
    import torch

SpecLike = Union[Spec, Mapping[str, Any], str, Path]


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


def build(
    spec: SpecLike, overrides: Iterable[str] = (), aux: bool = False, *,
    num_classes: Optional[int] = None, in_chans: Optional[int] = None,
) -> "torch.nn.Module":
    """Compile a spec into an ``nn.Module`` (He-initialised, fx-traceable).

    ``aux=True`` adds the spec's training-only auxiliary classifiers (GoogLeNet).
    ``num_classes`` and ``in_chans`` (timm's ``create_model`` names) set ``classes`` and
    ``input.channels``, after ``overrides``.
    """
    from .extras import require

    require("torch")
    from .blocks.network import Network

    keywords = {"num_classes": ("classes", num_classes), "in_chans": ("input.channels", in_chans)}
    return Network(plan(load(spec, [*overrides, *_keyword_sets(keywords)])), aux=aux)


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
