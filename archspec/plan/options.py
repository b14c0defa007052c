"""Which options type each unit kind's Plan rows carry, and the records several kinds share.

A unit's ``options`` is a frozen :class:`~archspec.plan.types.UnitOptions` subclass, defined
beside the planner that makes it (``plan/residual.py``, ``plan/parts.py``, ...) and declared
here with :func:`register_options`, so ``options_type(kind)`` names it for every kind of
``spec.kinds.UNIT_KINDS`` and tests/test_unit_options.py can check every bundled Plan
against it. :class:`Pool` is the one parameter-free pooling window that pool units,
transitions, Inception's fourth branch and layer-list stems all hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, TypeVar

from ..registry import Registry
from ..spec.kinds import UNIT_KINDS
from .types import UnitOptions

PoolKind = Literal["max", "avg"]
O = TypeVar("O", bound=type[UnitOptions])

OPTIONS: Registry[type[UnitOptions]] = Registry("unit kind", lambda: UNIT_KINDS, "archspec.plan",
                                                 "is not one the planner makes")


@dataclass(frozen=True)
class Pool:
    """A pooling window (pools own no weights, so they are options, not layer records).
    ``ceil`` is PyTorch's ``ceil_mode``."""

    kind: PoolKind
    kernel: int
    stride: int
    padding: int
    ceil: bool


def register_options(*kinds: str) -> Callable[[O], O]:
    """Declare ``cls`` the options type of the unit kinds ``kinds`` (each in ``spec.kinds.UNIT_KINDS``)."""
    return OPTIONS.register(*kinds)  # type: ignore[return-value]


def no_options(*kinds: str) -> None:
    """Declare that rows of ``kinds`` hold nothing beyond their layer records (``UnitOptions()``)."""
    register_options(*kinds)(UnitOptions)


no_options("stem_none")  # no stem: nothing to hold


def options_type(kind: str) -> type[UnitOptions]:
    """The options type of a unit kind's Plan rows (the planners must have been imported: ``archspec.plan``).
    A user block's rows (any kind not built in) hold none: their graph is all their module needs."""
    return OPTIONS[kind] if kind in UNIT_KINDS else UnitOptions


def declared() -> dict[str, type[UnitOptions]]:
    """Every declared kind and its options type."""
    return dict(OPTIONS.items())
