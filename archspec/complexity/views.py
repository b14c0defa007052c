"""Tables of one report (by unit, by stage) and of several (the comparison a paper prints)."""

from __future__ import annotations

from typing import Any, Sequence

from ..plan.regnet import describe as describe_regnet
from .counting import AUX_POLICY, ELEMENTWISE_POLICY, EXCLUDED, MACS_POLICY, WINDOW_ATTENTION_POLICY, attention_note
from .model import Report
from .model import MEMORY_POLICY
from .policies import describe
from .render import Column, Table, human, nbytes, plain

# How columns give way on a narrow terminal (fit.py): lowest number first; a column without a
# priority is always shown. Counts are rounded (compact) before any shape column goes.
DROP_SCALING, DROP_ACTIVATIONS, DROP_INFER_PEAK, DROP_TRAIN_SAVED, DROP_STRIDE, DROP_ELEMENTWISE = 10, 20, 22, 25, 30, 35
COMPACT_COUNTS, DROP_OUT_SIZE, DROP_IN, DROP_BLOCK, DROP_OUT = 40, 50, 60, 70, 80

SHAPE = [
    Column("in_channels", "in", plain, priority=DROP_IN),
    Column("out_channels", "out", plain, priority=DROP_OUT),
    Column("stride", "stride", plain, priority=DROP_STRIDE),
    Column("out_size", "out HxW", priority=DROP_OUT_SIZE, short="HxW"),
]
COUNTS = [Column("params", "params", compact=human, compact_at=COMPACT_COUNTS),
          Column("macs", "MACs", compact=human, compact_at=COMPACT_COUNTS),
          Column("activations", "activations", priority=DROP_ACTIVATIONS, short="acts", compact=human,
                 compact_at=COMPACT_COUNTS)]
ELEMENTWISE = [Column("elementwise", "elementwise", priority=DROP_ELEMENTWISE, short="elem.", compact=human,
                      compact_at=COMPACT_COUNTS)]
MEMORY = [Column("train_saved_bytes", "train saved", nbytes, priority=DROP_TRAIN_SAVED, short="saved"),
          Column("infer_peak_bytes", "infer peak", nbytes, priority=DROP_INFER_PEAK, short="peak")]


def policy_notes(report: Report, one_network: bool = True) -> list[str]:
    """The counting rules in words; ``one_network=False`` (a comparison) states memory's layout, not its figures."""
    if report.policy == "archspec":
        notes = [MACS_POLICY + "; " + EXCLUDED + "."]
    else:
        notes = [f"MACs as {report.policy} counts them: {describe(report.policy)}"]
    if report.memory is not None:
        m = report.memory.layout
        notes.append(memory_note(report) if one_network else
                     f"memory at batch {m.batch}, {m.dtype} ({m.device} kernels): " + MEMORY_POLICY.split(": ", 1)[1] + ".")
    if report.with_elementwise:
        notes.append(ELEMENTWISE_POLICY + ".")
    if report.aux is not None:
        notes.append(AUX_POLICY + ".")
    if report.attention:
        note = attention_note(report.attention)
        notes.append(note[0].upper() + note[1:] + ".")
    if report.window_attention:
        notes.append(WINDOW_ATTENTION_POLICY[0].upper() + WINDOW_ATTENTION_POLICY[1:] + ".")
    notes += [note[0].upper() + note[1:] + "." for note in report.resolution_notes]
    return notes + scaling_notes(report)


def memory_note(report: Report) -> str:
    m = report.memory
    assert m is not None
    return (f"memory at batch {m.layout.batch}, {m.layout.dtype} ({m.layout.device} kernels): weights {nbytes(m.params_bytes)}; "
            f"a training step saves {nbytes(m.train_saved_bytes)} for backward ({nbytes(m.train_step_bytes)} with "
            f"weights, grads and SGD momentum); inference peak {nbytes(m.infer_peak_bytes)} of live activations. "
            + MEMORY_POLICY.split(": ", 1)[1] + ".")


def scaling_notes(report: Report) -> list[str]:
    """Compound scaling in words: the coefficients, how many widths were rounded, the units per stage."""
    widths = [u.scaling for u in report.units if u.scaling and "width" in u.scaling]
    depths = {u.stage: u.scaling for u in report.units if u.scaling and "depth_mult" in u.scaling}
    notes = []
    if widths:
        rounded = sum(r["raw_width"] != r["width"] for r in widths)
        notes.append(f"compound scaling: widths x {widths[0]['width_mult']:g} rounded to a multiple of "
                     f"{widths[0]['divisor']} (never more than 10 % down), {rounded} of {len(widths)} rounded "
                     "(column 'scaled width': base x mult = raw -> width)")
    if depths:
        depth = next(iter(depths.values()))["depth_mult"]
        notes.append(f"units per stage x {depth:g} rounded up: "
                     + ", ".join(f"{r['base_units']}->{r['units']}" for r in depths.values()))
    squeezes = [u.scaling for u in report.units if u.scaling and "se_channels" in u.scaling]
    if squeezes:  # MobileNetV3's SE widths (plan/mobilenet.py)
        rounded = sum(r["se_raw"] != r["se_channels"] for r in squeezes)
        notes.append(f"squeeze-excite widths: expanded // {squeezes[0]['se_reduction']} rounded to a multiple of "
                     f"{squeezes[0]['se_divisor']} (at least {squeezes[0]['se_divisor']}, never more than 10 % down), {rounded} of {len(squeezes)} rounded "
                     "(column 'scaled width')")
    return notes + regnet_notes(report)


def regnet_notes(report: Report) -> list[str]:
    """RegNet's quantized linear rule in words: the parameters, the stages it gave, each width's adjustment."""
    records = [u.scaling for u in report.units if u.scaling and u.scaling.get("rule") == "regnet"]
    if not records:
        return []
    first = records[0]
    stages: dict[int, list] = {}
    for r in records:
        stages.setdefault(r["quantized"], []).append(r)
    widths = ", ".join(f"{len(rs)} x {rs[0]['quantized']}" + (f" -> {rs[0]['adjusted']}" if rs[0]['adjusted'] != rs[0]['quantized'] else "")
                       for rs in stages.values())
    return [f"regnet widening: unit i gets w0 + wa x i = {first['w0']} + {first['wa']:g} i, snapped to "
            f"w0 x wm^round(log(u / w0) / log(wm)) with wm = {first['wm']:g} and rounded to a multiple of "
            f"{first['quantum']} (float32, halves to even, as torchvision); runs of equal widths are the stages: "
            f"{widths} (-> the width fitted to the group width) (column 'width rule')"]


def scaled_width(record: Any) -> str:
    """A unit's width rounding: ``32 x 1.1 = 35.2 -> 40``, RegNet's rule (plan/regnet.py), or an SE
    width's: ``SE 72 // 4 = 18 -> 24`` (plan/mobilenet.py)."""
    if record and record.get("rule") == "regnet":
        return describe_regnet(record)
    parts = []
    if record and "width" in record:
        parts.append(f"{record['base_width']} x {record['width_mult']:g} = {record['raw_width']:g} -> {record['width']}")
    if record and "se_channels" in record:
        parts.append(f"SE {record['se_base']} // {record['se_reduction']} = {record['se_raw']} -> {record['se_channels']}")
    return "; ".join(parts) or "-"


def totals(report: Report) -> dict[str, Any]:
    row: dict[str, Any] = {"name": "total", "part": "total", "params": report.params, "macs": report.macs}
    if report.memory is not None:
        row["train_saved_bytes"] = report.memory.train_saved_bytes
        row["infer_peak_bytes"] = report.memory.infer_peak_bytes
    if report.with_elementwise:
        row["elementwise"] = report.elementwise.total
    return row


def _title(report: Report) -> str:
    h, w = report.input_size
    whose = "" if report.policy == "archspec" else f" ({report.policy}'s count)"
    return (f"{report.name}: {report.params:,} params, {report.macs:,} MACs, {report.flops:,} FLOPs{whose} "
            f"at {report.in_channels}x{h}x{w}")


def _extra(report: Report) -> list[Column]:
    return ELEMENTWISE if report.with_elementwise else []


def unit_table(report: Report) -> Table:
    columns = [Column("name", "unit", numeric=False), Column("block", "block", numeric=False, priority=DROP_BLOCK),
               *SHAPE, *COUNTS, *MEMORY, *_extra(report)]
    if any(u.scaling for u in report.units):
        regnet = any(u.scaling.get("rule") == "regnet" for u in report.units if u.scaling)
        columns.append(Column("scaling", "width rule" if regnet else "scaled width", scaled_width, priority=DROP_SCALING))
    rows = [u.as_dict(report.with_elementwise) for u in report.rows]
    return Table(_title(report), columns, rows, policy_notes(report), totals(report))


def feature_table(report: Report) -> Table:
    """The backbone's maps (``build(..., features_only=True)``): timm's index, module, width, stride, size."""
    columns = [Column("index", "feature", plain), Column("module", "module", numeric=False),
               Column("num_chs", "channels", plain), Column("reduction", "reduction", plain),
               Column("size", "HxW")]
    rows = [f.as_dict() for f in report.features]
    notes = ["one map per reduction level, the deepest there, as timm's features_only numbers them; "
             "build(spec, features_only=True, out_indices=...) returns them, "
             f"archspec build --features-only -e onnx exports them (HxW at {report.input_size[0]}x{report.input_size[1]})."]
    return Table(f"{report.name}: feature maps", columns, rows, notes)


def stage_table(report: Report) -> Table:
    """Stem, each stage, head: the network's shape at a glance."""
    in_out, out_size = SHAPE[:2], SHAPE[3]
    columns = [Column("part", "part", numeric=False), Column("units", "units", plain), *in_out, out_size,
               *COUNTS[:2], *MEMORY, *_extra(report)]
    flag = report.with_elementwise
    stem, head = report.units[0], report.units[-1]
    rows = [{"part": "stem", "units": 1, **stem.as_dict(flag)}]
    rows += [{"part": f"stage {s.index}", **s.as_dict(flag)} for s in report.stages]
    rows.append({"part": "head", "units": 1, **head.as_dict(flag)})
    rows += [{"part": aux.name, "units": 1, **aux.as_dict(flag)} for aux in report.aux or ()]
    return Table(_title(report), columns, rows, policy_notes(report), totals(report))


def comparison_rows(reports: Sequence[Report]) -> list[dict[str, Any]]:
    return [
        {"name": r.name, "input": r.input_size, "depth": r.depth, "params": r.params, "macs": r.macs,
         "final_width": r.final_width, **({"elementwise": r.elementwise.total} if r.with_elementwise else {}),
         **({"train_saved_bytes": r.memory.train_saved_bytes, "infer_peak_bytes": r.memory.infer_peak_bytes}
            if r.memory is not None else {})}
        for r in reports
    ]


def comparison_table(reports: Sequence[Report]) -> Table:
    """One row per spec: name, depth, params, MACs, final width."""
    columns = [Column("name", "network", numeric=False), Column("input", "input", priority=DROP_OUT_SIZE),
               Column("depth", "depth", plain, priority=DROP_IN), Column("params", "params", human),
               Column("macs", "MACs", human), Column("final_width", "final width", plain, priority=DROP_STRIDE,
                                                     short="width"), *MEMORY]
    if any(r.with_elementwise for r in reports):
        columns.append(Column("elementwise", "elementwise", human, priority=DROP_ELEMENTWISE, short="elem."))
    return Table("comparison", columns, comparison_rows(reports), policy_notes(reports[0], one_network=False))
