"""The space file, as Pydantic v2 models: a base spec, the fields to vary, ties and a budget.

```yaml
base: ../specs/pyramidnet.yaml      # relative to this file, or an inline spec mapping
vary:
  body.widening.alpha: {int: [24, 300]}
  body.depth: {choice: [110, 164, 200, 272]}
  head.dropout: {float: [0.0, 0.5]}
tie: {body.stages[1].width: [body.stages[2].width]}   # the same sampled value for several paths
budget: {params: [1.0M, 3.0M], macs: [null, 600M]}    # K M G T suffixes; null: unbounded
```

The models check what can be checked without the base spec (ranges, steps, bands);
:mod:`.load` checks every path against the base spec's schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Discriminator, Field, Strict, Tag, ValidationInfo, field_validator, model_validator

from ..spec import numbers
from ..spec.base import PositiveInt, StrictModel, empty_dict

StrictInt = Annotated[int, Strict()]
StrictFloat = Annotated[float, Strict()]


class IntRange(StrictModel):
    """Whole numbers ``lo..hi`` (both included) on the grid ``lo + k * step``; ``log``: log-uniform."""

    bounds: tuple[StrictInt, StrictInt] = Field(alias="int")
    step: PositiveInt = 1
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "IntRange":
        lo, hi = self.bounds
        if lo > hi:
            raise ValueError(f"lo > hi: {lo} > {hi}; write [lo, hi] with lo <= hi")
        if self.log and lo < 1:
            raise ValueError(f"log sampling needs lo >= 1 (got {lo})")
        return self

    @property
    def kind(self) -> str:
        return "int"


class FloatRange(StrictModel):
    """Real numbers in ``[lo, hi]``, uniform or (``log: true``) log-uniform."""

    bounds: tuple[StrictFloat, StrictFloat] = Field(alias="float")
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "FloatRange":
        lo, hi = self.bounds
        if lo > hi:
            raise ValueError(f"lo > hi: {lo:g} > {hi:g}; write [lo, hi] with lo <= hi")
        if self.log and lo <= 0:
            raise ValueError(f"log sampling needs lo > 0 (got {lo:g})")
        return self

    @property
    def kind(self) -> str:
        return "float"


class Choice(StrictModel):
    """One of the listed values (numbers, names, or whole mappings such as a block)."""

    choice: list[Any] = Field(min_length=1)

    @property
    def kind(self) -> str:
        return "choice"


def _dimension_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = [k for k in ("int", "float", "choice") if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return getattr(value, "kind", None)


DIMENSION_HELP = "give exactly one of {int: [lo, hi]}, {float: [lo, hi]} or {choice: [a, b, ...]}"

Dimension = Annotated[
    Union[Annotated[IntRange, Tag("int")], Annotated[FloatRange, Tag("float")], Annotated[Choice, Tag("choice")]],
    Discriminator(_dimension_kind, custom_error_type="dimension", custom_error_message=DIMENSION_HELP),
]

def parse_count(value: Any) -> Any:
    """``1.5M`` -> 1500000, ``600M``, ``2G``, ``1e6``, ``250000``; ``None`` stays (unbounded).
    Read by the one number reader (:func:`archspec.spec.numbers.parse_count`)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        return value  # the int check below names it
    return numbers.parse_count(text, "a count")


Count = Annotated[int | None, BeforeValidator(parse_count)]


class Budget(StrictModel):
    """Bands ``[lo, hi]`` (both included; ``null`` for no bound) on the exact params and MACs."""

    params: tuple[Count, Count] | None = None
    macs: tuple[Count, Count] | None = None

    @field_validator("params", "macs")
    @classmethod
    def _not_empty(cls, band: tuple[int | None, int | None] | None, info: ValidationInfo) -> Any:
        if band and band[0] is not None and band[1] is not None and band[0] > band[1]:
            raise ValueError(f"the {info.field_name} band [{si(band[0])}, {si(band[1])}] is empty: lo > hi")
        if band and any(v is not None and v < 0 for v in band):
            raise ValueError(f"the {info.field_name} band cannot be negative")
        return band

    def verdict(self, params: int, macs: int) -> str | None:
        """None when inside every band, else the reason (``params above 3M``)."""
        for name, value in (("params", params), ("macs", macs)):
            band = getattr(self, name)
            if band is None:
                continue
            lo, hi = band
            if lo is not None and value < lo:
                return f"{name} below {si(lo)}"
            if hi is not None and value > hi:
                return f"{name} above {si(hi)}"
        return None


def si(n: int) -> str:
    """``3000000`` -> ``3M``, ``1500000`` -> ``1.5M`` (exact to 4 digits, else the whole number)."""
    for suffix in ("T", "G", "M", "K"):
        unit = numbers.SI[suffix]
        if n >= unit and (n * 1000) % unit == 0:
            return f"{n / unit:g}{suffix}"
    return f"{n:,}"


class SpaceFile(StrictModel):
    """A design space: variants of ``base`` with the ``vary`` fields drawn, ``tie``d paths following."""

    base: str | dict[str, Any] = Field(description="A spec file relative to the space file, or an inline spec.")
    vary: dict[str, Dimension] = Field(min_length=1, description="Spec field path (as --set writes it) -> range.")
    tie: dict[str, list[str]] = Field(default_factory=empty_dict, description="A vary path -> paths that get its value.")
    budget: Budget = Budget()
