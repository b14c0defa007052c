"""Errors the planner raises against a spec field path; the API maps them to file:line."""

from __future__ import annotations

from typing import Any


class PlanError(ValueError):
    """A cross-field problem found while resolving a spec (names the field path)."""

    def __init__(self, path: tuple[Any, ...], message: str):
        self.path = path
        self.message = message
        super().__init__(message)
