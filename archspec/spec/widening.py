"""Widening rules: how a body's width grows from unit to unit (a union on ``rule``)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from .base import NonNegativeFloat, PositiveFloat, PositiveInt, StrictModel


class StepDoubling(StrictModel):
    """ResNet: ``base * k`` in the first stage, doubled at every later stage that downsamples."""

    rule: Literal["step_doubling"]
    base: PositiveInt = 16
    k: PositiveInt = Field(1, description="Width multiplier (Wide ResNet's k).")


class Additive(StrictModel):
    """PyramidNet: add ``alpha / N`` to a running float at every unit, round half up."""

    rule: Literal["additive"]
    alpha: NonNegativeFloat
    base: PositiveInt | None = Field(None, description="Starting width; default: the stem's width.")


class Multiplicative(StrictModel):
    """PyramidNet: multiply a running float by ``alpha ** (1 / N)`` at every unit, round half up."""

    rule: Literal["multiplicative"]
    alpha: PositiveFloat
    base: PositiveInt | None = Field(None, description="Starting width; default: the stem's width.")


class Explicit(StrictModel):
    """Widths written out: one per stage, or a list per stage with one width per unit."""

    rule: Literal["explicit"]
    widths: list[PositiveInt | list[PositiveInt]] = Field(min_length=1)


WideningSpec = Annotated[
    Union[StepDoubling, Additive, Multiplicative, Explicit], Field(discriminator="rule")
]
