"""Graphviz diagrams: channel progression from the Plan (no torch), module graph from torch.fx.

``progression(plans)`` draws how width grows through one or several networks on one
shared scale; ``module_graph(plan)`` draws the traced module graph at block level;
``write_diagram(graph, path)`` writes DOT, SVG, PNG or PDF atomically;
``write_plot(plans, path, y)`` draws a figure per unit along the depth with matplotlib.

Names load on first use (PEP 562), so importing the package costs neither graphviz
nor torch: the CLI reads defaults from here at start-up, and only ``module_graph``
may import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "DEFAULT_MAX_NODES": "groups", "Group": "groups", "plan_groups": "groups",
    "progression": "channels", "module_graph": "modulegraph",
    "FORMATS": "render", "DotMissing": "render", "RenderError": "render",
    "output_format": "render", "write_diagram": "render",
    "MatplotlibMissing": "plot", "plot_format": "plot", "write_plot": "plot",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
