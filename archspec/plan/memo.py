"""Planned units remembered by their inputs, for planning many variants of a network in one process.

A design-space sampler plans thousands of networks that differ in a few fields; most of
their units (same block, position, channels, size, stride, width) repeat from one variant
to the next. Planning a unit is a pure function of those inputs, so the result can be
shared: units are frozen records. Nothing is kept across processes.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

from pydantic import BaseModel

from .types import Stage, Unit


class UnitMemo:
    """Units and whole stages by the inputs that determine them; spec parts by value (``token``)."""

    BY_ID = 10_000  # instances looked up by identity: the base spec's unchanged parts come first

    def __init__(self, max_units: int = 200_000):
        self.max_units = max_units  # a bound on memory (about 3 KB a unit), not an eviction policy
        self._unhashable: set[type] = set()  # spec part types whose instances failed to hash
        self.clear()

    def clear(self) -> None:
        """Forget everything (keys hold tokens, so tokens go with the units they name)."""
        self.units: dict[tuple, Unit] = {}
        self.stages: dict[tuple, Stage] = {}
        self.free: dict[tuple, Unit] = {}  # units of position-free kinds, by their inputs but not their place
        self._tokens: dict[Any, int] = {}
        self._by_id: dict[int, tuple[Any, int]] = {}

    def token(self, part: Any) -> Hashable | None:
        """A small key standing for a (frozen, hashable) spec part; None when it cannot be hashed.

        Equal parts get the same token, so a block validated afresh for each variant still
        shares its units. The part is hashed once per plan, not once per unit.
        """
        known = self._by_id.get(id(part))
        if known is not None and known[0] is part:  # the same instance again (an unchanged part of the base)
            return known[1]
        if len(self._tokens) >= self.max_units:
            self.clear()
        if type(part) in self._unhashable:  # its instances hold lists: no need to fail at hashing again
            return self._frozen_token(part)
        extra = getattr(part, "__pydantic_extra__", None)
        if extra:  # a user block's parameters: Pydantic's hash leaves extra fields out (its variants would
            try:  # share one hash and chain), so by value, with its private attributes by identity
                key = (type(part), tuple(part.__dict__.values()), tuple(sorted(extra.items())),
                       tuple((k, _Same(v)) for k, v in (part.__pydantic_private__ or {}).items()))
                return self._tokens.setdefault(key, len(self._tokens))
            except TypeError:
                return self._frozen_token(part)
        try:
            token = self._tokens.setdefault(part, len(self._tokens))
            if len(self._by_id) < self.BY_ID:
                self._by_id[id(part)] = (part, token)  # the part is kept alive, so its id is not reused
            return token
        except TypeError:  # a part with lists inside (a head's `pre`, an Inception table): by its frozen value
            self._unhashable.add(type(part))
            return self._frozen_token(part)

    def _frozen_token(self, part: Any) -> Hashable | None:
        try:
            return self._tokens.setdefault(_frozen(part), len(self._tokens))
        except TypeError:
            return None

    def unit(self, key: tuple | None, plan: Callable[[], Unit]) -> Unit:
        """The unit planned for ``key`` before, or ``plan()`` remembered (``key`` None: not remembered)."""
        if key is None:
            return plan()
        unit = self.units.get(key)
        if unit is None:
            unit = plan()
            self.put(key, unit)
        return unit

    def put(self, key: tuple, unit: Unit) -> None:
        if len(self.units) >= self.max_units:
            self.units.clear()
        self.units[key] = unit

    def put_free(self, key: tuple, unit: Unit) -> None:
        if len(self.free) >= self.max_units:
            self.free.clear()
        self.free[key] = unit

    def put_stage(self, key: tuple, stage: Stage) -> None:
        if len(self.stages) * 10 >= self.max_units:
            self.stages.clear()
        self.stages[key] = stage


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for a spec part: its type and field values, lists as tuples."""
    if isinstance(value, BaseModel):  # extra fields by value, private attributes (a block's definition) by identity
        extra, private = value.__pydantic_extra__ or {}, value.__pydantic_private__ or {}
        return (type(value), tuple(_frozen(v) for v in value.__dict__.values()),
                tuple(sorted((k, _frozen(v)) for k, v in extra.items())), tuple((k, _Same(v)) for k, v in private.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


class _Same:
    """A key part equal only to the same object (a private attribute such as a user block's
    definition, which has no value equality to hash by); it keeps the object alive."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)
