"""``archspec diff``: what changes between two networks, part by part (stem, stages, head)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from ..plan.describe import block_choices
from ..plan.types import Plan, Unit
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
class OptionDiff:
    """A block choice (kernel, squeeze-excite, groups, activation, an option field) that differs in a part;
    ``a`` or ``b`` is None where that network's part lacks the choice (or the part)."""

    part: str
    option: str
    a: str | None
    b: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"part": self.part, "option": self.option, "a": self.a, "b": self.b}


def _plan_parts(plan: Plan) -> list[tuple[str, tuple[Unit, ...]]]:
    """The same parts as :func:`_parts`, as the Plan's units."""
    return [("stem", (plan.units[0],)), *((f"stage {s.index}", tuple(s.units)) for s in plan.stages),
            ("head", (plan.head,))]


def _part_choices(units: tuple[Unit, ...]) -> dict[str, str]:
    """Each choice over a part's units: one value, the values in order (``ReLU/Hardswish``), or for
    more than three numbers their range (stochastic depth's decaying rate: ``0–0.2``)."""
    seen: dict[str, list[str]] = {}
    for unit in units:
        for key, value in block_choices(unit).items():
            if value not in seen.setdefault(key, []):
                seen[key].append(value)
    return {key: _values(values) for key, values in seen.items()}


def _values(values: list[str]) -> str:
    if len(values) > 3:
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            return "/".join(values)
        return f"{min(numbers):g}–{max(numbers):g}"
    return "/".join(values)


def option_diffs(a: Plan, b: Plan) -> tuple[OptionDiff, ...]:
    """Every block choice that differs between A's and B's parts, matched as :class:`Diff` matches them."""
    pa, pb = _plan_parts(a), _plan_parts(b)
    pairs = [(pa[0], pb[0]), *zip_longest(pa[1:-1], pb[1:-1]), (pa[-1], pb[-1])]
    out: list[OptionDiff] = []
    for x, y in pairs:
        ca, cb = (_part_choices(p[1]) if p else {} for p in (x, y))
        if not (x and y):  # a part only one network has: its block says enough
            ca, cb = ({"block": c["block"]} if c else {} for c in (ca, cb))
        for key in dict.fromkeys([*ca, *cb]):
            if ca.get(key) != cb.get(key):
                out.append(OptionDiff((x or y)[0], key, ca.get(key), cb.get(key)))  # type: ignore[index]
    return tuple(out)


@dataclass(frozen=True)
class Diff:
    """A against B part by part; ``options``: the block choices that differ (:func:`option_diffs`)."""

    a: Report
    b: Report
    options: tuple[OptionDiff, ...] = ()

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
        return {"a": self.a.name, "b": self.b.name, "parts": [p.as_dict() for p in self.parts],
                "options": [o.as_dict() for o in self.options]}

    def table(self) -> Table:
        """Every figure in one table (CSV): the structure table's columns, then the costs', then the block
        choices that differ in each part (``option=value; ...``, A's and B's)."""
        structure, costs = self.tables()[:2]
        rows = [{**row, **self._options_of(row["part"])} for row in structure.rows]
        footer = {**structure.footer, "options_a": "", "options_b": ""} if structure.footer else None
        choices = [Column("options_a", "options\nA", numeric=False), Column("options_b", "options\nB", numeric=False)]
        return Table(self.title, [*structure.columns, *costs.columns[1:], *choices], rows,
                     structure.notes + costs.notes, footer=footer)

    def _options_of(self, part: str) -> dict[str, str]:
        mine = [o for o in self.options if o.part == part]
        return {f"options_{side}": "; ".join(f"{o.option}={getattr(o, side) or '-'}" for o in mine)
                for side in ("a", "b")}

    def options_table(self) -> Table | None:
        """The block choices that differ, one row per part and choice (None when none differ)."""
        if not self.options:
            return None
        columns = [Column("part", "part", numeric=False), Column("option", "option", numeric=False),
                   Column("a", "A", numeric=False), Column("b", "B", numeric=False)]
        rows = [{**o.as_dict(), "a": o.a or "-", "b": o.b or "-"} for o in self.options]
        return Table(f"{self.title}: block options that differ", columns, rows,
                     ["-: the part has no such choice; a/b: the values its units take, in order; x\u2013y: a range."])

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
        if not self.options:
            structure_notes.append("block options (kernel, expansion, squeeze-excite, groups, activation, ...): "
                                   "the same in A and B, part by part.")
        tables = [Table(f"{self.title}: structure", structure, rows[:-1], structure_notes, footer=rows[-1]),
                  Table(f"{self.title}: costs", costs, rows[:-1], cost_notes, footer=rows[-1])]
        options = self.options_table()
        return tables + ([options] if options else [])

    @property
    def title(self) -> str:
        return f"A = {self.a.name} at {_input(self.a)}, B = {self.b.name} at {_input(self.b)}"
