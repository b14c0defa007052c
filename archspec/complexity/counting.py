"""The counting policy, in one place: what a MAC is, and what the optional elementwise count adds.

MACs are the multiply-accumulates of convolution and linear layers at batch 1, bias
excluded: exactly half of what ``torch.utils.flop_counter.FlopCounterMode`` reports,
and what torchvision's model docs call "GFLOPS". FLOPs are ``2 * MACs``.

Everything else a network does (BN, biases, residual adds, pooling, activations) is
left out of the MACs. On request it is counted separately, as *elementwise ops*: one
op per element, derived from the Plan's rows only, so every block family (present or
future) is counted by the same rules:

- ``norm``: every ``Norm`` layer, one op per output element (an inference BN folds
  into one multiply-add per element).
- ``bias``: every biased ``Conv``/``Linear``, one add per output element.

  Each layer record says which of these it adds (its ``elementwise`` property, in
  plan/ops.py); a record that does not say is an error, never silently skipped.
- ``add``: every unit whose branches merge by ``add``, one add per output element
  (``concat`` merges cost nothing).
- ``pool``: a unit whose output map is smaller than the map of its last spatial layer
  (its input when it has none) pools that map: one op per element read.

Not counted: activations, each by name: ReLU, ReLU6, SiLU, hardswish, and the SE gates
sigmoid and hardsigmoid (the Plan records only weighted layers, so there is nothing generic
to count them from); pooling that keeps the map size (e.g. an Inception pool branch) or sits
in a shortcut; SE's global mean (squeeze) and rescaling multiply; softmax and dropout.
FlopCounterMode counts none of these either way.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..plan.ops import Conv, Norm, Size
from ..plan.types import Unit

MACS_POLICY = (
    "MACs: multiply-accumulates of conv and linear layers (batch 1, biases excluded); FLOPs = 2 x MACs"
)
EXCLUDED = "BN, activations, pooling, residual adds and biases are not in the MACs"
AUX_POLICY = "training-only auxiliary classifiers (aux.<i>) included in params and MACs (as built with aux=True)"
ELEMENTWISE_POLICY = (
    "elementwise ops (separate from MACs, one per element): BN outputs, bias outputs, "
    "residual-add outputs, elements read by a size-reducing pool; not counted: activations (ReLU, ReLU6, "
    "SiLU, hardswish, SE's sigmoid/hardsigmoid gates), SE's squeeze and rescale, dropout"
)


@dataclass(frozen=True)
class Elementwise:
    """Elementwise ops of one unit (or a sum of units), by kind."""

    norm: int = 0
    bias: int = 0
    add: int = 0
    pool: int = 0

    @property
    def total(self) -> int:
        return self.norm + self.bias + self.add + self.pool

    def __add__(self, other: "Elementwise") -> "Elementwise":
        return Elementwise(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "total": self.total}


def area(size: Size) -> int:
    return size[0] * size[1]


LAYER_CLASSES = ("norm", "bias")  # the classes a layer record may add; add and pool come from the unit


def elementwise(unit: Unit) -> Elementwise:
    """The elementwise ops of one Plan row, by the rules in this module's docstring."""
    by_class = dict.fromkeys(LAYER_CLASSES, 0)
    for op in unit.ops:
        if not hasattr(type(op), "elementwise"):
            raise TypeError(f"layer record {type(op).__name__} ({unit.name}.{op.path}) does not say its elementwise "
                            "ops; give it an `elementwise` property (plan/ops.py)")
        for kind, count in op.elementwise.items():
            if kind not in by_class:
                raise TypeError(f"layer record {type(op).__name__} ({unit.name}.{op.path}) adds elementwise ops of "
                                f"class {kind!r}; the policy counts only {', '.join(LAYER_CLASSES)}")
            by_class[kind] += count
    add = unit.out_activations if unit.merge == "add" else 0
    return Elementwise(**by_class, add=add, pool=pooled_elements(unit))


def pooled_elements(unit: Unit) -> int:
    """Elements read by a pool that shrinks the unit's last spatial map (0 if none does)."""
    channels, size = unit.in_channels, unit.in_size
    for op in unit.ops:
        if isinstance(op, Conv):
            channels, size = op.cout, op.out_size
        elif isinstance(op, Norm):
            channels, size = op.channels, op.size
    return channels * area(size) if area(unit.out_size) < area(size) else 0
