"""Complexity reports from the Plan: params, MACs and shapes per unit, stage and network.

No torch here: the figures are analytic. ``verify`` (torch, imported lazily) proves them
against the built module. The package is not named ``report`` so that it cannot shadow
the ``archspec.report()`` function.
"""

from .counting import Elementwise, elementwise
from .diff import Diff
from .memory import Memory, memory
from .model import Report, StageRow, UnitRow, make_report
from .policies import POLICIES, policy_macs
from .views import comparison_table, feature_table, stage_table, unit_table

__all__ = [
    "Diff", "Elementwise", "Memory", "POLICIES", "Report", "StageRow", "UnitRow", "comparison_table", "elementwise", "feature_table",
    "make_report", "memory", "policy_macs", "stage_table", "unit_table",
]
