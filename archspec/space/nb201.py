"""NAS-Bench-201 cell strings (Dong & Yang 2020) to specs: a small parser, no eval.

The benchmark names each of its 15,625 networks by its cell, written as xautodl writes it:

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

three nodes joined by ``+``; node j lists one ``|op~i|`` per earlier node i = 0..j-1. The six
edges are the parameters ``e{j}_{i}`` of the bundled block ``nb201_cell`` (blocks/nb201_cell.yaml),
and the network around the cell is the bundled spec ``nas-bench-201`` (xautodl's ``infer.tiny``,
C=16, N=5). A cell becomes a spec that extends that one and sets the six edges, so the spec
text :func:`cell_spec_text` writes is exactly what :func:`cell_spec` loads.

The parser is strict where xautodl's ``str2structure`` is lenient: the edges of a node come in
the order of their inputs, every earlier node once, so a string names one cell and one
parameter per edge. Whatever is wrong is one :class:`CellError` paragraph: where (column),
what was found, and what a cell string is.
"""

from __future__ import annotations

import difflib
from typing import Mapping

from ..spec.errors import shown

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ("e1_0", "e2_0", "e2_1", "e3_0", "e3_1", "e3_2")  # the cell string's order: node 1 | node 2 | node 3
BASE = "nas-bench-201"  # the bundled spec a cell's spec extends
MAX_LENGTH = 400  # characters of a cell string (the longest valid one has 115)
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
FORM = (f"A NAS-Bench-201 cell string is three nodes joined by `+`, node j (1 to 3) listing one `|op~i|` per "
        f"earlier node i = 0..j-1 in that order, e.g. {EXAMPLE}; an op is one of {', '.join(OPS)}.")


class CellError(ValueError):
    """A string that is not a NAS-Bench-201 cell: one paragraph, saying where and what is allowed."""


def parse_cell(text: str) -> dict[str, str]:
    """The six edges of a cell string, ``{"e1_0": op, ...}`` in the string's order."""
    if not isinstance(text, str):
        raise CellError(f"a cell string is text, not {type(text).__name__}. {FORM}")
    if len(text) > MAX_LENGTH:
        raise CellError(f"this cell string has {len(text):,} characters; one has at most {MAX_LENGTH}. {FORM}")
    cell = text.strip()
    if not cell:
        raise CellError(f"the cell string is empty. {FORM}")
    start = len(text) - len(text.lstrip())
    nodes = cell.split("+")
    if len(nodes) != 3:
        raise CellError(f"{shown(cell, 60)} has {len(nodes)} node{'s' * (len(nodes) != 1)} (parts between `+`), "
                        f"not 3. {FORM}")
    edges: dict[str, str] = {}
    column = start
    for j, node in enumerate(nodes, start=1):
        if not (len(node) >= 2 and node.startswith("|") and node.endswith("|")):
            raise CellError(f"node {j} at column {column + 1}, {shown(node, 60)}, does not start and end with `|`. "
                            f"{FORM}")
        parts = node[1:-1].split("|")
        if len(parts) != j:
            raise CellError(f"node {j} at column {column + 1}, {shown(node, 60)}, has {len(parts)} "
                            f"edge{'s' * (len(parts) != 1)}; node {j} has {j}, one from each of nodes "
                            f"{', '.join(map(str, range(j)))}. {FORM}")
        at = column + 1
        for i, part in enumerate(parts):
            edges[f"e{j}_{i}"] = _edge(part, i, j, at)
            at += len(part) + 1
        column += len(node) + 1
    return edges


def _edge(part: str, i: int, j: int, column: int) -> str:
    """One ``op~i`` of node j, which must read node i."""
    op, tilde, source = part.partition("~")
    where = f"edge {shown(part, 40)} at column {column + 1} (node {j}'s edge from node {i})"
    if not tilde:
        raise CellError(f"{where} has no `~`: an edge is `op~i`, the op and the node it reads. {FORM}")
    if op not in OPS:
        close = difflib.get_close_matches(op, OPS, n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else "."
        raise CellError(f"{where}: {shown(op, 40)} is not an op{hint} {FORM}")
    if source != str(i):
        raise CellError(f"{where} reads node {shown(source, 20)}; node {j}'s edges read nodes "
                        f"{', '.join(map(str, range(j)))}, in that order, so this one reads {i}. {FORM}")
    return op


def cell_string(edges: Mapping[str, str]) -> str:
    """The cell string of six edges (the inverse of :func:`parse_cell`)."""
    missing = [e for e in EDGES if edges.get(e) not in OPS]
    if missing:
        raise CellError(f"edges {', '.join(missing)} are not given as one of {', '.join(OPS)}. {FORM}")
    node = lambda j: "|" + "|".join(f"{edges[f'e{j}_{i}']}~{i}" for i in range(j)) + "|"  # noqa: E731
    return "+".join(node(j) for j in (1, 2, 3))


def cell_spec_text(text: str) -> str:
    """The spec of a cell, as YAML: the bundled ``nas-bench-201`` with the cell's six edges set and
    its reference figures (those of its own cell) dropped."""
    edges = parse_cell(text)
    cell = cell_string(edges)
    block = ", ".join(f"{e}: {op}" for e, op in edges.items())
    return (f"# NAS-Bench-201, cell {cell}\n"
            f"# written by `archspec nb201`; the network around the cell is the bundled spec {BASE}.\n"
            f"extends: {BASE}\n"
            f"description: NAS-Bench-201 network with cell {cell} (xautodl's infer.tiny, C=16, N=5).\n"
            f"body:\n  block: {{{block}}}\n"
            "reference: null   # the bundled spec's figures are its own cell's\n")


def cell_spec(text: str):  # -> Spec (imported late: the space layer's loaders are not needed to parse)
    """The validated spec of a cell string."""
    from ..spec.loader import load_text

    return load_text(cell_spec_text(text), "<nb201 cell>")
