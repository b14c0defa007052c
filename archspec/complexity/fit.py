"""Tables that fit the terminal: columns give way by priority instead of being cut to ``...``.

Each :class:`~archspec.complexity.render.Column` says how it gives way: a shorter header,
a compact way to show its values (25.56M for 25,557,032) from step ``compact_at`` on, and
the ``priority`` at which it is left out (lowest first; None: never). The steps run in
order of those numbers until the table fits, so a new column slots in by declaring its
numbers, and the rules live with the columns, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from .render import Column, Table

# rich's default box with padding 1: each column adds two spaces and one rule, plus the left edge
PER_COLUMN, EDGE = 3, 1


@dataclass
class Fitted:
    table: Table
    width: int | None  # the drawn table's width in terminal cells (None: not measured, no limit asked for)
    notes: list[str] = field(default_factory=list)  # what was left out or rounded, for the reader


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return max(cell_len(line) for line in text.split("\n"))


def column_width(table: Table, col: Column) -> int:
    """The widest of the column's header lines and cells, as ``col`` shows them."""
    cells = [col.fmt(row.get(col.key)) for row in table.rows]
    if table.footer:
        cells.append(col.fmt(table.footer[col.key]) if col.key in table.footer else "")
    return max(_cell_len(text) for text in (col.header, *cells))


def drawn_width(widths: list[int]) -> int:
    return sum(widths) + PER_COLUMN * len(widths) + EDGE


def fit(table: Table, width: int | None) -> Fitted:
    """``table`` with headers shortened, values compacted and columns left out, in the columns' order
    of priority, until it is at most ``width`` cells wide (None: as it is, every column)."""
    if width is None:  # nothing to measure: every column, as it is
        return Fitted(table, None)
    widths = {col.key: column_width(table, col) for col in table.columns}
    if drawn_width(list(widths.values())) <= width:
        return Fitted(table, drawn_width(list(widths.values())))
    columns = {col.key: col for col in table.columns}
    for key, col in columns.items():  # shorter headers lose nothing
        if col.short and col.short != col.header:
            columns[key] = replace(col, header=col.short)
            widths[key] = column_width(table, columns[key])
    steps: dict[int, list[tuple[bool, str]]] = {}  # a number's actions happen together
    for col in table.columns:
        if col.compact and col.compact_at is not None:
            steps.setdefault(col.compact_at, []).append((False, col.key))
        if col.priority is not None:
            steps.setdefault(col.priority, []).append((True, col.key))
    dropped, compacted = [], []
    for number in sorted(steps):
        if drawn_width(list(widths.values())) <= width:
            break
        for drop, key in steps[number]:
            if key not in columns:
                continue
            if drop:
                dropped.append(_name(columns.pop(key), table))
                del widths[key]
            else:
                columns[key] = replace(columns[key], fmt=columns[key].compact)
                widths[key] = column_width(table, columns[key])
                compacted.append(_name(columns[key], table))
    notes = []
    if compacted:
        notes.append(f"{', '.join(compacted)} rounded to fit {width} columns (exact: --wide, or -f csv/json)")
    if dropped:
        notes.append(f"left out to fit {width} columns: {', '.join(dropped)} (--wide shows every column)")
    kept = [columns[c.key] for c in table.columns if c.key in columns]
    fitted = Table(table.title, kept, table.rows, table.notes, table.footer)
    return Fitted(fitted, drawn_width(list(widths.values())), notes)


def _name(col: Column, table: Table) -> str:
    """The column's full header on one line, as the reader knows it from ``--wide``."""
    original = next(c for c in table.columns if c.key == col.key)
    return " ".join(original.header.split())
