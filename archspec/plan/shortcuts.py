"""Shortcut planning: which shortcut a unit gets and the layers it owns."""

from __future__ import annotations

from .errors import PlanError
from .ops import Conv, Norm, Op, Size

PROJECTIONS = {"projection", "preact_projection", "avgpool_projection", "projection_all"}


def pooled(size: Size, stride: int) -> Size:
    """Size after a ``stride x stride`` average pool with ceil mode (or a ``::stride`` subsample)."""
    return tuple(-(-s // stride) for s in size)  # type: ignore[return-value]


def plan_shortcut(
    policy: str, cin: int, cout: int, stride: int, in_size: Size, path: tuple
) -> tuple[str, tuple[Op, ...]]:
    """The shortcut kind actually used by one unit, and its weighted layers.

    Every policy but ``projection_all`` is the identity where the shape does not change.
    """
    changes = stride != 1 or cin != cout
    if not changes and policy != "projection_all":
        return "identity", ()
    if policy in ("zero_pad", "avgpool_zero_pad"):
        if cout < cin:
            raise PlanError(
                path,
                f"a {policy} shortcut cannot reduce channels ({cin} -> {cout}); "
                "use projection, or a widening rule that never narrows",
            )
        return policy, ()
    if policy == "avgpool_projection":
        size = pooled(in_size, stride) if stride > 1 else in_size
        return policy, (Conv("shortcut.conv", cin, cout, 1, size, padding=0), Norm("shortcut.bn", cout, size))
    conv = Conv("shortcut.conv", cin, cout, 1, in_size, stride=stride, padding=0)
    if policy == "preact_projection":
        return policy, (conv,)
    kind = "projection" if policy == "projection_all" else policy
    return kind, (conv, Norm("shortcut.bn", cout, conv.out_size))
