"""The registry of naming rules: block type -> how a foreign checkpoint names that unit's layers.

A rule looks at one Plan row and returns, for each of the unit's layer paths (its
``ops``), the module path the foreign checkpoint stores it under. Tensor suffixes
(``weight``, ``running_var``...) and shapes come from the layer records, so a rule
never lists tensors and never hard-codes a model: adding a block type is one rule.

Stems and heads are shared by every family in archspec (``stem_conv``, ``classifier``)
but named differently by each torchvision family, so they belong to a :class:`Family`,
which the body's block rules point to. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from ..plan.types import Plan, Unit
from .errors import ConversionError

LayerNames = Mapping[str, str]  # layer path in the unit (op.path) -> module path in the checkpoint
UnitRule = Callable[[Unit, Plan], LayerNames]


@dataclass(frozen=True)
class Family:
    """One torchvision network family: its stem and head naming, and what it holds that we do not."""

    name: str
    stem: UnitRule
    head: UnitRule
    ignore: tuple[str, ...] = ()  # checkpoint name prefixes with no place in the network (auxiliary heads)


@dataclass(frozen=True)
class BlockRule:
    family: Family
    unit: UnitRule


_RULES: dict[str, BlockRule] = {}


def register_rule(*block_types: str, family: Family) -> Callable[[UnitRule], UnitRule]:
    """Register ``rule`` as the torchvision naming of body units of ``block_types``."""

    def decorate(rule: UnitRule) -> UnitRule:
        for block_type in block_types:
            _RULES[block_type] = BlockRule(family, rule)
        return rule

    return decorate


def rule_for(unit: Unit) -> BlockRule:
    try:
        return _RULES[unit.block]
    except KeyError:
        raise ConversionError(
            f"unit {unit.name} is a {unit.block!r} block, which no torchvision network has; "
            f"torchvision weights can be converted for block types: {', '.join(sorted(_RULES))}"
        ) from None


def family_of(plan: Plan) -> Family:
    """The one family every body unit's rule belongs to (a spec mixing families has no torchvision twin)."""
    families = {rule_for(unit).family for unit in plan.body}
    if len(families) != 1:
        names = ", ".join(sorted(f.name for f in families))
        raise ConversionError(f"spec {plan.name} mixes blocks of torchvision families {names}; no torchvision network does")
    return families.pop()


def require(unit: Unit, ok: bool, family: str, message: str) -> None:
    """Refuse a layout that has the right shapes but computes something else than torchvision's."""
    if not ok:
        raise ConversionError(f"unit {unit.name} differs from torchvision's {family} layout: {message}")


def registered() -> list[str]:
    return sorted(_RULES)
