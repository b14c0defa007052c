"""The module graph at block level, drawn from the Plan units' step graphs (no torch).

Every unit carries its graph of named steps (:mod:`archspec.plan.graph`), each with its
per-sample shape, so the picture needs no build and no trace: a node is a step, titled
with its path in the unit and its step class's ``label``; an edge is one of its inputs,
labelled with the shape that flows along it. Each unit is one cluster; a unit's input is
the previous unit's output, so a shortcut shows as the edge that skips the branch into
the ``+`` (or ``concat``). Consecutive units whose graphs have the same structure (the
same steps, names and wiring; widths may differ) are drawn once, labelled "x N".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Hashable, Sequence

import graphviz

from ..plan.features import Feature
from ..plan.graph import INPUT
from ..plan.types import Plan, Unit
from . import style
from .channels import choices_text

# Fill per kind of node: weighted layers, merges, and the steps that resize a map (pools, shortcuts' reshaping).
FILLS = {"layer": "#dbe7f5", "merge": "#fefcbf", "reshape": "#fde8e4", "other": "#ffffff"}
IN, OUT = "input", "output"  # the network's input and output nodes


@dataclass
class Block:
    """One Plan unit's steps, as node ids in the picture, in execution order."""

    unit: Unit
    nodes: list[str]


@dataclass
class Vertex:
    """A value of the network: a step of a unit (``step`` set), or the network's input or output."""

    step: Any
    path: str  # the step's name in its unit ("" for the input and output)
    inputs: list[str]  # ids of the vertices it reads
    shape: tuple[int, ...]


class Joined:
    """The units' graphs joined into one: each unit's ``x`` is the previous unit's output."""

    def __init__(self, plan: Plan):
        self.vertices: dict[str, Vertex] = {IN: Vertex(None, "", [], (plan.in_channels, *plan.input_size))}
        self.blocks: list[Block] = []
        self._ids: dict[str, str] = {}  # module path of a step -> its id
        self.outputs: dict[str, str] = {}  # unit name -> the id of its output value
        current = IN
        for unit in plan.units:  # the training-only aux heads are not in the built module's forward
            ids = {INPUT: current}
            for node in unit.graph.nodes:
                ids[node.name] = vid = self._ids[f"{unit.name}.{node.name}"] = self._id(f"{unit.name}.{node.name}")
                self.vertices[vid] = Vertex(node.step, node.name, [ids[i] for i in node.inputs], node.shape)
            if unit.graph.nodes:
                self.blocks.append(Block(unit, [ids[n.name] for n in unit.graph.nodes]))
            current = self.outputs[unit.name] = ids[unit.graph.output]
        self.vertices[OUT] = Vertex(None, "", [current], self.vertices[current].shape)

    def tapped(self, feature: Feature) -> str:
        """The id of the value a backbone's feature map is: a step inside the stem, or a unit's output."""
        if feature.module.startswith(f"{feature.unit}."):
            return self._ids[feature.module]
        return self.outputs[feature.unit]

    def _id(self, name: str) -> str:
        """A DOT id from a module path (``stages.0.0.se.fc1`` -> ``stages_0_0_se_fc1``), unique in the picture."""
        base = vid = re.sub(r"\W", "_", name)
        n = 0
        while vid in self.vertices or vid in (IN, OUT):
            n += 1
            vid = f"{base}_{n}"
        return vid


def module_graph(plan: Plan, collapse: bool = True, taps: Sequence[Feature] = ()) -> graphviz.Digraph:
    """Draw ``plan``'s network block by block from its units' step graphs.

    ``taps``: a backbone's feature maps (``FeatureInfo.selected``) to mark: the step each is taken
    from (a unit's output, or a step inside the stem) gets the tap border and a line saying which map.
    """
    net = Joined(plan)
    vertices = net.vertices
    runs = _runs(net.blocks, collapse)
    owner = {n: run for run in runs for block in run for n in block.nodes}
    drawn = {n: run[0].nodes[block.nodes.index(n)] for run in runs for block in run for n in block.nodes}
    marks: dict[str, list[str]] = {}
    for feature in taps:
        vid = net.tapped(feature)
        where = feature.module if drawn[vid] == vid else f"{feature.module} (after {feature.unit})"
        marks.setdefault(drawn[vid], []).append(
            f"\u25c6 feature {feature.index} \u00b7 /{feature.reduction} \u00b7 {where}")

    graph = graphviz.Digraph(
        "modules",
        graph_attr={"rankdir": "TB", "fontname": style.FONT, "nodesep": "0.25", "ranksep": "0.25",
                    "label": style.table([style.text(f"{plan.name}: module graph", 12, bold=True)]),
                    "labelloc": "t"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": style.FONT, "fontsize": "9",
                   "height": "0.3", "margin": "0.06,0.02"},
        edge_attr={"fontname": style.FONT, "fontsize": "7", "fontcolor": style.MUTED, "arrowsize": "0.5"},
    )
    column_of = _columns(runs, vertices)
    last = max(column_of.values())

    def column(vid: str) -> int:
        return column_of[id(owner[vid])] if vid in owner else (0 if vid == IN else last)

    # an edge into another column starts from a stand-in at that column's top (an off-page
    # connector), and its source ends in a stub: long edges climbing across the picture would cross
    carried: dict[int, dict[str, str]] = {}
    for vid, vertex in vertices.items():
        if vid in owner and drawn[vid] != vid:
            continue
        for source in vertex.inputs:
            if column(source) != column(vid):
                carried.setdefault(column(vid), {})[source] = f"{drawn.get(source, source)}_to{column(vid)}"
    for index, members in groupby(runs, key=lambda run: column_of[id(run)]):
        with graph.subgraph(name=f"cluster_column{index}") as box:
            box.attr(label="", style="invis")
            for source, stand_in in carried.get(index, {}).items():
                box.node(stand_in, style.table([style.text(f"from {_span(owner[source])}", 8, style.MUTED)]),
                         shape="plaintext", style="")
            for run in members:
                _draw_run(box, run, vertices, marks)
    for vid, vertex in vertices.items():
        if vid not in owner:  # the input and the output
            graph.node(vid, f"{vid} {_shape(vertex.shape)}", shape="plaintext", style="")
        elif drawn[vid] != vid:
            continue
        for source in vertex.inputs:
            label = _shape(vertices[source].shape) if _labelled(source, vid, owner, vertices) else ""
            start = carried[column(vid)][source] if column(source) != column(vid) else drawn.get(source, source)
            graph.edge(start, vid, label=f" {label}" if label else "")
    for index, sources in carried.items():
        for source in sources:
            stub = f"{drawn.get(source, source)}_next{index}"
            graph.node(stub, style.table([style.text("to the next column", 8, style.MUTED)]), shape="plaintext", style="")
            graph.edge(drawn.get(source, source), stub, style="dashed", arrowhead="none")
    return graph


# The picture's aim, width over height, and a column's width in the unit of heights: drawn
# nodes along the longest path (a node and the gap under it are about a fifth of a column's width).
ASPECT = 0.8
COLUMN_WIDTH = 4.6


def _columns(runs: list[list[Block]], vertices: dict[str, Vertex]) -> dict[int, int]:
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
    heights = [[_height(run[0], vertices) for run in stage] for stage in stages]
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


def _height(block: Block, vertices: dict[str, Vertex]) -> int:
    """Nodes on the longest path through a block (its drawing's height), plus one for its title."""
    depth: dict[str, int] = {}
    for vid in block.nodes:
        depth[vid] = 1 + max((depth[s] for s in vertices[vid].inputs if s in depth), default=0)
    return max(depth.values(), default=0) + 1


def _draw_run(graph: graphviz.Digraph, run: list[Block], vertices: dict[str, Vertex],
              marks: dict[str, list[str]]) -> None:
    """A run's cluster: the first block's nodes, titled with the run's span."""
    with graph.subgraph(name=f"cluster_{run[0].nodes[0]}") as box:
        box.attr(label=_run_title(run), style="rounded" + (",bold" if len(run) > 1 else ""),
                 color="#1a365d" if len(run) > 1 else "#a0aec0", fontsize="10", labeljust="l")
        for vid in run[0].nodes:
            _draw_node(box, vid, vertices, marks.get(vid, []))


def _labelled(source: str, target: str, owner: dict, vertices: dict[str, Vertex]) -> bool:
    """Label an edge with its shape where it enters a block or where the shape just changed."""
    if owner.get(source) is not owner.get(target):
        return True
    shape = vertices[source].shape
    return any(vertices[parent].shape != shape for parent in vertices[source].inputs)


def _structure(unit: Unit) -> Hashable:
    """What a unit's graph does, without its widths: its steps' classes and names, and their wiring."""
    return (unit.stage, unit.block, unit.graph.output,
            tuple((type(n.step).__name__, n.name, n.inputs) for n in unit.graph.nodes))


def _runs(blocks: list[Block], collapse: bool) -> list[list[Block]]:
    """Consecutive blocks of the same structure (and stage) share one drawing when collapsing."""
    runs: list[list[Block]] = []
    for block in blocks:
        if collapse and runs and _structure(runs[-1][0].unit) == _structure(block.unit):
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


def _draw_node(graph: graphviz.Digraph, vid: str, vertices: dict[str, Vertex], marks: list[str]) -> None:
    kind, text = _describe(vertices[vid], vertices)
    tapped: dict[str, str] = {}
    if marks:  # a backbone's feature map is taken here
        text = style.table([style.text(text), *(style.text(m, 8, style.TAP_COLOR, bold=True) for m in marks)])
        tapped = {"color": style.TAP_COLOR, "penwidth": "2.2"}
    if kind == "merge":
        graph.node(vid, text, shape="circle", fillcolor=FILLS[kind], width="0.3", fixedsize="false", margin="0.01",
                   **tapped)
    else:
        graph.node(vid, text, shape="box", fillcolor=FILLS[kind], **tapped)


def _describe(vertex: Vertex, vertices: dict[str, Vertex]) -> tuple[str, str]:
    """(kind, text) of a step, from what the graph says of it: a step with MACs is a layer, one that
    combines values a merge (drawn by its label alone: ``+``, ``×``, ``concat``), one that changes the
    number of elements without MACs a reshape (pools, a shortcut's subsample or zero-pad)."""
    step, label = vertex.step, vertex.step.label
    if len(vertex.inputs) > 1:
        return "merge", label
    if step.macs:
        kind = "layer"
    elif vertex.inputs and math.prod(vertex.shape) != math.prod(vertices[vertex.inputs[0]].shape):
        kind = "reshape"
    else:
        kind = "other"
    return kind, _named(vertex.path, label)


def _named(path: str, label: str) -> str:
    """A step's path in its unit with its label, unless the name already says it: ``bn1`` (bn),
    ``relu1`` (ReLU), ``dropout 0.2`` for ``dropout``, ``global avg pool`` for ``pool``."""
    parent, _, leaf = path.rpartition(".")
    leaf = leaf.replace("_", " ").lower()
    if leaf.startswith(label.lower()):
        return path
    word = leaf.rstrip("0123456789")
    if word and re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", label.lower()):  # "pad" is not "zero-pad"
        return f"{parent}.{label}" if parent else label
    return f"{path} {label}"


def _shape(shape: tuple[int, ...]) -> str:
    return style.shape_text(shape[0], shape[1:]) if len(shape) == 3 else "\u00d7".join(map(str, shape))
