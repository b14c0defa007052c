"""archspec: declarative architecture specs compiled to PyTorch, counted, drawn and exported.

``import archspec`` stays light (no torch) so validation and reports start fast.
"""

from ._startup import collector_paused
from ._version import __version__

with collector_paused():
    from .api import (analyze, build, feature_info, fit, list_specs, load, nb201, plan, plot, report, sample, sweep,
                      validate, write_exports)
    from .plan import Plan
    from .spec import Spec, SpecError

__all__ = ["Plan", "Spec", "SpecError", "analyze", "build", "feature_info", "fit", "list_specs", "load", "nb201", "plan",
           "plot", "report", "sample", "sweep", "validate", "write_exports", "__version__"]
