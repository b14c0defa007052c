"""Optional dependencies: which extra brings each heavy module, and one line when it is missing.

The core install has what validate, report, diff, expand, schema, list, sample and fit
need. Commands that need more call :func:`require` before importing it, e.g.
``require("torch")``; the CLI turns :class:`MissingExtra` (and any ModuleNotFoundError of
a module listed here) into one line naming the extra, exit status 2.
"""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "archspec-nn"

# module (top-level import name) -> the extra in pyproject.toml that installs it
EXTRA_OF = {
    "torch": "torch",
    "onnx": "torch",
    "onnxscript": "torch",
    "onnxruntime": "torch",
    "safetensors": "torch",
    "graphviz": "diagram",
    "matplotlib": "plot",
    "submitit": "sweep",
    "torchvision": "vision",
}


class MissingExtra(ModuleNotFoundError):
    """A module of an optional extra is not installed; the message says what to install."""

    def __init__(self, module: str, needed_for: str = ""):
        self.extra = EXTRA_OF[module]
        why = f" for {needed_for}" if needed_for else ""
        super().__init__(f"{module} is not installed{why}: pip install '{DISTRIBUTION}[{self.extra}]'", name=module)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken half-import
        return False


def require(*modules: str, needed_for: str = "") -> None:
    """Raise :class:`MissingExtra` for the first of ``modules`` (keys of :data:`EXTRA_OF`) not installed."""
    for module in modules:
        if not installed(module):
            raise MissingExtra(module, needed_for)


def missing_extra(exc: BaseException) -> MissingExtra | None:
    """The :class:`MissingExtra` that an ImportError of an optional module amounts to, else None."""
    if isinstance(exc, MissingExtra):
        return exc
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.partition(".")[0]
        if top in EXTRA_OF:
            return MissingExtra(top)
    return None
