"""Tables of one report (by unit, by stage) and of several (the comparison a paper prints)."""

from __future__ import annotations

from typing import Any, Sequence

from .counting import ELEMENTWISE_POLICY, EXCLUDED, MACS_POLICY
from .model import Report
from .render import Column, Table, human, plain

SHAPE = [
    Column("in_channels", "in", plain),
    Column("out_channels", "out", plain),
    Column("stride", "stride", plain),
    Column("out_size", "out HxW"),
]
COUNTS = [Column("params", "params"), Column("macs", "MACs"), Column("activations", "activations")]
ELEMENTWISE = [Column("elementwise", "elementwise")]


def policy_notes(report: Report) -> list[str]:
    notes = [MACS_POLICY + "; " + EXCLUDED + "."]
    if report.with_elementwise:
        notes.append(ELEMENTWISE_POLICY + ".")
    return notes


def totals(report: Report) -> dict[str, Any]:
    row: dict[str, Any] = {"name": "total", "part": "total", "params": report.params, "macs": report.macs}
    if report.with_elementwise:
        row["elementwise"] = report.elementwise.total
    return row


def _title(report: Report) -> str:
    h, w = report.input_size
    return (f"{report.name}: {report.params:,} params, {report.macs:,} MACs, {report.flops:,} FLOPs "
            f"at {report.in_channels}x{h}x{w}")


def _extra(report: Report) -> list[Column]:
    return ELEMENTWISE if report.with_elementwise else []


def unit_table(report: Report) -> Table:
    columns = [Column("name", "unit", numeric=False), Column("block", "block", numeric=False),
               *SHAPE, *COUNTS, *_extra(report)]
    rows = [u.as_dict(report.with_elementwise) for u in report.units]
    return Table(_title(report), columns, rows, policy_notes(report), totals(report))


def stage_table(report: Report) -> Table:
    """Stem, each stage, head: the network's shape at a glance."""
    in_out, out_size = SHAPE[:2], SHAPE[3]
    columns = [Column("part", "part", numeric=False), Column("units", "units", plain), *in_out, out_size,
               Column("params", "params"), Column("macs", "MACs"), *_extra(report)]
    flag = report.with_elementwise
    stem, head = report.units[0], report.units[-1]
    rows = [{"part": "stem", "units": 1, **stem.as_dict(flag)}]
    rows += [{"part": f"stage {s.index}", **s.as_dict(flag)} for s in report.stages]
    rows.append({"part": "head", "units": 1, **head.as_dict(flag)})
    return Table(_title(report), columns, rows, policy_notes(report), totals(report))


def comparison_rows(reports: Sequence[Report]) -> list[dict[str, Any]]:
    return [
        {"name": r.name, "input": r.input_size, "depth": r.depth, "params": r.params, "macs": r.macs,
         "final_width": r.final_width, **({"elementwise": r.elementwise.total} if r.with_elementwise else {})}
        for r in reports
    ]


def comparison_table(reports: Sequence[Report]) -> Table:
    """One row per spec: name, depth, params, MACs, final width."""
    columns = [Column("name", "network", numeric=False), Column("input", "input"), Column("depth", "depth", plain),
               Column("params", "params", human), Column("macs", "MACs", human),
               Column("final_width", "final width", plain)]
    if any(r.with_elementwise for r in reports):
        columns.append(Column("elementwise", "elementwise", human))
    return Table("comparison", columns, comparison_rows(reports), policy_notes(reports[0]))
