"""``archspec diff``: what changes between two networks, part by part (stem, stages, head)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from .model import Report
from .render import Column, Table, delta, exact_delta, human, plain, ratio

COMPARED = ("units", "out_channels", "inner_channels", "params", "macs")
DROP_DELTA, DROP_RATIO = 30, 40  # on a narrow terminal (fit.py): deltas go first, ratios next


@dataclass(frozen=True)
class PartDiff:
    """One part of both networks; ``a`` or ``b`` is None where only one network has it."""

    part: str
    a: dict[str, int | None] | None
    b: dict[str, int | None] | None

    def _pair(self, key: str) -> tuple[int, int] | None:
        """Both values, or None where a network lacks the part or the figure (inner width)."""
        if self.a is None or self.b is None or self.a[key] is None or self.b[key] is None:
            return None
        return self.a[key], self.b[key]  # type: ignore[return-value]

    def delta(self, key: str) -> int | None:
        pair = self._pair(key)
        return None if pair is None else pair[1] - pair[0]

    def ratio(self, key: str) -> float | None:
        pair = self._pair(key)
        return None if pair is None or not pair[0] else pair[1] / pair[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part, "a": self.a, "b": self.b,
            "delta": {k: self.delta(k) for k in COMPARED},
            "ratio": {k: self.ratio(k) for k in COMPARED},
        }

    def flat(self) -> dict[str, Any]:
        """One table row: ``<key>_a``, ``<key>_b``, ``<key>_delta``, ``<key>_ratio``."""
        row: dict[str, Any] = {"part": self.part}
        for key in COMPARED:
            row[f"{key}_a"] = None if self.a is None else self.a[key]
            row[f"{key}_b"] = None if self.b is None else self.b[key]
            row[f"{key}_delta"] = self.delta(key)
            row[f"{key}_ratio"] = self.ratio(key)
        return row


def _input(report: Report) -> str:
    return "x".join(map(str, (report.in_channels, *report.input_size)))


def _parts(report: Report) -> list[tuple[str, dict[str, int | None]]]:
    def pick(row: Any, units: int) -> dict[str, int | None]:
        return {"units": units, "out_channels": row.out_channels, "inner_channels": row.inner_channels,
                "params": row.params, "macs": row.macs}

    stem, head = report.units[0], report.units[-1]
    parts = [("stem", pick(stem, 1))]
    parts += [(f"stage {s.index}", pick(s, s.units)) for s in report.stages]
    parts.append(("head", pick(head, 1)))
    return parts


@dataclass(frozen=True)
class Diff:
    a: Report
    b: Report

    @property
    def parts(self) -> list[PartDiff]:
        """Stem, stages matched by index, head, then the whole network."""
        pa, pb = _parts(self.a), _parts(self.b)
        body = list(zip_longest(pa[1:-1], pb[1:-1]))
        rows = [PartDiff("stem", pa[0][1], pb[0][1])]
        rows += [PartDiff((x or y)[0], x and x[1], y and y[1]) for x, y in body]
        rows.append(PartDiff("head", pa[-1][1], pb[-1][1]))
        rows.append(PartDiff("total", self._total(self.a), self._total(self.b)))
        return rows

    @staticmethod
    def _total(report: Report) -> dict[str, int | None]:
        return {"units": sum(s.units for s in report.stages), "out_channels": report.final_width,
                "inner_channels": None, "params": report.params, "macs": report.macs}

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a.name, "b": self.b.name, "parts": [p.as_dict() for p in self.parts]}

    def table(self) -> Table:
        """Every figure in one table (CSV): the structure table's columns, then the costs'."""
        structure, costs = self.tables()
        return Table(self.title, [*structure.columns, *costs.columns[1:]], structure.rows, structure.notes + costs.notes,
                     footer=structure.footer)

    def tables(self) -> list[Table]:
        """Two tables that each fit a terminal: structure (units, widths) and costs (params, MACs).

        Headers are two lines (figure, then A, B or the delta), so that columns are as narrow as
        their numbers; on a narrow terminal the deltas give way before the ratios.
        """
        structure = [Column("part", "part", numeric=False)]
        for key, header in (("units", "units"), ("out_channels", "width"), ("inner_channels", "inner")):
            structure += [Column(f"{key}_a", f"{header}\nA", plain), Column(f"{key}_b", f"{header}\nB", plain)]
            if key != "inner_channels":
                structure.append(Column(f"{key}_delta", f"{header}\nB-A", exact_delta, priority=DROP_DELTA))
        costs = [Column("part", "part", numeric=False)]
        for key, header in (("params", "params"), ("macs", "MACs")):
            costs += [Column(f"{key}_a", f"{header}\nA", human), Column(f"{key}_b", f"{header}\nB", human),
                      Column(f"{key}_delta", f"{header}\nB-A", delta, priority=DROP_DELTA),
                      Column(f"{key}_ratio", f"{header}\nB/A", ratio, priority=DROP_RATIO)]
        rows = [p.flat() for p in self.parts]
        structure_notes = ["width: channels leaving the part (total: entering the head); inner: the last inner "
                           "(bottleneck) width in the part; units: body units."]
        cost_notes = []
        if (self.a.in_channels, self.a.input_size) != (self.b.in_channels, self.b.input_size):
            cost_notes.append("A and B are counted at different input sizes: MACs and their ratios include that.")
        return [Table(f"{self.title}: structure", structure, rows[:-1], structure_notes, footer=rows[-1]),
                Table(f"{self.title}: costs", costs, rows[:-1], cost_notes, footer=rows[-1])]

    @property
    def title(self) -> str:
        return f"A = {self.a.name} at {_input(self.a)}, B = {self.b.name} at {_input(self.b)}"
