"""Shared Pydantic base: every spec model is strict, frozen and forbids unknown keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, lt=1.0)]


class StrictModel(BaseModel):
    """Base of every spec model: unknown keys are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
