"""One table, four outputs: a rich terminal table, Markdown, CSV (raw numbers) and JSON.

Views build a :class:`Table` of raw values; each column says how to show its values
to people (``fmt``). CSV and JSON keep the raw values so scripts get exact integers.
Rich is imported only when a terminal table is drawn.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..formatting import exact, human, nbytes, plain

FORMATS = ("table", "json", "markdown", "csv")


def delta(value: Any, show: Callable[[Any], str] = human) -> str:
    """A signed difference (``+1.28M``, ``-74``, ``0``)."""
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + show(value) if value else "0"


def exact_delta(value: Any) -> str:
    """A signed difference of channels or units: always the exact integer (``-1024``, not ``-1.02K``)."""
    return delta(value, plain)


def ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}x"


def raw(value: Any) -> Any:
    """A CSV cell: exact, machine-readable."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return "x".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


@dataclass(frozen=True)
class Column:
    """One column: its key in the rows, its header, how to show a value, and how it gives way
    when a terminal is too narrow (``archspec.complexity.fit``).

    ``priority``: columns are dropped lowest first; None keeps the column at any width.
    ``compact``: a shorter way to show a value (e.g. 25.56M for 25,557,032), used from the
    step ``compact_at`` on, in the same order as the drops. ``short``: a shorter header.
    """

    key: str
    header: str
    fmt: Callable[[Any], str] = exact
    numeric: bool = True
    priority: int | None = None
    compact: Callable[[Any], str] | None = None
    compact_at: int | None = None
    short: str | None = None


@dataclass
class Table:
    title: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)  # the counting policy, shown under the title
    footer: dict[str, Any] | None = None  # a totals row

    def all_rows(self) -> list[dict[str, Any]]:
        return self.rows + ([self.footer] if self.footer else [])


def stacked(tables: Sequence[Table]) -> Table:
    """Several tables as one, a first ``table`` column holding each row's title (for CSV)."""
    columns = [Column("table", "table", numeric=False)]
    for table in tables:
        columns += [c for c in table.columns if c.key not in {k.key for k in columns}]
    rows = [{"table": t.title, **row} for t in tables for row in t.all_rows()]
    return Table("", columns, rows)


def to_rich(table: Table) -> Any:
    """A rich ``Table`` of the rows (title and notes are printed around it, see ``print_rich``).

    The body is one rich row whose cells hold a whole column, one line per row: rows are
    single unwrapped lines, so this draws exactly what one rich row per table row draws,
    at a fifth of the cost (rich lays out every cell separately, which is most of a report's
    time on a few hundred units).
    """
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable()
    for col in table.columns:
        out.add_column(col.header, justify="right" if col.numeric else "left", no_wrap=True)
    if table.rows:
        out.add_row(*(Text("\n".join(col.fmt(row.get(col.key)) for row in table.rows)) for col in table.columns))
    if table.footer:
        out.add_section()
        out.add_row(*(Text(col.fmt(table.footer[col.key]) if col.key in table.footer else "")
                      for col in table.columns), style="bold")
    return out


def print_rich(table: Table, console: Any, width: int | None = None) -> None:
    """Title, table (fitted to ``width`` columns, see ``fit.fit``), policy notes (wrapped at ``width``).

    ``width`` None: the table's natural width, every column. A table that does not fit
    even with every optional column left out is drawn at its natural width too: cells are
    never cut to ``...``. Off a terminal the text is rendered first, then written: a
    reader that stops early raises ``BrokenPipeError`` for the caller to handle (rich
    itself would exit with status 1).
    """
    from rich.console import Console

    from .fit import fit

    fitted = fit(table, width)
    out = console
    if not console.is_terminal or width is None or fitted.width is None or fitted.width > width:
        out = Console(highlight=False, soft_wrap=True, emoji=False, file=io.StringIO(), width=100_000,
                      force_terminal=console.is_terminal, color_system=console.color_system)
    out.print(wrap(table.title, width), style="bold", markup=False)
    out.print(to_rich(fitted.table))
    for note in table.notes + fitted.notes:
        out.print(wrap(note, width), style="dim", markup=False)
    if out is not console:
        console.file.write(out.file.getvalue())


def wrap(text: str, width: int | None) -> str:
    """Prose (a title, a note) broken at word boundaries into lines of at most ``width`` characters;
    ``width`` None: as it is. A word longer than a line (a path) stays whole, on a line of its own."""
    if width is None:
        return text
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                     for line in text.splitlines())


def to_markdown(table: Table, width: int | None = None) -> str:
    """A Markdown table under its title and notes; the notes wrapped at ``width`` (a soft break renders
    as a space), the rows never (a Markdown table row is one line)."""
    lines = [f"### {table.title}", ""]
    lines += [f"{wrap(note, width)}  " for note in table.notes]
    if table.notes:
        lines.append("")
    lines.append("| " + " | ".join(col.header.replace("\n", " ") for col in table.columns) + " |")
    lines.append("|" + "|".join("---:" if col.numeric else "---" for col in table.columns) + "|")
    for row in table.all_rows():
        cells = (col.fmt(row[col.key]) if col.key in row else "" for col in table.columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(col.key for col in table.columns)
    for row in table.all_rows():
        writer.writerow(raw(row.get(col.key)) for col in table.columns)
    return buffer.getvalue()


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
