"""Spec authoring: located errors with fixes, composition, expand and its hash, schema, validate for CI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import SpecError, load, load_text
from archspec.plan.expand import canonical_yaml, expand, spec_hash
from archspec.spec.schema import (
    LANGUAGE_FILE, REFERENCE_FILE, SCHEMA_FILE, json_schema, markdown_reference, schema_text, updated_language_tables,
)

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
DOCS = ROOT / "docs"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
runner = CliRunner()


def problems(text: str, file: str = "spec.yaml", overrides=()) -> list:
    """The problems loading + planning ``text`` reports (fails the test if it is valid)."""
    with pytest.raises(SpecError) as info:
        archspec.plan(load_text(text, file, overrides))
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


RESNET56 = (ROOT / "specs" / "resnet-56.yaml").read_text()
RESNEXT = (ROOT / "specs" / "resnext-50-32x4d.yaml").read_text()


# --- errors people can act on ---------------------------------------------------------


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_misspelled_key_in_every_bundled_spec_names_the_fix(path, tmp_path):
    text = path.read_text()
    key, typo = ("stages", "stagse") if "stages:" in text else ("widening", "widenign")  # regnet derives its stages
    bad = tmp_path / path.name
    bad.write_text(text.replace(f"{key}:", f"{typo}:", 1))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    line = line_of(text, f"{key}:")
    assert f"{bad}:{line}:3: body.{typo}: unknown field `{typo}`; did you mean `{key}`?" in result.output
    assert "Traceback" not in result.output


def test_misspelled_key_inside_a_list_item_suggests_the_field():
    text = RESNET56.replace("{stride: 2}, {stride: 2}]", "{strides: 2}, {stride: 2}]")
    [p] = problems(text)
    assert (p.line, p.path) == (line_of(text, "strides"), "body.stages[1].strides")
    assert "did you mean `stride`?" in p.message and "Allowed here: block, downsample, shortcut, stride, units, width" in p.message


def test_every_error_of_a_file_is_reported_at_once_with_suggestions():
    text = (RESNET56.replace("type: basic", "type: basik").replace("{type: zero_pad}", "{type: zero_pda}")
            .replace("norm: bn", "norm: bm").replace("rule: step_doubling", "rule: step_doubing"))
    found = {p.path: p for p in problems(text)}
    assert set(found) == {"stem.norm", "body.block.type", "body.widening.rule", "body.shortcut.type"}
    assert "did you mean `basic`?" in found["body.block.type"].message
    assert "pyramid_bottleneck" in found["body.block.type"].message  # lists the registered types
    assert "did you mean `zero_pad`?" in found["body.shortcut.type"].message
    assert "did you mean `bn`?" in found["stem.norm"].message
    assert "did you mean `step_doubling`?" in found["body.widening.rule"].message
    assert found["body.block.type"].line == line_of(text, "basik")
    assert found["body.block.type"].column == text.splitlines()[found["body.block.type"].line - 1].index("type") + 1


def test_wrong_shapes_say_what_is_expected():
    text = (RESNET56.replace("size: 32", "size: [32]").replace("{type: conv, kernel: 3, width: 16, norm: bn, act: relu}",
                                                               "{type: deep, widths: [32, 32]}")
            .replace("block: {type: basic}", "block: basic").replace("classes: 10", "classes: ten"))
    found = {p.path: p.message for p in problems(text)}
    assert found == {
        "input.size": "must be a valid integer; or a list of exactly 2 items",
        "stem.widths": "a list of exactly 3 items",
        "body.block": "expected a mapping like {type: basic}, got the string `basic`",
        "classes": "must be a valid integer (got `ten`)",
    }


def test_cli_exits_2_without_traceback_and_debug_shows_one(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(RESNET56.replace("depth: 56", "depth: 57"))
    plain = runner.invoke(app, ["validate", str(bad)])
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    for command in ("build", "validate", "expand"):
        debug = runner.invoke(app, ["--debug", command, str(bad)])
        assert debug.exit_code == 2 and "Traceback" in debug.output and "body.depth" in debug.output


CROSS_FIELD = [  # (old text, new text, field path, message, text on the reported line)
    ("depth: 56", "depth: 57", "body.depth", "does not divide into whole units", "depth: 57"),
    ("block: {type: basic}", "block: {type: basic, se: {reduction: 64}}", "body.block.se.reduction",
     "leaves no channels", "reduction"),
    ("block: {type: basic}", "block: {type: basic, groups: 3}", "body.block.groups", "does not divide the width",
     "groups: 3"),
    ("block: {type: basic}", "block: {type: basic, dropout: 1.0}", "body.block.dropout", "less than 1", "dropout"),
    ("block: {type: basic}", "block: {type: preact_basic, zero_init_last_bn: true}", "body.block.zero_init_last_bn",
     "no last BN", "zero_init"),
    ("{rule: step_doubling, base: 16}", "{rule: explicit, widths: [16, 32]}", "body.widening.widths",
     "2 widths for 3 stages", "widths"),
    ("{rule: step_doubling, base: 16}", "{rule: explicit, widths: [[], 16, 32]}", "body.widening.widths[0]",
     "stage 0 has 9 units but 0 widths", "widths"),
    ("{rule: step_doubling, base: 16}", "{rule: explicit, widths: [32, 16, 64]}", "body.shortcut",
     "cannot reduce channels", "shortcut:"),
    ("{rule: step_doubling, base: 16}", "{rule: step_doubling, base: 0}", "body.widening.base", "greater than 0",
     "base: 0"),
    ("[{stride: 1},", "[{stride: 1, units: 3},", "body", "not both", "body:"),
    ("classes: 10", "classes: 0", "classes", "greater than 0", "classes"),
    ("[{stride: 1}, {stride: 2}, {stride: 2}]", "[{stride: 1}, {stride: 2, downsample: {type: pool, kernel: 64}}, {stride: 2}]",
     "body.stages[1].stride", "the spatial size collapses", "stages:"),
]


@pytest.mark.parametrize("old,new,path,message,where", CROSS_FIELD, ids=[c[2] for c in CROSS_FIELD])
def test_cross_field_checks_name_field_and_line(old, new, path, message, where):
    text = RESNET56.replace(old, new)
    assert text != RESNET56
    [p] = problems(text)
    assert p.path == path and message in p.message
    assert p.file == "spec.yaml" and p.line == line_of(text, where)


# --- composition ------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_extends_deep_merges_mappings_and_replaces_lists(tmp_path):
    write(tmp_path, "base/pyr.yaml", (ROOT / "specs" / "pyramidnet.yaml").read_text())
    child = write(tmp_path, "wide.yaml", "extends: base/pyr.yaml\nname: pyr-270\nbody:\n  widening: {alpha: 270}\n"
                                         "  stages: [{stride: 1}, {stride: 2}]\n")
    spec = load(child)
    base = load(tmp_path / "base" / "pyr.yaml")
    assert spec.name == "pyr-270" and spec.body.widening.alpha == 270
    assert spec.body.widening.rule == "additive" and spec.body.block == base.body.block  # merged, not replaced
    assert len(spec.body.stages) == 2  # lists replace
    assert spec.stem == base.stem and spec.head == base.head


def test_extends_null_removes_and_a_new_type_replaces_the_mapping(tmp_path):
    write(tmp_path, "resnext.yaml", RESNEXT)
    child = write(tmp_path, "c.yaml", "extends: resnext.yaml\nbody:\n  block: {type: basic}\n"
                                      "  stages: [{units: 2}, {units: 2, stride: 2}]\n  depth: null\n")
    spec = load(child)
    assert spec.body.block.type == "basic" and spec.body.block.groups == 1  # groups: 32 did not leak
    assert [s.units for s in spec.body.stages] == [2, 2]


def test_errors_point_into_the_file_that_wrote_the_value(tmp_path):
    write(tmp_path, "base.yaml", RESNET56.replace("act: relu", "act: rleu"))
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nbody: {widening: {bsae: 8}}\n")
    with pytest.raises(SpecError) as info:
        load(child)
    found = {p.path: p for p in info.value.problems}
    assert found["stem.act"].file == str(tmp_path / "base.yaml")
    assert found["stem.act"].line == line_of(RESNET56, "act: relu")
    assert found["body.widening.bsae"].file == str(child) and found["body.widening.bsae"].line == 2
    assert "did you mean `base`?" in found["body.widening.bsae"].message


def test_extends_cycles_and_missing_bases_are_located(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "name: b\nextends: a.yaml\n")
    with pytest.raises(SpecError) as info:
        load(tmp_path / "a.yaml")
    [p] = info.value.problems
    assert "cycle: a.yaml -> b.yaml -> a.yaml" in p.message and (p.path, p.line) == ("extends", 2)
    write(tmp_path, "c.yaml", "name: c\nextends: nowhere.yaml\n")
    with pytest.raises(SpecError) as info:
        load(tmp_path / "c.yaml")
    assert info.value.problems[0].line == 2 and "no such file" in info.value.problems[0].message


def test_extends_takes_a_bundled_spec_s_name(tmp_path):
    """`extends: pyramidnet` reads the bundled spec, from any folder, with no --allow-root; a name
    that is no bundled spec is a located error with the closest names; a file name stays a path."""
    child = write(tmp_path, "wide.yaml", "extends: pyramidnet\nname: pyr-270\nbody: {widening: {alpha: 270}}\n"
                                         "reference: null\n")
    spec, base = load(child), archspec.load("pyramidnet")
    assert spec.body.widening.alpha == 270 and spec.body.block == base.body.block and spec.stem == base.stem
    assert spec_hash(spec) == spec_hash(archspec.load("pyramidnet", ["body.widening.alpha=270", "name=pyr-270",
                                                                     "reference=null"]))
    assert archspec.load({"extends": "resnet-20", "name": "r20"}).body == archspec.load("resnet-20").body
    result = runner.invoke(app, ["validate", str(child)])
    assert result.exit_code == 0 and "pyr-270" in result.output, result.output

    typo = write(tmp_path, "typo.yaml", "name: t\nextends: pyramidnett\n")
    result = runner.invoke(app, ["validate", str(typo)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{typo}:2:1: extends:" in result.stderr and "did you mean `pyramidnet`" in result.stderr

    write(tmp_path, "pyramidnet.yaml", RESNET56)  # a local file of that name is reached by its file name only
    assert load(write(tmp_path, "n.yaml", "extends: pyramidnet\n")).body.block.type == "pyramid"
    assert load(write(tmp_path, "f.yaml", "extends: pyramidnet.yaml\n")).body.block.type == "basic"


def test_extends_by_name_keeps_paths_confined(tmp_path):
    """Names reach only the bundled folder: `../x`, `specs/x` and absolute paths stay paths, still confined."""
    inner = tmp_path / "inner"
    for base in ("../outside.yaml", "/etc/passwd", "../specs/pyramidnet"):
        child = write(inner, "c.yaml", f"extends: {base}\nname: c\n")
        write(tmp_path, "outside.yaml", RESNET56)
        with pytest.raises(SpecError) as info:
            load(child)
        message = info.value.problems[0].message
        assert info.value.problems[0].path == "extends" and "root:" not in message, message


MOBILENET_V2 = (ROOT / "specs" / "mobilenet-v2.yaml").read_text()


@pytest.mark.parametrize("stage_block", ["{expand: 1}", "{type: mbconv, expand: 1}"])
def test_a_stage_block_of_the_body_s_type_merges_over_it(stage_block):
    """MobileNetV2's first stage without the YAML merge key: still ReLU6 and no SE (it was SiLU and an
    SE, +318 params, when a stage block replaced the body's)."""
    text = MOBILENET_V2.replace("block: {<<: *mbconv, expand: 1}", f"block: {stage_block}")
    assert text != MOBILENET_V2
    spec, bundled = load_text(text, "m.yaml"), archspec.load("mobilenet-v2")
    first = spec.body.stages[0].block
    assert (first.expand, first.act, first.se_ratio, first.kernel) == (1, "relu6", 0.0, 3)
    assert spec_hash(spec) == spec_hash(bundled)
    assert archspec.plan(spec).params == bundled.reference.params


def test_a_stage_block_of_another_type_replaces_the_body_s_and_null_restores_a_default():
    spec = load_text(RESNEXT, "r.yaml", ["body.stages.1.block={type: basic}"])
    assert spec.body.stages[1].block.type == "basic" and spec.body.stages[1].block.groups == 1  # no leak of 32
    spec = load_text(RESNEXT, "r.yaml", ["body.stages.1.block={groups: null}"])
    assert spec.body.block.groups == 32 and spec.body.stages[1].block.groups == 1
    assert spec.body.stages[1].block.base_width == spec.body.block.base_width == 4
    [p] = problems(RESNEXT, "r.yaml", ["body.stages.1.block={grups: 2}"])
    assert p.path == "body.stages[1].block.grups" and "did you mean `groups`" in p.message


def test_set_overrides_parse_yaml_values_and_report_bad_paths():
    sets = ["body.widening={rule: additive, alpha: 270}", "body.depth=272", "body.block.type=pyramid_bottleneck",
            "body.shortcut=avgpool_zero_pad", "stem.act=none", "input.size=[32, 32]"]
    spec = load_text(RESNET56, "r.yaml", sets)
    resolved = archspec.plan(spec)
    assert resolved.depth == 272 and len(resolved.body) == 90
    assert resolved.body[-1].out_channels == (16 + 270) * 4
    [p] = problems(RESNET56, overrides=["body.depth=abc"])
    assert p.path == "body.depth" and "(value from --set body.depth=abc)" in p.message
    with pytest.raises(SpecError, match="there is no body.stages\\[5\\] to set \\(it has 3 items\\)"):
        load_text(RESNET56, "r.yaml", ["body.stages.5.stride=2"])
    with pytest.raises(SpecError, match="expected PATH=VALUE"):
        load_text(RESNET56, "r.yaml", ["body.depth"])
    units = load_text(RESNET56, "r.yaml", ["body.depth=null", "body.stages=[{units: 1}, {units: 2}]"])
    assert [s.units for s in units.body.stages] == [1, 2]


def test_set_takes_paths_as_error_messages_print_them():
    dotted = load_text(RESNET56, "r.yaml", ["body.stages.1.stride=1"])
    assert load_text(RESNET56, "r.yaml", ["body.stages[1].stride=1"]) == dotted
    assert [s.stride for s in dotted.body.stages] == [1, 1, 2]
    with pytest.raises(SpecError, match="there is no body.stages\\[5\\] to set"):
        load_text(RESNET56, "r.yaml", ["body.stages[5].stride=2"])
    [p] = problems(RESNET56, overrides=["body.stages[1.stride=1"])
    assert "unknown field `stages[1`; did you mean `stages`?" in p.message


def test_set_works_on_every_spec_command(tmp_path):
    spec = str(ROOT / "specs" / "resnet-20.yaml")
    for args in (["validate", spec], ["expand", spec], ["build", spec, "-o", str(tmp_path)]):
        result = runner.invoke(app, [*args, "--set", "body.depth=21"])
        assert result.exit_code == 2 and "body.depth: depth 21 does not divide" in result.output, args


# --- expand and the spec hash -------------------------------------------------------------


EFFICIENTNET = ROOT / "specs" / "efficientnet-b0.yaml"
# (spec, --set overrides): every bundled spec, and EfficientNet-B0 compound-scaled to B1, B3, B7
EXPANDED = [(path, ()) for path in SPECS] + [
    (EFFICIENTNET, (f"scaling.width_mult={w}", f"scaling.depth_mult={d}")) for w, d in ((1.0, 1.1), (1.2, 1.4), (2.0, 3.1))
]


@pytest.mark.parametrize("path,overrides", EXPANDED, ids=lambda v: v.stem if isinstance(v, Path) else ",".join(v))
def test_expanded_spec_resolves_to_the_same_network_and_is_a_fixed_point(path, overrides):
    spec = load(path, overrides)
    text = canonical_yaml(spec)
    again = load_text(text, "expanded.yaml")
    original, expanded = archspec.plan(spec), archspec.plan(again)
    assert expanded.depth == original.depth
    # scaling is resolved into the widths and counts: the record of its rounding stays with the original
    assert [(u.name, u.block, u.in_channels, u.out_channels, u.inner_channels, u.stride, u.shortcut, u.params,
             u.macs, u.options) for u in expanded.units] == \
           [(u.name, u.block, u.in_channels, u.out_channels, u.inner_channels, u.stride, u.shortcut, u.params,
             u.macs, u.options) for u in original.units]
    data = yaml.safe_load(text)
    assert "depth" not in data["body"] and ("widening" in data["body"]) == (spec.body.widening is not None)
    assert "scaling" not in data
    if spec.body.widening is not None:
        assert data["body"]["widening"]["rule"] == "explicit"
        assert [len(w) for w in data["body"]["widening"]["widths"]] == [s["units"] for s in data["body"]["stages"]]
    assert canonical_yaml(again) == text and spec_hash(again) == spec_hash(spec)
    assert f"# spec-sha256: {spec_hash(spec)}" in text.splitlines()[1]


def test_expand_cli_output_of_a_scaled_efficientnet_validates(tmp_path):
    out = tmp_path / "b3.yaml"
    args = ["expand", str(EFFICIENTNET), "-s", "scaling.width_mult=1.2", "-s", "scaling.depth_mult=1.4", "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 2  # still claims B0's reference figures
    assert runner.invoke(app, ["validate", str(out), "-s", "reference=null"]).exit_code == 0
    assert runner.invoke(app, ["validate", str(ROOT / "specs" / "efficientnet-b3.yaml")]).exit_code == 0
    b3 = archspec.plan(out)
    assert [len(s.units) for s in b3.stages] == [2, 3, 3, 5, 5, 6, 2]  # torchvision's B3: ceil(n x 1.4)
    assert b3.stem.out_channels == 40 and b3.head.in_channels == 384  # 32 x 1.2 -> 40, 320 x 1.2 -> 384


def test_hash_ignores_spelling_and_tracks_meaning():
    spelled = RESNET56.replace("block: {type: basic}", "block: {type: basic, groups: 1, dropout: 0.0}")
    assert spec_hash(load_text(spelled)) == spec_hash(load_text(RESNET56))
    assert spec_hash(load_text(RESNET56, overrides=["body.widening.base=17"])) != spec_hash(load_text(RESNET56))
    assert expand(load_text(RESNET56))["body"]["widening"]["widths"] == [[16] * 9, [32] * 9, [64] * 9]


def test_expand_cli_prints_yaml_and_writes_atomically(tmp_path):
    spec = ROOT / "specs" / "wrn-16-4.yaml"
    shown = runner.invoke(app, ["expand", str(spec), "--set", "body.widening.k=2"])
    assert shown.exit_code == 0
    assert yaml.safe_load(shown.stdout)["body"]["widening"]["widths"] == [[32, 32], [64, 64], [128, 128]]
    out = tmp_path / "x.yaml"
    assert runner.invoke(app, ["expand", str(spec), "-o", str(out)]).exit_code == 0
    assert out.read_text() == canonical_yaml(load(spec)) and os.listdir(tmp_path) == ["x.yaml"]


def test_onnx_export_records_the_spec_hash(tmp_path):
    import onnx

    spec = write(tmp_path, "tiny.yaml", RESNET56.replace("depth: 56", "depth: 8").replace("size: 32", "size: 8"))
    result = runner.invoke(app, ["build", str(spec), "-e", "onnx", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    meta = {p.key: p.value for p in onnx.load(tmp_path / "out" / "resnet-56.onnx").metadata_props}
    assert meta["archspec.spec_sha256"] == spec_hash(load(spec))


# --- schema and docs ------------------------------------------------------------------


def test_checked_in_schema_and_reference_are_current():
    fix = "stale: run `PYTHONPATH=$PWD python scripts/gen_spec_reference.py` and commit docs/"
    assert (DOCS / SCHEMA_FILE).read_text() == schema_text(), fix
    assert (DOCS / REFERENCE_FILE).read_text() == markdown_reference(), fix
    assert runner.invoke(app, ["schema"]).stdout == schema_text()
    assert runner.invoke(app, ["schema", "--markdown"]).stdout == markdown_reference()


def test_the_spec_language_tables_list_the_models_fields():
    """docs/spec-language.md's stem, block and widening tables: each fields column is what the models
    accept (it once listed `act: relu|none` and no `padding` for the conv stem); the residual options'
    paragraph names every ResidualOptions field, and the shortcut table every policy."""
    from typing import get_args

    from archspec.spec.blocks import ResidualOptions
    from archspec.spec.models import ShortcutKind

    text = (DOCS / LANGUAGE_FILE).read_text()
    assert updated_language_tables(text) == text, "stale: run `PYTHONPATH=$PWD python scripts/gen_spec_reference.py`"
    assert "`padding` (optional)" in text and "`act`: `relu`\\|`relu6`\\|" in text
    paragraph = text[text.index("Every residual block also takes"):].split("\n\n")[0]
    assert all(f"`{name}" in paragraph for name in ResidualOptions.model_fields)
    policies = re.findall(r"^\| `(\w+)` \|", text[text.index("### Shortcut policies"):text.index("## Head")], re.M)
    assert sorted(policies) == sorted(get_args(ShortcutKind))
    broken = text.replace("| `deep` |", "| `deeep` |")
    with pytest.raises(ValueError, match="`deeep`, which is not one of its types"):
        updated_language_tables(broken)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_bundled_specs_point_editors_at_the_schema_and_satisfy_it(path):
    first = path.read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../docs/{SCHEMA_FILE}", f"add this first line to {path}"
    jsonschema.Draft202012Validator(json_schema()).validate(yaml.safe_load(path.read_text()))


def test_schema_rejects_what_the_loader_rejects():
    validator = jsonschema.Draft202012Validator(json_schema())
    data = yaml.safe_load(RESNET56)
    data["body"]["stages"][1]["strides"] = 2
    assert not validator.is_valid(data)
    assert validator.is_valid({**yaml.safe_load(RESNET56), "extends": "base.yaml"})
    assert "## BasicBlock" in markdown_reference() and "`stride_on`" in markdown_reference()


# --- validate for CI ---------------------------------------------------------------------


def test_validate_walks_directories_and_reports_every_file(tmp_path):
    write(tmp_path, "good/a.yml", RESNET56)
    write(tmp_path, "good/deeper/b.yaml", RESNET56.replace("resnet-56", "resnet-56-copy"))
    write(tmp_path, "bad/c.yaml", RESNET56.replace("classes: 10", "classes: ten"))
    write(tmp_path, "bad/notes.txt", "not a spec")
    write(tmp_path, "good/_partial.yaml", "body: {depth: 20}\n")  # a base used only through `extends`
    write(tmp_path, "good/.hidden/x.yaml", "garbage: [")
    result = runner.invoke(app, ["validate", str(tmp_path / "good"), str(tmp_path / "bad"), str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.count("ok ") == 2 and "resnet-56-copy" in result.output
    assert f"{tmp_path / 'bad' / 'c.yaml'}:{line_of(RESNET56, 'classes')}:1: classes:" in result.output
    assert f"{tmp_path / 'nope'}: cannot read the spec: no such file or directory" in result.output
    assert runner.invoke(app, ["validate", str(tmp_path / "good")]).exit_code == 0


def test_validate_github_format_emits_annotations(tmp_path):
    bad = write(tmp_path, "c.yaml", RESNET56.replace("{type: zero_pad}", "{type: zero_pda}"))
    result = runner.invoke(app, ["validate", "--format", "github", str(bad)])
    line = line_of(RESNET56, "zero_pad}")
    col = RESNET56.splitlines()[line - 1].index("type") + 1
    assert result.exit_code == 2
    assert result.stdout.startswith(f"::error file={bad},line={line},col={col}::body.shortcut.type: `zero_pda`")


def test_validate_expand_and_schema_run_without_importing_torch():
    code = ("import sys\nfrom archspec.cli import app\n"
            "def run(*args):\n    try:\n        app(list(args))\n    except SystemExit as exc:\n        return exc.code\n"
            "codes = [run('validate', 'specs'), run('expand', 'specs/resnet-56.yaml'), run('schema')]\n"
            "assert 'torch' not in sys.modules, 'imported torch'\nsys.exit(max(codes))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok specs/") == len(SPECS) and "spec-sha256" in done.stdout


def test_pre_commit_hook_runs_validate():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} >= {"archspec-validate"}
    for hook in hooks:
        assert hook["entry"].startswith("archspec validate")
        files = re.compile(hook["files"])
        assert files.search("specs/resnet.yaml") and files.search("a/specs/b/c.yml") and not files.search("ci.yaml")
    assert json.loads(schema_text())["title"] == "archspec spec"
