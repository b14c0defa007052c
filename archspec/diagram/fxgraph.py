"""The module graph at block level: torch.fx's trace, one cluster per unit (imports torch).

The network is built on the ``meta`` device (no weights allocated) and traced with
``torch.fx.symbolic_trace``; ``ShapeProp`` gives every edge its tensor shape. Each fx
node belongs to the innermost Plan unit in its ``nn_module_stack``, so the clusters
are the Plan's units whatever the block family; ``nn.Identity`` nodes (an absent SE,
an identity shortcut) are dropped, which leaves a shortcut visible as the edge that
skips the branch into the ``+`` (or ``concat``). Consecutive units whose traced
structure is the same (same ops, same wiring) are drawn once, labelled "x N".
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING, Any, Callable, Hashable

import graphviz

from ..plan.types import Plan, Unit
from . import style
from .channels import choices_text

if TYPE_CHECKING:
    from torch import fx, nn

# Fill per kind of node: weighted layers, merges, and the reshaping ops of a shortcut.
FILLS = {"layer": "#dbe7f5", "merge": "#fefcbf", "reshape": "#fde8e4", "other": "#ffffff"}


@dataclass
class Block:
    """The fx nodes of one Plan unit, in trace order."""

    unit: Unit
    nodes: list["fx.Node"]


def module_graph(plan: Plan, collapse: bool = True) -> graphviz.Digraph:
    """Trace ``plan``'s network with torch.fx and draw it block by block."""
    traced = _trace(plan)
    modules = dict(traced.named_modules())
    alias = _skip_identities(traced, modules)
    blocks = _blocks(plan, traced, alias)
    runs = _runs(blocks, collapse)
    owner = {n: run for run in runs for block in run for n in block.nodes}
    drawn = {n: run[0].nodes[block.nodes.index(n)] for run in runs for block in run for n in block.nodes}

    graph = graphviz.Digraph(
        "modules",
        graph_attr={"rankdir": "TB", "fontname": style.FONT, "nodesep": "0.25", "ranksep": "0.25",
                    "label": style.table([style.text(f"{plan.name}: module graph (torch.fx)", 12, bold=True)]),
                    "labelloc": "t"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": style.FONT, "fontsize": "9",
                   "height": "0.3", "margin": "0.06,0.02"},
        edge_attr={"fontname": style.FONT, "fontsize": "7", "fontcolor": style.MUTED, "arrowsize": "0.5"},
    )
    column_of = _columns(runs, alias)
    last = max(column_of.values())

    def column(node: "fx.Node") -> int:
        return column_of[id(owner[node])] if node in owner else (0 if node.op == "placeholder" else last)

    # an edge into another column starts from a stand-in at that column's top (an off-page
    # connector), and its source ends in a stub: long edges climbing across the picture would cross
    carried: dict[int, dict["fx.Node", str]] = {}
    for node in traced.graph.nodes:
        if node in alias or (node in owner and drawn[node] is not node):
            continue
        for source in node.all_input_nodes:
            source = alias.get(source, source)
            if column(source) != column(node):
                carried.setdefault(column(node), {})[source] = f"{drawn.get(source, source).name}_to{column(node)}"
    for index, members in groupby(runs, key=lambda run: column_of[id(run)]):
        with graph.subgraph(name=f"cluster_column{index}") as box:
            box.attr(label="", style="invis")
            for source, stand_in in carried.get(index, {}).items():
                box.node(stand_in, style.table([style.text(f"from {_span(owner[source])}", 8, style.MUTED)]),
                         shape="plaintext", style="")
            for run in members:
                _draw_run(box, run, modules)
    for node in traced.graph.nodes:
        if node in alias:
            continue
        if node not in owner:  # the input and the output
            _draw_node(graph, node, modules, "")
        elif drawn[node] is not node:
            continue
        for source in node.all_input_nodes:
            source = alias.get(source, source)
            label = _shape(source) if _labelled(source, node, owner) else ""
            start = carried[column(node)][source] if column(source) != column(node) else drawn.get(source, source).name
            graph.edge(start, node.name, label=f" {label}" if label else "")
    for index, sources in carried.items():
        for source in sources:
            stub = f"{drawn.get(source, source).name}_next{index}"
            graph.node(stub, style.table([style.text("to the next column", 8, style.MUTED)]), shape="plaintext", style="")
            graph.edge(drawn.get(source, source).name, stub, style="dashed", arrowhead="none")
    return graph


# The picture's aim, width over height, and a column's width in the unit of heights: drawn
# nodes along the longest path (a node and the gap under it are about a fifth of a column's width).
ASPECT = 0.8
COLUMN_WIDTH = 4.6


def _columns(runs: list[list[Block]], alias: dict) -> dict[int, int]:
    """The column each run is drawn in (keyed by ``id(run)``), so that the picture is about ``ASPECT``.

    One column of 16 bottlenecks is a strip 15 times taller than wide; one column per stage
    of a network with many short stages is a row. Whole stages are packed into columns in
    order; a stage taller than a column is split between runs. The stem goes with the first
    stage, the head with the last.
    """
    stages: list[list[list[Block]]] = []
    for stage, members in groupby(runs, key=lambda run: run[0].unit.stage):
        # the stem (stage None) joins the first stage, the head (None too) the last
        if stages and (stage is None or all(run[0].unit.stage is None for run in stages[-1])):
            stages[-1] += members
        else:
            stages.append(list(members))
    heights = [[_height(run[0], alias) for run in stage] for stage in stages]
    total = sum(map(sum, heights))
    best, best_score = [], math.inf
    for limit in sorted({max(math.ceil(total / n), *map(max, heights)) for n in range(1, len(runs) + 1)}, reverse=True):
        placed = _pack(heights, limit)
        columns = placed[-1] + 1
        tallest = max(sum(h for h, c in zip((h for s in heights for h in s), placed) if c == k) for k in range(columns))
        score = abs(math.log(columns * COLUMN_WIDTH / tallest / ASPECT))
        if score < best_score:
            best, best_score = placed, score
    return {id(run): column for run, column in zip((run for stage in stages for run in stage), best)}


def _pack(heights: list[list[int]], limit: int) -> list[int]:
    """Each run's column: stages (lists of run heights) fill columns up to ``limit`` in order, a stage
    that does not fit in what is left starts a new column, and one taller than ``limit`` is split."""
    placed: list[int] = []
    column, filled = 0, 0
    for stage in heights:
        if filled and filled + sum(stage) > limit:
            column, filled = column + 1, 0
        for height in stage:
            if filled and filled + height > limit:
                column, filled = column + 1, 0
            placed.append(column)
            filled += height
    return placed


def _height(block: Block, alias: dict) -> int:
    """Nodes on the longest path through a block (its drawing's height), plus one for its title."""
    depth: dict["fx.Node", int] = {}
    for node in block.nodes:
        inputs = [alias.get(s, s) for s in node.all_input_nodes]
        depth[node] = 1 + max((depth[s] for s in inputs if s in depth), default=0)
    return max(depth.values(), default=0) + 1


def _draw_run(graph: graphviz.Digraph, run: list[Block], modules: dict) -> None:
    """A run's cluster: the first block's nodes, titled with the run's span."""
    with graph.subgraph(name=f"cluster_{run[0].nodes[0].name}") as box:
        box.attr(label=_run_title(run), style="rounded" + (",bold" if len(run) > 1 else ""),
                 color="#1a365d" if len(run) > 1 else "#a0aec0", fontsize="10", labeljust="l")
        for node in run[0].nodes:
            _draw_node(box, node, modules, run[0].unit.name)


def _labelled(source: "fx.Node", target: "fx.Node", owner: dict) -> bool:
    """Label an edge with its shape where it enters a block or where the shape just changed."""
    if owner.get(source) is not owner.get(target):
        return True
    return any(_shape(parent) != _shape(source) for parent in source.all_input_nodes)


def _trace(plan: Plan) -> "fx.GraphModule":
    import torch
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    from ..blocks.network import Network

    with torch.device("meta"):
        network = Network(plan).eval()
    traced = fx.symbolic_trace(network)
    ShapeProp(traced).propagate(torch.empty(1, plan.in_channels, *plan.input_size, device="meta"))
    return traced


def _skip_identities(traced: "fx.GraphModule", modules: dict[str, "nn.Module"]) -> dict["fx.Node", "fx.Node"]:
    """Map each ``nn.Identity`` call to the node it passes through (following chains)."""
    from torch import nn

    alias: dict[fx.Node, fx.Node] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module" and isinstance(modules[node.target], nn.Identity):
            source = node.all_input_nodes[0]
            alias[node] = alias.get(source, source)
    return alias


def _blocks(plan: Plan, traced: "fx.GraphModule", alias: dict) -> list[Block]:
    """The kept fx nodes grouped by the innermost Plan unit on their module stack."""
    units = {u.name: u for u in plan.units}
    owned = []
    for node in traced.graph.nodes:
        stack = [key.split("@")[0] for key in node.meta.get("nn_module_stack", {})]
        name = next((k for k in reversed(stack) if k in units), None)
        if name is not None and node not in alias:
            owned.append((name, node))
    return [Block(units[name], [n for _, n in members]) for name, members in groupby(owned, key=lambda p: p[0])]


def _structure(block: Block) -> Hashable:
    """What a block does, without its widths: ops, local targets and wiring."""
    local = {n: i for i, n in enumerate(block.nodes)}
    prefix = block.unit.name + "."
    return (block.unit.stage, block.unit.block, tuple(
        (n.op, _target_name(n).removeprefix(prefix), tuple(local.get(a, -1) for a in n.all_input_nodes))
        for n in block.nodes
    ))


def _runs(blocks: list[Block], collapse: bool) -> list[list[Block]]:
    """Consecutive blocks of the same structure (and stage) share one drawing when collapsing."""
    runs: list[list[Block]] = []
    for block in blocks:
        if collapse and runs and _structure(runs[-1][0]) == _structure(block):
            runs[-1].append(block)
        else:
            runs.append([block])
    return runs


def _span(run: list[Block]) -> str:
    """``stages.1.0`` or ``stages.1.1–3``: the units a run draws."""
    first, last = run[0].unit, run[-1].unit
    return first.name if len(run) == 1 else f"{first.name}\u2013{last.index}"


def _run_title(run: list[Block]) -> str:
    first, last = run[0].unit, run[-1].unit
    title = style.text(_span(run), 10, bold=True)
    title += " " + style.text(first.block, 9, style.MUTED)
    rows = [title]
    if len(run) > 1:
        title += "  " + style.text(f"\u00d7{len(run)}", 10, "#1a365d", bold=True)
        rows = [title]
        if (first.in_channels, first.out_channels) != (last.in_channels, last.out_channels):
            rows.append(style.text(f"{first.in_channels}\u2192{last.out_channels} ch over the run; "
                                   f"shapes shown for {first.name}", 8, style.MUTED))
    choices = choices_text([block.unit for block in run])
    if choices:
        rows.append(style.text(choices, 8, style.CHOICES))
    return style.table(rows)


def _draw_node(graph: graphviz.Digraph, node: "fx.Node", modules: dict, unit_name: str) -> None:
    if node.op in ("placeholder", "output"):
        label = "input" if node.op == "placeholder" else "output"
        graph.node(node.name, f"{label} {_shape(node)}".strip(), shape="plaintext", style="")
        return
    kind, text = _describe(node, modules, unit_name + ".")
    shape = "circle" if kind == "merge" else "box"
    graph.node(node.name, text, shape=shape, fillcolor=FILLS[kind],
               **({"width": "0.3", "fixedsize": "false", "margin": "0.01"} if kind == "merge" else {}))


def _target_name(node: "fx.Node") -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", repr(target))


def _describe(node: "fx.Node", modules: dict, prefix: str) -> tuple[str, str]:
    """(kind, label) of an fx node: module calls by their path in the unit and their settings."""
    if node.op == "call_module":
        module = modules[node.target]
        name = str(node.target).removeprefix(prefix)
        kind, detail = _MODULES.get(type(module).__name__, ("other", lambda m: type(m).__name__))
        text = detail(module)
        # "bn1" says BN, "relu" says ReLU: add the detail only where the name does not
        said = name.rsplit(".", 1)[-1].lower().startswith(text.lower())
        return kind, name if said else f"{name} {text}"
    if node.op == "call_function" and node.target in _functions():
        kind, detail = _functions()[node.target]
        return kind, detail(node)
    return "other", _target_name(node)


def _conv(m: Any) -> str:
    kh, kw = m.kernel_size
    text = f"{kh}\u00d7{kw}"  # 1x7 for a factorised conv
    if m.stride[0] > 1:
        text += f" /{m.stride[0]}"
    if m.groups > 1:
        text += f" g{m.groups}"
    return text


_MODULES: dict[str, tuple[str, Callable[[Any], str]]] = {
    "Conv2d": ("layer", _conv),
    "Linear": ("layer", lambda m: f"linear {m.in_features}\u2192{m.out_features}"),
    "BatchNorm2d": ("other", lambda m: "bn"),
    "ReLU": ("other", lambda m: "ReLU"),
    "Dropout": ("other", lambda m: f"dropout {m.p}"),
    "AvgPool2d": ("reshape", lambda m: f"avgpool {m.kernel_size}/{m.stride}"),
    "MaxPool2d": ("reshape", lambda m: f"maxpool {m.kernel_size}/{m.stride}"),
    "AdaptiveAvgPool2d": ("reshape", lambda m: "global avg"),
}


def _pad(node: "fx.Node") -> str:
    widths = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad", ())
    extra = widths[5] if len(widths) >= 6 else 0
    return f"zero-pad\n+{extra} ch" if extra else "pad"


def _getitem(node: "fx.Node") -> str:
    index = node.args[1]
    steps = [s.step for s in index if isinstance(s, slice) and s.step] if isinstance(index, tuple) else []
    return f"subsample\n::{steps[0]}" if steps else "getitem"


@cache
def _functions() -> dict[Any, tuple[str, Callable[["fx.Node"], str]]]:
    """Functions fx records as calls, by kind; built lazily because it needs torch."""
    import torch
    import torch.nn.functional as F

    merge = {operator.add: "+", operator.iadd: "+", torch.add: "+", operator.mul: "\u00d7", torch.mul: "\u00d7",
             torch.cat: "concat"}
    table: dict[Any, tuple[str, Callable[[fx.Node], str]]] = {
        f: ("merge", lambda n, s=s: s) for f, s in merge.items()
    }
    table[F.pad] = ("reshape", _pad)
    table[operator.getitem] = ("reshape", _getitem)
    table[torch.flatten] = ("other", lambda n: "flatten")
    return table


def _shape(node: "fx.Node") -> str:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    if shape is None:
        return ""
    dims = tuple(shape)[1:]
    return style.shape_text(dims[0], dims[1:]) if len(dims) == 3 else "\u00d7".join(map(str, dims))
