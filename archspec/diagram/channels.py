"""Plan -> DOT: how width grows through one or several networks, on one scale or each on its own.

Each network is a column (a cluster) of nodes from the input down to the head, with a
cluster per stage. A node draws one unit, a run of identical units ("x N") or, under
the node cap, a stretch of similar units; its bar is proportional to its output width
on a scale shared by every network in the picture (or, with ``scale="each"``, each
network's own). Edges carry the tensor shape
(C x H x W); downsampling nodes are tinted and marked with their factor; each residual
node has a self-loop whose style says what its shortcut is. Generic over Plan rows: it
reads only a unit's block, widths, sizes, stride, shortcut and merge. Asked for a
backbone's feature maps (``taps``), the nodes they are taken from get a tap border and a
line naming each map (timm's index, stride, module).
"""

from __future__ import annotations

from itertools import groupby
from typing import Sequence

import graphviz

from ..formatting import human
from ..plan.describe import ACTIVATION, EXPANSION, KERNEL, SE, block_choices, depthwise
from ..plan.features import Feature
from ..plan.types import Plan, Unit
from . import style
from .groups import DEFAULT_MAX_NODES, Group, downsamples, plan_groups


SCALES = ("shared", "each")


def progression(
    plans: Sequence[Plan], collapse: bool = True, max_nodes: int | None = DEFAULT_MAX_NODES, scale: str = "shared",
    taps: Sequence[Sequence[Feature]] | None = None,
) -> graphviz.Digraph:
    """The channel-progression diagram of ``plans``, side by side.

    ``collapse`` merges runs of identical units (and applies ``max_nodes``, the node
    cap); without it every unit gets its own node. ``scale="shared"``: bars on one scale,
    the widest unit of all full length; ``"each"``: every network on its own, so that a
    narrow one beside a DenseNet is not a column of slivers. ``taps``: per plan, the feature
    maps to mark (``FeatureInfo.selected``).
    """
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r}: choose one of {', '.join(SCALES)}")
    widests = [max(u.out_channels for u in p.units if u is not p.head) for p in plans]
    widest = max(widests)
    graph = graphviz.Digraph(
        "progression",
        graph_attr={"rankdir": "TB", "fontname": style.FONT, "nodesep": "0.3", "ranksep": "0.32",
                    "newrank": "true"},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": style.PLAIN_FILL,
                   "fontname": style.FONT, "fontsize": "10", "margin": "0.08,0.04", "color": "#4a5568"},
        edge_attr={"fontname": style.FONT, "fontsize": "8", "fontcolor": style.MUTED, "arrowsize": "0.6",
                   "color": "#4a5568"},
    )
    kinds: set[str] = set()
    for i, (plan, own) in enumerate(zip(plans, widests)):
        groups = plan_groups(plan.units, collapse, max_nodes)
        full = widest if scale == "shared" else own
        marks = tuple(taps[i]) if taps else ()
        kinds |= _draw_network(graph, f"n{i}", plan, groups, style.BAR_POINTS / full, full if scale == "each" else None,
                               marks)
    # the legend is the graph's label: as a node it would share the inputs' rank and push them apart
    graph.attr(label=_legend(sorted(kinds, key=list(style.SHORTCUTS).index), widest if scale == "shared" else None,
                             bool(taps)),
               labelloc="b", labeljust="l")
    return graph


def _draw_network(graph: graphviz.Digraph, prefix: str, plan: Plan, groups: list[Group], scale: float,
                  own_scale: int | None = None, taps: tuple[Feature, ...] = ()) -> set[str]:
    """One network's column; returns the shortcut kinds it drew. ``own_scale``: the width of a
    full bar when this network has a scale of its own (said in its title).

    Edges go in the network's cluster, not a stage's: an edge statement inside a
    subgraph would pull both of its ends into that stage's box.
    """
    kinds: set[str] = set()
    with graph.subgraph(name=f"cluster_{prefix}") as net:
        net.attr(label=_network_title(plan, own_scale), style="rounded", color="#a0aec0", fontname=style.FONT)
        source = f"{prefix}_input"
        net.node(source, style.table([style.text(f"input {style.shape_text(plan.in_channels, plan.input_size)}",
                                                 9, style.MUTED)]), shape="plaintext", style="")
        nodes: list[tuple[str, Group]] = []
        for stage, members in groupby(groups, key=lambda g: g.first.stage):
            if stage is None:
                nodes += [(_draw_node(net, prefix, plan, g, scale, taps), g) for g in members]
                continue
            with net.subgraph(name=f"cluster_{prefix}_stage{stage}") as box:
                box.attr(label=_stage_title(plan, stage), style="rounded,dashed", color="#cbd5e0",
                         fontsize="10", labeljust="l")
                nodes += [(_draw_node(box, prefix, plan, g, scale, taps), g) for g in members]
        shape = ""
        for node, group in nodes:
            net.edge(source, node, label=f" {shape}" if shape else "")
            kind = group.shortcut
            if kind in style.SHORTCUTS:
                color, line, pen, _ = style.SHORTCUTS[kind]
                net.edge(node, node, color=color, style=line, penwidth=pen, arrowsize="0.5",
                         tailport="e", headport="e")
                kinds.add(kind)
            source, shape = node, style.shape_text(group.last.out_channels, group.last.out_size)
    return kinds


def _draw_node(graph: graphviz.Digraph, prefix: str, plan: Plan, group: Group, scale: float,
               taps: tuple[Feature, ...] = ()) -> str:
    node = f"{prefix}_{group.first.name.replace('.', '_')}"
    tinted = downsamples(group.first) > 1 and group.first is not plan.head
    names = {u.name for u in group.units}
    here = [f for f in taps if f.unit in names]
    label = _unit_label(plan, group, scale, [_tap_text(f, group) for f in here])
    marked = {"color": style.TAP_COLOR, "penwidth": "2.2"} if here else {}
    graph.node(node, label, fillcolor=style.DOWNSAMPLE_FILL if tinted else style.PLAIN_FILL, **marked)
    return node


def _tap_text(feature: Feature, group: Group) -> str:
    """``◆ feature 1 · /4 · stages.0``; a map taken inside a merged node also says after which unit."""
    where = feature.module
    if feature.unit != group.last.name and feature.unit != "stem":
        where += f" (after {feature.unit})"
    return style.text(f"\u25c6 feature {feature.index} \u00b7 /{feature.reduction} \u00b7 {where}", 9, style.TAP_COLOR,
                      bold=True)


def _unit_label(plan: Plan, group: Group, scale: float, marks: Sequence[str] = ()) -> str:
    first = group.first
    if first is plan.head:
        return style.table([style.text(f"head · {first.block}", 10, bold=True),
                            style.text(f"{first.in_channels} \u2192 {plan.classes} classes", 9, style.MUTED)])
    title = style.text(_names(group), 10, bold=True) + " " + style.text(first.block, 9, style.MUTED)
    if group.count > 1:
        count = f"\u00d7{group.count}" if group.identical else f"{group.count} units"
        title += "  " + style.text(count, 10, "#1a365d", bold=True)
    factor = downsamples(first)
    if factor > 1:
        title += "  " + style.text(f"\u2193{factor}", 10, "#c53030", bold=True)
    low, high = group.widths
    rows = [title, style.text(_details(group), 9, style.MUTED)]
    choices = choices_text(group.units)
    if choices:
        rows.append(style.text(choices, 9, style.CHOICES))
    return style.table([*rows, style.bar(low, high, scale), *marks])


def _names(group: Group) -> str:
    """``stages.1.4`` or ``stages.1.4-9`` (the span of a group within its stage)."""
    first, last = group.first, group.last
    return first.name if group.count == 1 else f"{first.name}\u2013{last.index}"


def _details(group: Group) -> str:
    first, last = group.first, group.last
    low, high = group.widths
    cin, cout = first.in_channels, last.out_channels
    parts = [f"{cout} ch" if cin == cout and low == high else f"{cin}\u2192{cout} ch"]
    if first.inner_channels and first.inner_channels != cout:
        parts.append(f"inner {first.inner_channels}" + (f"\u2192{last.inner_channels}"
                                                        if last.inner_channels != first.inner_channels else ""))
    if first.groups > 1 and not depthwise(first):
        parts.append(f"groups {first.groups}")
    if group.shortcut in ("zero_pad", "projection"):
        names = sorted({u.shortcut for u in group.units} - {"identity"})
        parts.append(" / ".join(names))
    elif group.shortcut == "none" and first.merge == "concat":
        parts.append("branches concatenated")
    return " · ".join(parts)


def choices_text(units: Sequence[Unit]) -> str:
    """The block's kernel, expansion, squeeze-excite and activation (where it has them), e.g.
    ``5×5 dw · expand ×6 · SE 10 ch · SiLU``; a value that varies over ``units`` lists each, in order.
    Body units only: a stem's activation or a head's says little beside their layers."""
    seen: dict[str, list[str]] = {}
    for unit in (u for u in units if u.stage is not None):
        for key, value in block_choices(unit).items():
            if key in (KERNEL, EXPANSION, SE, ACTIVATION) and value not in seen.setdefault(key, []):
                seen[key].append(value)
    if seen.get(SE) == ["none"]:
        del seen[SE]
    if not seen:
        return ""
    words = {KERNEL: "{} dw" if depthwise(units[0]) else "{} conv", EXPANSION: "expand {}", SE: "SE {}",
             ACTIVATION: "{}"}
    return " \u00b7 ".join(words[key].format("/".join(values)) for key, values in seen.items() if values)


def _network_title(plan: Plan, own_scale: int | None = None) -> str:
    depth = f"depth {plan.depth} · " if plan.depth else ""
    rows = [
        style.text(plan.name, 12, bold=True),
        style.text(f"{depth}{human(plan.params)} params · {human(plan.macs)} MACs", 9, style.MUTED),
    ]
    if own_scale is not None:
        rows.append(style.text(f"bar scale: full length = {own_scale} channels", 9, style.MUTED))
    return style.table(rows)


def _stage_title(plan: Plan, index: int) -> str:
    stage = next(s for s in plan.stages if s.index == index)
    sizes = [stage.units[0].in_size, stage.out_size]
    # a stage that downsamples at its end (a DenseNet transition) shows both sizes
    if downsamples(stage.units[0]) > 1 or sizes[0] == sizes[1]:
        sizes = sizes[1:]
    return f"stage {index} · {len(stage.units)} units · " + " \u2192 ".join(f"{h}\u00d7{w}" for h, w in sizes)


def _legend(kinds: list[str], widest: int | None, taps: bool = False) -> str:
    """``widest`` None: each network has its own bar scale, given in its title."""
    samples = {"solid": "\u2500\u2500\u2500", "dashed": "\u2012 \u2012 \u2012", "bold": "\u2501\u2501\u2501",
               "dotted": "\u00b7\u00b7\u00b7\u00b7\u00b7"}
    rows = [style.text("legend", 10, bold=True)]
    for kind in kinds:
        color, line, _, meaning = style.SHORTCUTS[kind]
        rows.append(style.text(samples[line], 10, color, bold=True) + "  " + style.text(f"loop: {meaning}", 9))
    rows += [
        style.text("\u2193N  downsampling unit (tinted): spatial size / N", 9),
        style.text("\u00d7N  N identical consecutive units", 9),
        style.text("k units: similar units merged (node cap); light bar = widths they reach", 9),
        *([style.text(f"bar: output channels, one scale for all; full length = {widest}", 9),
           style.bar(widest, widest, style.BAR_POINTS / widest)] if widest else
          [style.text("bar: output channels, each network on its own scale (in its title)", 9)]),
        style.text("edges: C\u00d7H\u00d7W", 9),
        *([style.text("\u25c6 feature i  a backbone's map i (features_only; timm's index), /stride", 9,
                      style.TAP_COLOR)] if taps else []),
    ]
    return style.table(rows)
