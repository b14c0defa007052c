"""The Plan: the resolved network as data, with analytic counts. Never imports torch."""

from .errors import PlanError
from .planner import make_plan
from .types import Plan, Stage, Unit

__all__ = ["Plan", "PlanError", "Stage", "Unit", "make_plan"]
