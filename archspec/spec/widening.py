"""Widening rules: how a body's width grows from unit to unit (a union on ``rule``)."""


from typing import Annotated, Literal, Union

from pydantic import Field, Strict, model_validator

from .base import EachKindOnFirstUse, NonNegativeFloat, PositiveFloat, PositiveInt, StrictModel


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


class RegNetWidening(StrictModel):
    """RegNet's quantized linear rule (Radosavovic et al. 2020), torchvision's ``BlockParams.from_init_params``.

    Unit ``i`` of ``depth`` gets the continuous width ``u_i = w0 + wa * i``, which is snapped to
    ``w0 * wm ** round(log(u_i / w0) / log(wm))`` and rounded to a multiple of ``quantum``; runs of
    equal widths are the stages (each strided by 2, so the body gives no ``stages``). Each stage
    width is then made compatible with the block's group width (the bottleneck width
    ``int(w * bottleneck_ratio)`` rounded to a multiple of ``min(group_width, that)``). The Plan
    records every step on each unit (``Unit.scaling``), and ``report`` shows it.
    """

    rule: Literal["regnet"]
    depth: PositiveInt = Field(description="d: the number of units (blocks) in the body.")
    w0: PositiveInt = Field(description="w_0: the first unit's width, a multiple of `quantum`.")
    wa: NonNegativeFloat = Field(description="w_a: the slope of the linear width ramp, channels per unit.")
    wm: Annotated[float, Strict()] = Field(gt=1.0, description="w_m: the ratio between consecutive stage widths (> 1).")
    quantum: PositiveInt = Field(8, description="Stage widths are rounded to a multiple of this (torchvision: 8).")

    @model_validator(mode="after")
    def _w0_quantized(self) -> "RegNetWidening":
        if self.w0 % self.quantum:
            raise ValueError(f"w0 {self.w0} is not a multiple of quantum {self.quantum}; torchvision refuses it too")
        return self


WideningSpec = Annotated[
    Union[StepDoubling, Additive, Multiplicative, Explicit, RegNetWidening], EachKindOnFirstUse("rule")
]
DERIVES_STAGES = ("regnet",)  # widening rules whose widths also decide the stages (the body gives none)
