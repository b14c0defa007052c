"""Which units share a node: runs of identical units ("x N") and the node cap.

Pure functions over Plan rows, no torch, no graphviz. A :class:`Group` is what one
diagram node draws: one unit, a run of identical units, or (under the node cap) a
stretch of similar units whose widths change, such as PyramidNet's additive widening
where no two consecutive units are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

from ..plan.types import Unit

# Nodes per network before the node cap merges stretches of similar units: enough for
# a staircase per stage, few enough that three networks side by side stay readable.
DEFAULT_MAX_NODES = 14

# Options that vary from unit to unit without changing what a node draws: stochastic
# depth's rate decays linearly with depth, so keeping it would stop every collapse.
PER_UNIT_OPTIONS = frozenset({"drop_path"})


def signature(unit: Unit) -> Hashable:
    """Everything a unit is except its name and position: equal signatures draw the same node."""
    options = tuple(sorted((k, repr(v)) for k, v in unit.options.items() if k not in PER_UNIT_OPTIONS))
    return (
        unit.stage, unit.block, unit.in_channels, unit.out_channels, unit.inner_channels, unit.groups,
        unit.stride, unit.in_size, unit.out_size, unit.shortcut, unit.merge, unit.ops, options,
    )


def downsamples(unit: Unit) -> int:
    """The factor by which a unit shrinks the spatial size (1 when it keeps it)."""
    return max(unit.in_size[0] // unit.out_size[0], 1) if unit.out_size[0] < unit.in_size[0] else 1


# How a unit's input reaches its output beside the branch, most telling first: a group
# of units is drawn with the first kind any of its units has.
SHORTCUT_KINDS = ("projection", "zero_pad", "concat", "identity", "none")


def shortcut_kind(unit: Unit) -> str:
    """The drawn kind of a unit's shortcut, from its merge and its shortcut policy's name.

    A concat unit with a shortcut passes its input through (a dense layer); one without
    (an Inception module) only concatenates its branches, and draws no loop.
    """
    if unit.shortcut == "none" or unit.merge not in ("add", "concat"):
        return "none"
    if unit.merge == "concat":
        return "concat"
    if "projection" in unit.shortcut:
        return "projection"
    if "zero_pad" in unit.shortcut:
        return "zero_pad"
    return "identity"


def similarity(unit: Unit) -> Hashable:
    """What the node cap keeps apart: stage, block, merge, downsampling, and a projection.

    A zero-padded identity and a plain identity count as similar: PyramidNet's units
    switch between them wherever a rounded width happens not to grow.
    """
    kind = shortcut_kind(unit)
    free = kind in ("zero_pad", "identity")
    return (unit.stage, unit.block, unit.merge, downsamples(unit) > 1, "parameter-free" if free else kind)


@dataclass(frozen=True)
class Group:
    """Consecutive units drawn as one node."""

    units: tuple[Unit, ...]

    @property
    def first(self) -> Unit:
        return self.units[0]

    @property
    def last(self) -> Unit:
        return self.units[-1]

    @property
    def count(self) -> int:
        return len(self.units)

    @property
    def identical(self) -> bool:
        """True for a run of identical units (labelled "x N"), False for a capped stretch."""
        return len({signature(u) for u in self.units}) == 1

    @property
    def shortcut(self) -> str:
        kinds = {shortcut_kind(u) for u in self.units}
        return next(k for k in SHORTCUT_KINDS if k in kinds)

    @property
    def widths(self) -> tuple[int, int]:
        """The narrowest and widest output width in the group."""
        outs = [u.out_channels for u in self.units]
        return min(outs), max(outs)


def runs(units: Sequence[Unit], collapse: bool = True) -> list[Group]:
    """One group per unit, or (``collapse``) one per run of consecutive identical units."""
    groups: list[list[Unit]] = []
    for unit in units:
        if collapse and groups and signature(groups[-1][-1]) == signature(unit):
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return [Group(tuple(g)) for g in groups]


def cap(groups: Sequence[Group], limit: int) -> list[Group]:
    """Merge stretches of similar groups until at most ``limit`` nodes remain (where possible).

    A stretch is a maximal sequence of consecutive groups with the same
    :func:`similarity`; the stem, the head and downsampling units stay alone. Each
    stretch keeps at least one node; spare nodes go to the stretch with the most units
    per node, so the widening stays visible as a staircase of evenly sized steps. When
    the stretches alone exceed ``limit``, the result has one node per stretch.
    """
    if len(groups) <= limit:
        return list(groups)
    stretches = _stretches(groups)
    nodes = [1] * len(stretches)
    sizes = [sum(g.count for g in s) for s in stretches]
    while sum(nodes) < limit:
        open_ = [i for i, s in enumerate(stretches) if nodes[i] < len(s)]
        if not open_:
            break
        best = max(open_, key=lambda i: (sizes[i] / nodes[i], -i))
        nodes[best] += 1
    merged: list[Group] = []
    for stretch, n in zip(stretches, nodes):
        merged += _split(stretch, n)
    return merged


def _stretches(groups: Sequence[Group]) -> list[list[Group]]:
    out: list[list[Group]] = []
    for group in groups:
        key = similarity(group.first)
        mergeable = group.first.stage is not None and downsamples(group.first) == 1
        # equal keys imply the previous group is in the same stage and does not downsample either
        if out and mergeable and similarity(out[-1][-1].first) == key:
            out[-1].append(group)
        else:
            out.append([group])
    return out


def _split(stretch: list[Group], parts: int) -> list[Group]:
    """``parts`` contiguous groups of near-equal unit counts (a stretch of one stays as it is)."""
    if parts >= len(stretch):
        return list(stretch)
    total = sum(g.count for g in stretch)
    chunks: list[list[Unit]] = [[] for _ in range(parts)]
    seen = 0
    for group in stretch:
        # the chunk whose share of the units this group's middle falls in
        k = min((2 * seen + group.count) * parts // (2 * total), parts - 1)
        chunks[k].extend(group.units)
        seen += group.count
    return [Group(tuple(c)) for c in chunks if c]


def plan_groups(units: Sequence[Unit], collapse: bool = True, limit: int | None = None) -> list[Group]:
    """The nodes of one network: identical runs collapsed, then capped at ``limit`` nodes."""
    groups = runs(units, collapse)
    return cap(groups, limit) if collapse and limit else groups
