"""``archspec report`` / ``diff`` / ``archspec.report()``: data, formats, errors, no torch."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.complexity import elementwise, make_report
from archspec.plan.ops import Conv, Linear, Norm
from archspec.plan.types import Unit
from conftest import ROOT, SPECS

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


# -- the data -------------------------------------------------------------------------


def test_json_schema_holds_the_documented_fields() -> None:
    data = archspec.report(SPECS / "resnet-50.yaml")
    assert {"name", "input", "params", "macs", "flops", "stages", "units"} <= data.keys()
    assert data["input"] == {"channels": 3, "size": [224, 224]}
    assert data["flops"] == 2 * data["macs"]
    for stage in data["stages"]:
        assert {"index", "units", "out_channels", "out_size", "params", "macs"} <= stage.keys()
    for unit in data["units"]:
        assert {"name", "stage", "index", "block", "in_channels", "out_channels", "stride", "out_size",
                "params", "macs"} <= unit.keys()
    assert json.loads(json.dumps(data)) == data


def test_report_rows_follow_the_plan_and_add_up() -> None:
    plan = archspec.plan(SPECS / "resnet-50.yaml")
    data = archspec.report(SPECS / "resnet-50.yaml")
    assert [u["name"] for u in data["units"]] == [u.name for u in plan.units]
    assert [s["units"] for s in data["stages"]] == [3, 4, 6, 3]
    assert [s["out_channels"] for s in data["stages"]] == [256, 512, 1024, 2048]
    assert [s["out_size"] for s in data["stages"]] == [[56, 56], [28, 28], [14, 14], [7, 7]]
    for stage in data["stages"]:
        rows = [u for u in data["units"] if u["stage"] == stage["index"]]
        assert stage["params"] == sum(u["params"] for u in rows)
        assert stage["macs"] == sum(u["macs"] for u in rows)
    assert data["params"] == sum(u["params"] for u in data["units"]) == plan.params
    assert data["macs"] == sum(u["macs"] for u in data["units"]) == plan.macs
    first = data["units"][1]
    assert (first["name"], first["in_channels"], first["out_channels"], first["stride"]) == ("stages.0.0", 64, 256, 1)
    assert data["units"][0]["stage"] is None and data["units"][-1]["stage"] is None


def test_api_matches_cli_json() -> None:
    result = cli("report", SPECS / "wrn-16-4.yaml", "--format", "json", "--input-size", "40")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == archspec.report(SPECS / "wrn-16-4.yaml", input_size=40)


def test_api_name_is_not_shadowed_by_the_package() -> None:
    import archspec.complexity.verify  # noqa: F401  (importing the package must not replace the function)

    assert callable(archspec.report)


# -- elementwise ops: derived from the rows, checked against the layouts by hand ------------


def test_elementwise_counts_follow_the_layout() -> None:
    data = archspec.report(SPECS / "resnet-20.yaml", elementwise=True)
    units = {u["name"]: u for u in data["units"]}
    # basic unit at 16x32x32: two BNs and one residual add, one op per element each
    assert units["stages.0.0"]["elementwise"] == 3 * 16 * 32 * 32
    # head: global average pool reads 64x8x8, the FC's bias adds 10
    assert units["head"]["elementwise"] == 64 * 8 * 8 + 10
    assert data["elementwise"]["total"] == sum(u["elementwise"] for u in data["units"])
    assert data["macs"] == archspec.report(SPECS / "resnet-20.yaml")["macs"]  # MACs are unchanged
    stem = archspec.report(SPECS / "resnet-18.yaml", elementwise=True)["units"][0]
    assert stem["elementwise"] == 64 * 112 * 112 * 2  # BN output + the max-pool reading it


def test_elementwise_is_generic_over_unit_rows() -> None:
    """Units of families to come (concat merges, parameter-free pooling units) count by the same rules."""
    conv = Conv("conv", 64, 32, 3, (8, 8), bias=True)
    dense = Unit("stages.0.3", 0, 3, "dense", 64, 96, (8, 8), (8, 8), merge="concat",
                 ops=(Norm("bn", 64, (8, 8)), conv))
    assert elementwise(dense).as_dict() == {"norm": 64 * 64, "bias": 32 * 64, "scale": 0, "add": 0, "pool": 0,
                                         "total": 6144}
    pool = Unit("stages.1.0", 1, 0, "maxpool", 128, 128, (16, 16), (8, 8), stride=2)
    assert elementwise(pool).pool == 128 * 16 * 16
    transition = Unit("stages.0.9", 0, 9, "transition", 64, 32, (16, 16), (8, 8),
                      ops=(Norm("bn", 64, (16, 16)), Conv("conv", 64, 32, 1, (16, 16), padding=0)))
    assert elementwise(transition).pool == 32 * 16 * 16


# -- formats ------------------------------------------------------------------------


def test_csv_has_exact_numbers_per_unit_and_a_total() -> None:
    result = cli("report", SPECS / "resnet-20.yaml", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    data = archspec.report(SPECS / "resnet-20.yaml")
    assert [r["name"] for r in rows] == [u["name"] for u in data["units"]] + ["total"]
    assert [int(r["macs"]) for r in rows[:-1]] == [u["macs"] for u in data["units"]]
    assert int(rows[-1]["params"]) == data["params"] == 269_722
    assert rows[3]["out_size"] == "32x32"


def test_markdown_by_stage() -> None:
    result = cli("report", SPECS / "resnet-56.yaml", "--format", "markdown", "--by", "stage")
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + 5 + 1  # header, rule, stem + 3 stages + head, total
    assert lines[3].split("|")[1].strip() == "stage 0"
    assert "853,018" in lines[-1] and "FLOPs = 2 x MACs" in result.stdout


def test_terminal_table_states_the_policy_and_the_totals() -> None:
    result = cli("report", SPECS / "resnet-110.yaml")
    assert result.exit_code == 0
    assert "1,727,962" in result.stdout and "stages.2.17" in result.stdout
    assert "multiply-accumulates of conv and linear layers" in result.stdout
    assert "norms (BN, LayerNorm), activations, layer scales, pooling, residual adds and biases are not in the MACs" \
        in result.stdout


def test_several_specs_give_a_comparison() -> None:
    paths = [SPECS / f for f in ("resnet-20.yaml", "wrn-28-10.yaml", "pyramidnet.yaml")]
    rows = list(csv.DictReader(io.StringIO(cli("report", *paths, "-f", "csv").stdout)))
    assert [r["name"] for r in rows] == ["resnet-20", "wrn-28-10", "pyramidnet-110-a48"]
    assert [int(r["depth"]) for r in rows] == [20, 28, 110]
    assert [int(r["final_width"]) for r in rows] == [64, 640, 16 + 48]  # pyramidnet: stem width 16 + alpha 48
    assert [int(r["params"]) for r in rows] == [archspec.plan(p).params for p in paths]
    assert [d["name"] for d in json.loads(cli("report", *paths, "-f", "json").stdout)] == [r["name"] for r in rows]
    table = cli("report", *paths).stdout
    assert "36.48M" in table and "5.243G" in table


def test_diff_per_stage_with_deltas_and_ratios() -> None:
    result = cli("diff", SPECS / "resnet-56.yaml", SPECS / "resnet-110.yaml", "-f", "json")
    parts = {p["part"]: p for p in json.loads(result.stdout)["parts"]}
    assert list(parts) == ["stem", "stage 0", "stage 1", "stage 2", "head", "total"]
    s1 = parts["stage 1"]
    assert (s1["a"]["units"], s1["b"]["units"], s1["delta"]["units"]) == (9, 18, 9)
    assert s1["delta"]["params"] == s1["b"]["params"] - s1["a"]["params"]
    assert s1["ratio"]["macs"] == pytest.approx(s1["b"]["macs"] / s1["a"]["macs"])
    assert parts["total"]["delta"]["params"] == 1_727_962 - 853_018
    assert parts["stem"]["delta"] == {"units": 0, "out_channels": 0, "inner_channels": None, "params": 0, "macs": 0}


def test_diff_of_different_stage_counts() -> None:
    result = cli("diff", SPECS / "resnet-20.yaml", SPECS / "resnet-18.yaml", "-f", "csv")
    rows = {r["part"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["stage 3"]["units_a"] == "" and rows["stage 3"]["units_b"] == "2"
    assert rows["stage 3"]["params_delta"] == "" and rows["stage 3"]["params_ratio"] == ""
    assert "B/A" in cli("diff", SPECS / "resnet-20.yaml", SPECS / "resnet-18.yaml").stdout


def test_diff_shows_squeeze_excite_where_widths_are_the_same() -> None:
    """ResNet-50 and SE-ResNet-50 have the same widths: the diff names the SE their units differ by."""
    data = json.loads(cli("diff", "resnet-50", "se-resnet-50", "-f", "json").stdout)
    se = archspec.plan(SPECS / "se-resnet-50.yaml")
    expected = [{"part": f"stage {s.index}", "option": "squeeze-excite", "a": "none",
                 "b": "/".join(dict.fromkeys(f"{u.op('se.fc1').cout} ch" for u in s.units))} for s in se.stages]
    assert data["options"] == expected
    assert [o["b"] for o in expected] == ["16 ch", "32 ch", "64 ch", "128 ch"]  # 256/16 ... 2048/16
    table = cli("diff", "resnet-50", "se-resnet-50").stdout
    assert "block options that differ" in table
    assert re.search(r"stage 2\s+.\s+squeeze-excite\s+.\s+none\s+.\s+64 ch", table)
    rows = {r["part"]: r for r in csv.DictReader(io.StringIO(cli("diff", "resnet-50", "se-resnet-50", "-f", "csv").stdout))}
    assert rows["stage 1"]["options_a"] == "squeeze-excite=none" and rows["stage 1"]["options_b"] == "squeeze-excite=32 ch"
    assert rows["stem"]["options_a"] == rows["stem"]["options_b"] == ""


def test_diff_shows_groups_kernel_expansion_and_activation() -> None:
    groups = json.loads(cli("diff", "resnet-50", "resnext-50-32x4d", "-f", "json").stdout)["options"]
    assert {(o["part"], o["option"], o["a"], o["b"]) for o in groups} == {
        (f"stage {i}", "conv groups", "1", "32") for i in range(4)}
    mobile = {(o["part"], o["option"]): (o["a"], o["b"])
              for o in json.loads(cli("diff", "mobilenet-v3-large", "efficientnet-b0", "-f", "json").stdout)["options"]}
    a, b = archspec.plan(SPECS / "mobilenet-v3-large.yaml"), archspec.plan(SPECS / "efficientnet-b0.yaml")
    assert mobile[("stage 2", "activation")] == ("ReLU", "SiLU")
    # a variant: B's body block takes 5x5 kernels and ReLU (stages with a block of their own keep theirs)
    sets = ["--set-b", "body.block.kernel=5", "--set-b", "body.block.act=relu"]
    variant = {(o["part"], o["option"]): (o["a"], o["b"]) for o in json.loads(
        cli("diff", "efficientnet-b0", "efficientnet-b0", *sets, "-f", "json").stdout)["options"]}
    base, other = (archspec.plan(SPECS / "efficientnet-b0.yaml", overrides=o)
                   for o in ([], ["body.block.kernel=5", "body.block.act=relu"]))
    changed = [sa.index for sa, sb in zip(base.stages, other.stages)
               if [u.options.kernel for u in sa.units] != [u.options.kernel for u in sb.units]]
    assert changed and len(changed) < len(base.stages)
    assert variant == {**{(f"stage {i}", "kernel"): ("3\u00d73", "5\u00d75") for i in changed},
                       **{(f"stage {i}", "activation"): ("SiLU", "ReLU") for i in changed}}
    assert mobile[("head", "block")] == (a.head.block, b.head.block)
    assert mobile[("stage 6", "block")] == (None, "mbconv")  # a stage only B has: its block, nothing more
    assert not any(part == "stage 6" and option != "block" for part, option in mobile)


def test_diff_says_when_block_options_are_the_same() -> None:
    data = json.loads(cli("diff", SPECS / "resnet-56.yaml", SPECS / "resnet-110.yaml", "-f", "json").stdout)
    assert data["options"] == []
    table = cli("diff", SPECS / "resnet-56.yaml", SPECS / "resnet-110.yaml").stdout
    assert "the same in A and B, part by part" in table and "block options that differ" not in table


# -- verify ----------------------------------------------------------------------------


def test_verify_passes_on_a_bundled_spec() -> None:
    result = cli("report", SPECS / "resnet-20.yaml", "--verify", "-i", "48,40", "-f", "json")
    assert result.exit_code == 0, result.output
    assert "verified resnet-20" in result.stderr
    assert json.loads(result.stdout)["input"]["size"] == [48, 40]


def test_verify_names_the_unit_whose_macs_differ() -> None:
    """A planner that books a wrong input size for one conv: analytic MACs drift, the module doesn't."""
    from archspec.complexity.verify import verify

    plan = archspec.plan(SPECS / "resnet-20.yaml")
    stage = plan.stages[1]
    unit = stage.units[1]
    wrong = replace(unit, ops=tuple(replace(op, in_size=(32, 32)) if op.path == "conv2" else op for op in unit.ops))
    stages = list(plan.stages)
    stages[1] = replace(stage, units=(stage.units[0], wrong, *stage.units[2:]))
    found = verify(replace(plan, stages=tuple(stages)))
    assert [(m.unit, m.quantity) for m in found] == [("stages.1.1", "MACs"), ("total", "MACs")]
    assert found[0].measured == unit.macs and found[0].analytic == wrong.macs


def test_verify_exits_1_naming_the_unit_whose_params_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    """A builder that adds a layer the Plan does not know."""
    from torch import nn

    from archspec.blocks import graph_unit

    build = graph_unit.build_graph_unit

    def sloppy(unit: Unit) -> nn.Module:
        module = build(unit)
        if unit.name == "stages.2.0":
            module.extra = nn.Linear(4, 4)
        return module

    monkeypatch.setattr(graph_unit, "build_graph_unit", sloppy)
    result = cli("report", SPECS / "resnet-20.yaml", "--verify")
    assert result.exit_code == 1
    analytic = archspec.plan(SPECS / "resnet-20.yaml").unit("stages.2.0").params
    assert f"stages.2.0: analytic params {analytic:,} != measured {analytic + 20:,}" in result.stderr


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["0", "abc", "1,2,3", "-5", "224,", "2.5"])
def test_bad_input_size_exits_2(size: str) -> None:
    result = cli("report", SPECS / "resnet-20.yaml", "--input-size", size)
    assert result.exit_code == 2
    assert "--input-size" in result.stderr and "H,W" in result.stderr
    assert result.stdout == ""


def test_missing_files_exit_2_naming_every_one() -> None:
    result = cli("report", "nope.yaml", SPECS / "resnet-20.yaml", "gone.yaml")
    assert result.exit_code == 2
    assert "nope.yaml: cannot read the spec" in result.stderr and "gone.yaml" in result.stderr
    assert result.stdout == ""
    assert cli("diff", SPECS / "resnet-20.yaml", "nope.yaml").exit_code == 2


def test_an_input_too_small_for_the_strides_exits_2_naming_the_field() -> None:
    result = cli("report", SPECS / "densenet-121.yaml", "--input-size", "16")
    assert result.exit_code == 2
    assert "densenet-121.yaml:" in result.stderr and "stride" in result.stderr and "collapses" in result.stderr
    assert "Traceback" not in result.output


# -- no torch ---------------------------------------------------------------------------


def test_report_and_diff_never_import_torch() -> None:
    script = f"""
import sys
from typer.testing import CliRunner
from archspec.cli import app
import archspec
specs = {str(SPECS)!r}
runner = CliRunner()
for args in (["report", specs + "/resnet-50.yaml", "--elementwise"],
             ["report", specs + "/resnet-20.yaml", "-f", "json", "-i", "64"],
             ["report", specs + "/resnet-20.yaml", specs + "/resnet-56.yaml", "-f", "markdown"],
             ["report", specs + "/resnet-20.yaml", "-f", "csv", "--by", "stage"],
             ["diff", specs + "/resnet-20.yaml", specs + "/resnet-56.yaml"]):
    assert runner.invoke(app, args).exit_code == 0, args
archspec.report(specs + "/wrn-16-4.yaml")
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


def test_report_data_is_built_from_plan_rows_only() -> None:
    """``make_report`` takes any Plan, e.g. one planned at another size, and keeps its rows."""
    plan = archspec.plan(SPECS / "resnet-18.yaml", input_size=(160, 128))
    report = make_report(plan)
    assert report.input_size == (160, 128)
    assert report.units[-2].out_size == (5, 4)


def test_diff_shows_inner_widths() -> None:
    """Wide ResNet-50-2 keeps ResNet-50's outputs and doubles the bottlenecks' inner width."""
    result = cli("diff", SPECS / "resnet-50.yaml", SPECS / "wide-resnet-50-2.yaml", "-f", "json")
    stages = [p for p in json.loads(result.stdout)["parts"] if p["part"].startswith("stage")]
    assert [p["delta"]["out_channels"] for p in stages] == [0, 0, 0, 0]
    assert [(p["a"]["inner_channels"], p["b"]["inner_channels"]) for p in stages] == [
        (64, 128), (128, 256), (256, 512), (512, 1024)]
    assert [p["ratio"]["inner_channels"] for p in stages] == [2.0] * 4


# -- review fixes: debug tracebacks, --set scope, scaling, aux heads, --by, diff inputs, pipes --


@pytest.mark.parametrize("command", [["report"], ["diff", SPECS / "resnet-20.yaml"]])
def test_debug_shows_the_traceback_behind_a_bad_spec(command: list, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((SPECS / "resnet-56.yaml").read_text().replace("depth: 56", "depth: 57"))
    plain, debug = cli(*command, bad), cli("--debug", *command, bad)
    assert plain.exit_code == debug.exit_code == 2
    assert "Traceback" not in plain.output and "body.depth" in plain.stderr
    assert "Traceback" in debug.stderr and "body.depth" in debug.stderr


def test_set_applies_to_every_spec_and_the_notes_say_so() -> None:
    paths = [SPECS / "resnet-20.yaml", SPECS / "resnet-56.yaml"]
    result = cli("report", *paths, "--set", "classes=100", "-f", "markdown")
    assert "--set applied to every spec: classes=100" in result.stdout
    data = json.loads(cli("report", *paths, "--set", "classes=100", "-f", "json").stdout)
    assert [d["classes"] for d in data] == [100, 100]
    assert "every spec" in cli("report", "--help").stdout.replace("\n", " ")


def test_diff_a_spec_against_its_own_variant() -> None:
    spec = SPECS / "pyramidnet.yaml"
    result = cli("diff", spec, spec, "--set-b", "body.widening.alpha=270", "-f", "json")
    assert result.exit_code == 0, result.output
    total = json.loads(result.stdout)["parts"][-1]
    assert total["a"]["params"] == archspec.plan(spec).params
    assert total["b"]["params"] == archspec.plan(spec, overrides=["body.widening.alpha=270"]).params
    assert total["b"]["out_channels"] == 16 + 270
    text = cli("diff", spec, spec, "--set-a", "body.widening.alpha=24", "--set-b", "body.widening.alpha=270").stdout
    assert "--set applied to A: body.widening.alpha=24" in text and "--set applied to B: body.widening.alpha=270" in text


B1 = ["-s", "scaling.width_mult=1.0", "-s", "scaling.depth_mult=1.1"]
B2 = ["-s", "scaling.width_mult=1.1", "-s", "scaling.depth_mult=1.2"]


def test_compound_scaling_rounding_is_reported_per_unit() -> None:
    plan = archspec.plan(SPECS / "efficientnet-b0.yaml", overrides=[a for a in B2 if a != "-s"])
    data = json.loads(cli("report", SPECS / "efficientnet-b0.yaml", *B2, "-f", "json").stdout)
    stem = data["units"][0]["scaling"]
    assert (stem["base_width"], stem["raw_width"], stem["divisor"], stem["width"]) == (32, pytest.approx(35.2), 8, 32)
    assert stem["width"] == plan.stem.out_channels
    body = [u for u in data["units"] if u["stage"] is not None]
    assert all(u["scaling"]["width"] % 8 == 0 and u["scaling"]["units"] == len(plan.stages[u["stage"]].units)
               for u in body)
    assert "scaling" not in data["units"][-1]  # the head's width follows its input: nothing rounded
    assert "scaling" not in archspec.report(SPECS / "resnet-20.yaml")["units"][1]
    table = cli("report", SPECS / "efficientnet-b0.yaml", *B2).stdout
    assert "32 x 1.1 = 35.2 -> 32" in table and "40 x 1.1 = 44 -> 48" in table
    assert "compound scaling: widths x 1.1 rounded to a multiple of 8" in table
    assert "units per stage x 1.2 rounded up: 1->2, 2->3" in table


def test_aux_heads_are_counted_when_asked() -> None:
    path = SPECS / "googlenet.yaml"
    plain, aux = archspec.report(path), archspec.report(path, aux=True)
    plan = archspec.plan(path)
    assert "aux" not in plain and [a["name"] for a in aux["aux"]] == [u.name for u in plan.aux] == ["aux.0", "aux.1"]
    assert aux["params"] == plain["params"] + plan.aux_params and aux["macs"] == plain["macs"] + plan.aux_macs
    assert aux["stages"] == plain["stages"] and aux["units"] == plain["units"]  # the body's figures stay
    rows = list(csv.DictReader(io.StringIO(cli("report", path, "--aux", "-f", "csv").stdout)))
    assert [r["name"] for r in rows[-3:]] == ["aux.0", "aux.1", "total"] and int(rows[-1]["params"]) == aux["params"]
    stages = cli("report", path, "--aux", "--by", "stage", "-f", "markdown").stdout
    assert "| aux.1 |" in stages and "auxiliary classifiers" in stages


def test_by_stage_with_several_specs_gives_one_stage_table_each() -> None:
    paths = [SPECS / "resnet-20.yaml", SPECS / "resnet-18.yaml"]
    text = cli("report", *paths, "--by", "stage", "-f", "markdown").stdout
    assert [line.split(":")[0] for line in text.splitlines() if line.startswith("###")] == \
        ["### resnet-20", "### resnet-18"]
    assert text.count("| stage 2 |") == 2 and text.count("| stage 3 |") == 1
    rows = list(csv.DictReader(io.StringIO(cli("report", *paths, "--by", "stage", "-f", "csv").stdout)))
    assert [r["part"] for r in rows if r["table"].startswith("resnet-18")][-2:] == ["head", "total"]
    assert "comparison" in cli("report", *paths).stdout  # no --by: the comparison, as before


def test_diff_states_both_inputs_and_exact_channel_deltas() -> None:
    result = cli("diff", SPECS / "resnet-50.yaml", SPECS / "resnet-56.yaml", "-f", "markdown")
    assert "A = resnet-50 at 3x224x224, B = resnet-56 at 3x32x32" in result.stdout
    assert "different input sizes" in result.stdout
    total = next(line for line in result.stdout.splitlines() if line.startswith("| total"))
    assert [c.strip() for c in total.split("|")[2:8]] == ["16", "27", "+11", "2048", "64", "-1984"]


def test_densenet_stage_inner_width_skips_the_transition() -> None:
    plan = archspec.plan(SPECS / "densenet-121.yaml")
    assert plan.stages[0].units[-1].inner_channels is None  # a stage ending in a transition
    data = archspec.report(SPECS / "densenet-121.yaml")
    for stage, row in zip(plan.stages, data["stages"]):
        assert row["inner_channels"] == [u.inner_channels for u in stage.units if u.inner_channels][-1]


@pytest.mark.parametrize("args", [["report", "pyramidnet-272-a200.yaml"], ["report", "pyramidnet-272-a200.yaml", "-f",
                                  "csv"], ["diff", "resnet-56.yaml", "resnet-110.yaml"]])
def test_output_piped_into_a_reader_that_stops_early_exits_0(args: list[str]) -> None:
    """``report ... | head -1``: the reader closes the pipe before the table is written."""
    argv = [a if a in ("report", "diff", "-f", "csv") else str(SPECS / a) for a in args]
    proc = subprocess.Popen([sys.executable, "-m", "archspec", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # no reader left: every write raises EPIPE
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, stderr
    assert stderr == b""


@pytest.mark.parametrize("width", [60, 100, 400])
def test_terminal_table_draws_the_same_as_one_rich_row_per_unit(width: int) -> None:
    """The table body is laid out a column at a time for speed; it must look exactly like
    rich's own row-per-row table, also when a narrow terminal crops the cells."""
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    from archspec.complexity import unit_table
    from archspec.complexity.render import to_rich

    table = unit_table(make_report(archspec.plan(SPECS / "resnet-50.yaml")))
    reference = RichTable()
    for col in table.columns:
        reference.add_column(col.header, justify="right" if col.numeric else "left", no_wrap=True)
    for row in table.rows:
        reference.add_row(*(Text(col.fmt(row.get(col.key))) for col in table.columns))
    reference.add_section()
    reference.add_row(*(Text(col.fmt(table.footer[col.key]) if col.key in table.footer else "")
                        for col in table.columns), style="bold")

    def draw(rich_table: object) -> str:
        console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system="truecolor")
        console.print(rich_table)
        return console.file.getvalue()

    drawn = draw(to_rich(table))
    assert drawn == draw(reference)
    assert drawn.count("\n") == len(table.rows) + 6  # rows, header, footer and four rules


# -- the attention note ---------------------------------------------------------------


def attention_macs(plan) -> int:
    """The network's MACs outside its conv and linear layers: its attentions' matmuls."""
    return plan.macs - sum(op.macs for unit in plan.units for op in unit.ops if isinstance(op, (Conv, Linear)))


def test_attention_note_states_vit_s_one_sequence_of_every_token() -> None:
    """ViT-B/16 at 224: 12 global attentions over (224 / 16)^2 + 1 = 197 tokens of width 768."""
    plan = archspec.plan(SPECS / "vit-b-16.yaml")
    layouts = make_report(plan).attention
    assert [(a.count, a.sequences, a.tokens, a.keys, a.width) for a in layouts] == [(12, 1, 197, 197, 768)]
    assert 12 * layouts[0].macs == attention_macs(plan) == 12 * 2 * 197 * 197 * 768
    said = " ".join(cli("report", SPECS / "vit-b-16.yaml").stdout.split())
    assert "S x T x T x D each per attention" in said
    assert "In this network: 12 attentions over 1 sequence of T = 197 tokens, D = 768 (59,610,624 MACs each)." in said
    data = archspec.report(SPECS / "vit-b-16.yaml")
    assert data["policy"]["attention"].endswith("In this network: 12 attentions over 1 sequence of T = 197 tokens, "
                                                 "D = 768 (59,610,624 MACs each)")


@pytest.mark.parametrize("size, maps", [(224, (56, 28, 14, 7)), (200, (50, 25, 13, 7))])
def test_attention_note_states_swin_s_windows_of_the_padded_map(size: int, maps: tuple[int, ...]) -> None:
    """Swin-T: per stage (2, 2, 6, 2 blocks, widths 96 to 768) one sequence of 7 x 7 = 49 tokens per window of
    the map padded to multiples of 7: at 200 the 50x50 map is padded to 56x56, 64 windows, as at 224."""
    plan = archspec.plan(SPECS / "swin-t.yaml", input_size=size)
    layouts = make_report(plan).attention
    windows = [((side + 6) // 7) ** 2 for side in maps]  # windows of 7x7 on the padded map
    assert windows == [64, 16, 4, 1]
    expected = [(blocks, w, 49, 49, width) for blocks, w, width in zip((2, 2, 6, 2), windows, (96, 192, 384, 768))]
    assert [(a.count, a.sequences, a.tokens, a.keys, a.width) for a in layouts] == expected
    assert sum(a.count * a.macs for a in layouts) == attention_macs(plan)
    said = " ".join(cli("report", SPECS / "swin-t.yaml", "-i", size).stdout.split())
    assert ("In this network: 2 attentions over 64 sequences of T = 49 tokens, D = 96 (29,503,488 MACs each); "
            "2 attentions over 16 sequences of T = 49 tokens, D = 192") in said
    assert "2 attentions over 1 sequence of T = 49 tokens, D = 768 (3,687,936 MACs each)." in said
    assert "197" not in said.split("In this network:")[1]


def test_attention_note_counts_maxvit_s_block_and_grid_attention_alike() -> None:
    """MaxViT-T: each unit attends within 7x7 blocks and across a 7x7 grid, both (H/7)(W/7) sequences of 49 tokens."""
    plan = archspec.plan(SPECS / "maxvit-t.yaml")
    layouts = make_report(plan).attention
    assert [(a.count, a.sequences, a.tokens, a.width) for a in layouts] == [
        (2 * 2, 64, 49, 64), (2 * 2, 16, 49, 128), (2 * 5, 4, 49, 256), (2 * 2, 1, 49, 512)]
    assert sum(a.count * a.macs for a in layouts) == attention_macs(plan)


def test_a_network_without_attention_has_no_attention_note() -> None:
    said = cli("report", SPECS / "resnet-50.yaml").stdout
    assert make_report(archspec.plan(SPECS / "resnet-50.yaml")).attention == () and "In this network" not in said
