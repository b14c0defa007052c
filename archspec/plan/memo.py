"""Planned units remembered by their inputs, for planning many variants of a network in one process.

A design-space sampler plans thousands of networks that differ in a few fields; most of
their units (same block, position, channels, size, stride, width) repeat from one variant
to the next. Planning a unit is a pure function of those inputs, so the result can be
shared: units are frozen records. Nothing is kept across processes.
"""

from __future__ import annotations

from typing import Any, Hashable

from .types import Unit


class UnitMemo:
    """Units by the inputs that determine them; spec parts by value (``token``)."""

    def __init__(self, max_units: int = 500_000):
        self.max_units = max_units
        self.units: dict[tuple, Unit] = {}
        self._tokens: dict[Any, int] = {}

    def token(self, part: Any) -> Hashable | None:
        """A small key standing for a (frozen, hashable) spec part; None when it cannot be hashed.

        Equal parts get the same token, so a block validated afresh for each variant still
        shares its units. The part is hashed once per plan, not once per unit.
        """
        try:
            return self._tokens.setdefault(part, len(self._tokens))
        except TypeError:  # a part with lists inside (an Inception table): not memoised
            return None

    def put(self, key: tuple | None, unit: Unit) -> Unit:
        if key is not None:
            if len(self.units) >= self.max_units:
                self.units.clear()
            self.units[key] = unit
        return unit
