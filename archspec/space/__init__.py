"""Design spaces: many variants of one spec, sampled under exact budgets, fitted, swept, compared.

Above the complexity layer and below the API: it uses the spec loader, the planner (with
a unit memo, so that thousands of variants are counted per second) and the exact counts;
it never imports torch. Sweeps run the user's command in other processes (``local``) or
through submitit (SLURM, or submitit's local executor); analysis draws with matplotlib,
imported only when a figure is asked for.
"""

from ..extras import MissingExtra
from .analyze import AnalyzeError, Row, pareto, plot, table
from .fit import FitResult, Point, fit
from .load import Axis, Space, load_space, load_space_text
from .nb201 import CellError, cell_spec, cell_spec_text, cell_string, parse_cell
from .sample import Sample, SampleResult, read_index, sample
from .sweep import Interrupted, RunResult, SweepError, SweepResult, read_results, sweep
from .variants import Counter, Unresolved, sha256_of, with_changes

__all__ = [
    "AnalyzeError", "Axis", "CellError", "Counter", "FitResult", "Interrupted", "MissingExtra", "Point", "Row",
    "RunResult", "Sample", "SampleResult", "Space", "SweepError", "SweepResult", "Unresolved", "cell_spec",
    "cell_spec_text", "cell_string", "fit", "load_space", "load_space_text", "parse_cell", "pareto", "plot",
    "read_index", "read_results", "sample", "sha256_of", "sweep", "table", "with_changes",
]
