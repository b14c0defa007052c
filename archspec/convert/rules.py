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
from ..spec.kinds import UNIT_KINDS
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
    rename: Callable[[str], str] = str  # older spellings of checkpoint names -> today's (applied first)


_RULES: dict[str, dict[str, tuple[Family, UnitRule]]] = {}  # block type -> family name -> rule


def register_rule(*block_types: str, family: Family) -> Callable[[UnitRule], UnitRule]:
    """Register ``rule`` as ``family``'s naming of body units of ``block_types``.

    A block type may have a rule in several families (a parameter-free pool unit ends
    stages of VGG and GoogLeNet alike); each family's rule checks its own layout.
    """

    unknown = [t for t in block_types if t not in UNIT_KINDS]
    if unknown:
        raise ValueError(f"unit kind {unknown[0]!r} is not one the planner makes; known: {', '.join(UNIT_KINDS)}")

    def decorate(rule: UnitRule) -> UnitRule:
        for block_type in block_types:
            _RULES.setdefault(block_type, {})[family.name] = (family, rule)
        return rule

    return decorate


def _rules_of(unit: Unit) -> dict[str, tuple[Family, UnitRule]]:
    try:
        return _RULES[unit.block]
    except KeyError:
        raise ConversionError(
            f"unit {unit.name} is a {unit.block!r} block, which no torchvision network has; "
            f"torchvision weights can be converted for block types: {', '.join(sorted(_RULES))}"
        ) from None


def rule_for(unit: Unit, family: Family) -> UnitRule:
    """``family``'s rule for the unit's block type (:func:`family_of` made sure there is one)."""
    return _rules_of(unit)[family.name][1]


def family_of(plan: Plan) -> Family:
    """The one family whose rules name every unit of the plan.

    Block types alone do not tell a family: MobileNetV2, MNASNet and EfficientNet all
    stack ``mbconv`` units. So every family with a rule for each body unit is tried, its
    stem, head and unit rules checking their own layouts, and the one that accepts the
    whole plan is the plan's family. None accepting is the refusal of each; two is a bug
    in the rules (two torchvision networks with one layout), reported as such.
    """
    candidates: dict[str, Family] | None = None
    for unit in plan.body:
        here = {name: family for name, (family, _) in _rules_of(unit).items()}
        if candidates is not None and not candidates.keys() & here.keys():
            raise ConversionError(
                f"spec {plan.name} mixes blocks of torchvision families: unit {unit.name} ({unit.block!r}) belongs to "
                f"{', '.join(sorted(here))}, the units before it to {', '.join(sorted(candidates))}; "
                "no torchvision network does")
        candidates = here if candidates is None else {n: f for n, f in here.items() if n in candidates}
    if not candidates:
        raise ConversionError(f"spec {plan.name} has no block that tells its torchvision family (no body units)")
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    refusals: dict[str, ConversionError] = {}
    for name, family in sorted(candidates.items()):
        try:
            names_of(plan, family)
        except ConversionError as error:
            refusals[name] = error
    accepted = [family for name, family in sorted(candidates.items()) if name not in refusals]
    if len(accepted) == 1:
        return accepted[0]
    if accepted:
        raise ConversionError(f"spec {plan.name} fits the layouts of several torchvision families "
                              f"({', '.join(f.name for f in accepted)}); their rules must tell them apart")
    raise ConversionError(f"spec {plan.name} fits no torchvision family its blocks belong to: "
                          + "; ".join(f"{name}: {error}" for name, error in refusals.items()))


def names_of(plan: Plan, family: Family) -> dict[str, LayerNames]:
    """``family``'s checkpoint names for every unit of the plan (unit name -> layer names)."""
    names = {plan.stem.name: family.stem(plan.stem, plan), plan.head.name: family.head(plan.head, plan)}
    for unit in plan.body:
        names[unit.name] = rule_for(unit, family)(unit, plan)
    return names


def require(unit: Unit, ok: bool, family: str, message: str) -> None:
    """Refuse a layout that has the right shapes but computes something else than torchvision's."""
    if not ok:
        raise ConversionError(f"unit {unit.name} differs from torchvision's {family} layout: {message}")


def registered() -> list[str]:
    return sorted(_RULES)
