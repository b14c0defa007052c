"""Complexity reports from the Plan: params, MACs and shapes per unit, stage and network.

No torch here: the figures are analytic. ``verify`` (torch, imported lazily) proves them
against the built module. The package is not named ``report`` so that it cannot shadow
the ``archspec.report()`` function.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {  # name -> the module of this package that defines it, imported on first use (the function
    # memory() is archspec.complexity.memory.memory: the package attribute `memory` is that module)
    "Elementwise": "counting", "elementwise": "counting", "Diff": "diff", "Memory": "memory",
    "Report": "model", "StageRow": "model", "UnitRow": "model", "make_report": "model", "POLICIES": "policies",
    "policy_macs": "policies", "comparison_table": "views", "feature_table": "views", "stage_table": "views",
    "unit_table": "views",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """The package's names, each imported with its own module when first asked for (PEP 562): a
    JSON report needs the model, not the comparison or table code, and a light command's start is
    mostly imports."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
