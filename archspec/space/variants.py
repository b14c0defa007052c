"""Variants of one base spec, validated and counted fast and exactly.

A variant is the base spec with a few fields set, as ``--set`` would set them. Validating
the whole spec from plain data again (Pydantic) and planning every unit again (the Plan)
would cost about 2 ms per PyramidNet-110. Two things make it a small fraction of that:

- **Targeted validation.** Only the models on the way from the root to a changed field are
  validated again; every unchanged part is passed in as the already validated instance,
  which Pydantic accepts as it is (``revalidate_instances='never'``). The model validators
  of the changed models run as usual, so the result is the spec that validating the edited
  data would give (the tests compare the two on random variants).
- **Unit memo.** Units that an earlier variant already planned with the same inputs are
  reused (:class:`archspec.plan.memo.UnitMemo`).

The sha256 is the one ``archspec expand`` prints, of the expanded spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

from ..plan.errors import PlanError
from ..plan.memo import UnitMemo
from ..plan.types import Plan
from ..plan.expand import expand
from ..plan.resolve import checked_plan
from ..spec.errors import FieldPath, SourceMap, SpecError, dotted
from ..spec.expand import canonical_hash
from ..spec.loader import _problems
from ..spec.models import Spec
from ..spec.user_blocks import inherit_definitions

Changes = Sequence[tuple[FieldPath, Any]]


class Unresolved(ValueError):
    """A variant that is not a network: the reason (short, for counting) and the full message."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        self.message = message
        super().__init__(message)


def with_changes(base: Spec, changes: Changes) -> Spec:
    """``base`` with ``changes`` applied, validated; :class:`Unresolved` when the result is invalid."""
    try:
        spec = Spec.model_validate(_patched(base, [(tuple(p), v) for p, v in changes]))
        wrong = inherit_definitions(spec, base)  # a changed user block keeps its definition
        if wrong:
            raise Unresolved(f"invalid {wrong[0].path}", wrong[0].message)
        return spec
    except ValidationError as exc:
        first = _problems(exc, {}, SourceMap("<variant>"))[0] if exc.errors() else None
        path = first.path if first else ""
        raise Unresolved(f"invalid {path}", str(first.message if first else exc)) from None
    except _Missing as exc:
        raise Unresolved(f"no {exc.args[0]}", f"there is no {exc.args[0]} to set") from None


class _Missing(LookupError):
    pass


def _patched(node: Any, changes: list[tuple[FieldPath, Any]], at: FieldPath = ()) -> Any:
    """The input that validates to ``node`` with ``changes`` (paths relative to it) made.

    Unchanged parts stay validated instances; a changed model becomes a mapping of its
    explicitly set fields (as its source data had them) with the changes made inside.
    """
    whole = [v for p, v in changes if not p]
    if whole:
        return whole[-1]
    groups: dict[Any, list[tuple[FieldPath, Any]]] = {}
    for path, value in changes:
        groups.setdefault(path[0], []).append((path[1:], value))
    if isinstance(node, list):
        out_list = list(node)
        for index, sub in groups.items():
            if not isinstance(index, int) or index >= len(out_list):
                raise _Missing(dotted(at + (index,)))
            out_list[index] = _patched(out_list[index], sub, at + (index,))
        return out_list
    if isinstance(node, BaseModel):
        out = {name: getattr(node, name) for name in node.model_fields_set}
    elif isinstance(node, dict):
        out = dict(node)
    elif node is None:
        out = {}
    else:
        raise _Missing(dotted(at + (next(iter(groups)),)))
    for key, sub in groups.items():
        if isinstance(key, int):
            raise _Missing(dotted(at + (key,)))
        if len(sub) == 1 and not sub[0][0]:  # a value for this field itself (most changes end so)
            if sub[0][1] is None:
                out.pop(key, None)  # null removes the field, as --set does
            else:
                out[key] = sub[0][1]
        else:
            out[key] = _patched(out.get(key), sub, at + (key,))
    return out


@dataclass(frozen=True)
class Counted:
    """A resolved variant: its spec, its plan's exact totals."""

    spec: Spec
    plan: Plan

    @property
    def params(self) -> int:
        return self.plan.params

    @property
    def macs(self) -> int:
        return self.plan.macs


class Counter:
    """Plans and counts many variants in one process, sharing units between them."""

    def __init__(self, memo: UnitMemo | None = None):
        self.memo = memo if memo is not None else UnitMemo()

    def count(self, spec: Spec) -> Counted:
        """The variant's plan, within the size limits; :class:`Unresolved` when it does not resolve."""
        try:
            return Counted(spec, checked_plan(spec, memo=self.memo))
        except PlanError as exc:
            raise Unresolved(f"does not resolve at {dotted(exc.path)}", exc.message) from None
        except SpecError as exc:
            raise Unresolved("does not resolve", str(exc)) from None


def sha256_of(spec: Spec, plan: Plan | None = None) -> tuple[str, dict[str, Any]]:
    """The spec's sha256 (as ``archspec expand`` prints it) and its expanded data (read from ``plan``)."""
    data = expand(spec, plan)
    return canonical_hash(data), data
