"""Shared Pydantic base: every spec model is strict, frozen and forbids unknown keys."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Gt
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

# Strict numbers: YAML reads yes/no/on/off as booleans, and Pydantic's lax mode would
# turn `classes: yes` into 1 class or `width: "16"` into 16. Ints still fill floats.
PositiveInt = Annotated[int, Strict(), Gt(0)]
NonNegativeInt = Annotated[int, Strict(), Ge(0)]
PositiveFloat = Annotated[float, Strict(), Gt(0)]
NonNegativeFloat = Annotated[float, Strict(), Ge(0)]
Probability = Annotated[float, Strict(), Field(ge=0.0, lt=1.0)]


def _odd(kernel: int) -> int:
    if kernel % 2 == 0:
        raise ValueError(f"kernel {kernel} is even; it must be odd (3, 5, 7) so that 'same' padding exists")
    return kernel


OddKernel = Annotated[PositiveInt, AfterValidator(_odd)]  # a kernel padded to keep the map size


class StrictModel(BaseModel):
    """Base of every spec model: unknown keys are errors, never silently dropped.

    ``defer_build``: a model's validator is built when it first validates, not when its class
    is defined. Built eagerly, every model nesting the block union (stage, body, spec)
    compiled every block kind again at each start; deferred, only the models a command
    validates are built, each once. A default that is a model instance is therefore written
    ``Model.model_construct(...)`` (the same value, ``validate_default`` checks it), since
    calling ``Model(...)`` at import would build that model's validator there and then.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, defer_build=True)
