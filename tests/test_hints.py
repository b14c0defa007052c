"""Hints for valid but surprising specs (warnings; --strict: errors), and plainer YAML errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import SpecError
from conftest import SPECS

runner = CliRunner()
RESNET_ORDER = "body.stages=[{stride: 1}, {stride: 2}, {stride: 2}]"
BC_250_24 = ["body.depth=250", "body.block.growth=24", "stem.width=48", "name=densenet-bc-250-24"]

DENSE_RESNET_ORDER = """\
name: dense-in-resnet-order
input: {channels: 3, size: 32}
classes: 10
stem: {type: conv, kernel: 3, width: 24, norm: none, act: none}
body:
  depth: 100
  depth_offset: 4
  stages: [{stride: 1}, {stride: 2}, {stride: 2}]
  block: {type: dense, growth: 12, bottleneck: 4}
  downsample: {type: transition, compression: 0.5}
head: {type: classifier, pre: [bn, relu], pool: avg}
"""

EVEN_50 = """\
name: even-50
input: {channels: 3, size: 224}
classes: 1000
stem: {type: conv, kernel: 7, stride: 2, width: 64, norm: bn, act: relu, pool: max}
body:
  depth: 50
  stages: [{stride: 1}, {stride: 2}, {stride: 2}, {stride: 2}]
  block: {type: bottleneck, stride_on: 3x3}
  widening: {rule: step_doubling, base: 64}
  shortcut: {type: projection}
head: {type: classifier, pool: avg}
"""


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_no_bundled_spec_gives_a_hint() -> None:
    for path in sorted(SPECS.glob("*.yaml")):
        assert archspec.api.hints(path) == [], path.name


def test_densenet_strides_in_resnet_order_are_a_different_network_and_a_hint() -> None:
    dense = SPECS / "densenet-bc-100-12.yaml"
    assert archspec.plan(dense, overrides=BC_250_24).params == 15_324_406  # Huang et al.: 15.3M
    assert archspec.plan(dense, overrides=[*BC_250_24, RESNET_ORDER]).params == 20_787_082
    assert archspec.api.hints(dense, BC_250_24) == []
    (hint,) = archspec.api.hints(dense, [*BC_250_24, RESNET_ORDER])
    assert hint.path == "body.stages[2].stride"
    assert "a transition ends every strided stage" in hint.message and "did you mean strides [2, 2, 1]?" in hint.message


def test_hints_are_located_warnings_on_stderr_and_strict_makes_them_errors(write_spec) -> None:
    path = write_spec(DENSE_RESNET_ORDER)
    result = cli("validate", path)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"ok {path}")
    assert re.fullmatch(rf"warning: {re.escape(str(path))}:8:39: body\.stages\[2\]\.stride: the last stage has stride 2.*"
                        r"did you mean strides \[2, 2, 1\]\?\n", result.stderr, re.S)
    for command in (["validate"], ["report", "--by", "stage"]):
        strict = cli(*command, path, "--strict")
        assert strict.exit_code == 2
        assert strict.stderr.startswith(f"error: {path}:8:39: body.stages[2].stride:")
        assert "(a hint: --strict makes hints errors)" in strict.stderr
        assert "ok " not in strict.stdout and "params" not in strict.stdout


def test_github_format_annotates_hints_as_warnings(write_spec) -> None:
    path = write_spec(DENSE_RESNET_ORDER)
    out = cli("validate", path, "-f", "github").stdout
    assert f"::warning file={path},line=8,col=39::body.stages[2].stride: the last stage" in out
    assert "::error" not in out


SE_17 = """\
name: se-17
input: {channels: 3, size: 32}
classes: 10
stem: {type: conv, kernel: 3, width: 17}
body:
  depth: 20
  stages: [{stride: 1}, {stride: 2}, {stride: 2}]
  block: {type: basic, se: {reduction: 16}}
  widening: {rule: step_doubling, base: 17}
  shortcut: {type: zero_pad}
"""


def test_a_squeeze_excite_of_fewer_than_4_channels_is_a_hint(write_spec) -> None:
    """SE at reduction 16 on 17-channel units keeps 17 // 16 = 1 channel (34 // 16 = 2 in the next stage)."""
    path = write_spec(SE_17)
    resolved = archspec.plan(path)
    assert [op.cout for op in resolved.body[0].ops if op.path == "se.fc1"] == [1]
    (hint,) = archspec.api.hints(path)
    assert (hint.line, hint.path) == (8, "body.block.se.reduction")
    assert "keeps 1 of 17 channels in stages.0.0 and 5 more units: fewer than 4" in hint.message
    result = cli("validate", path)
    assert result.exit_code == 0 and "warning:" in result.stderr and "squeeze-excite keeps 1 of 17" in result.stderr
    assert cli("validate", path, "--strict").exit_code == 2
    assert archspec.api.hints(path, ["body.block.se.reduction=4", "name=se-17-r4"]) == []  # 17 // 4 = 4
    (mbconv,) = archspec.api.hints(SPECS / "efficientnet-b0.yaml", ["body.stages.1.block={se_ratio: 0.1}",
                                                                    "name=b0-se"])
    assert mbconv.path == "body.stages[1].block.se_ratio" and "keeps 1 of 96 channels in stages.1.0 and 1 more unit:" in mbconv.message


def test_an_even_depth_split_where_resnet_50_is_meant_suggests_the_units_form(write_spec) -> None:
    path = write_spec(EVEN_50)
    (hint,) = archspec.api.hints(path)
    assert (hint.line, hint.path) == (6, "body.depth")
    assert "depth 50 splits evenly into [4, 4, 4, 4] units per stage, not ResNet-50's [3, 4, 6, 3]" in hint.message
    suggested = re.search(r"write `stages: (\[.*\])`", hint.message).group(1)
    fixed = archspec.plan(path, overrides=["body.depth=null", f"body.stages={suggested}"])
    assert [len(s.units) for s in fixed.stages] == [3, 4, 6, 3]
    assert fixed.params == archspec.plan(SPECS / "resnet-50.yaml").params == 25_557_032
    assert "warning:" in cli("report", path, "--by", "stage").stderr


def test_a_depth_that_cannot_split_names_resnet_101s_layout(write_spec) -> None:
    path = write_spec(EVEN_50.replace("depth: 50", "depth: 101"))
    with pytest.raises(SpecError) as caught:
        archspec.plan(path)
    message = caught.value.problems[0].message
    assert "try 98 or 110" in message and "ResNet-101's [3, 4, 23, 3]" in message
    assert "{units: 23, stride: 2}" in message


def test_set_that_changes_the_network_but_not_its_name_is_a_hint() -> None:
    spec = SPECS / "resnet-56.yaml"
    result = cli("report", spec, "--set", "body.depth=20", "-f", "json")
    assert result.exit_code == 0
    assert "name: --set body.depth=20 changes the network (853,018 -> 269,722 params, 29 -> 11 units)" in result.stderr
    assert "but its name stays `resnet-56`" in result.stderr
    assert cli("report", spec, "--set", "body.depth=20", "--strict").exit_code == 2
    assert cli("report", spec, "--set", "body.depth=20", "--set", "name=resnet-20b").stderr == ""
    assert cli("validate", spec, "--set", "description=the same network").stderr == ""
    assert cli("validate", spec, "--set", "input.size=64").stderr == ""  # another input, the same network
    # additive widening ignores strides: the same parameters, another network
    strided = cli("validate", SPECS / "pyramidnet.yaml", "--set", "body.stages.1.stride=1").stderr
    assert "(1,772,706 -> 1,772,706 params, 56 -> 56 units) but its name stays `pyramidnet-110-a48`" in strided


def test_build_strict_refuses_a_hinted_spec_before_building(write_spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("build", write_spec(EVEN_50), "-o", out, "--strict")
    assert result.exit_code == 2
    assert "body.depth: depth 50 splits evenly" in result.stderr
    assert not out.exists()


# -- YAML errors in plain words -------------------------------------------------------

@pytest.mark.parametrize("text, where", [
    ("name: x\nbody:\n\tdepth: 56\n", ":3:1:"),
    ("name: x\nbody:\n  depth: 56\n\tblock: {type: basic}\n", ":4:1:"),
])
def test_a_tab_is_named_as_a_tab(write_spec, text: str, where: str) -> None:
    result = cli("validate", write_spec(text))
    assert result.exit_code == 2
    assert where in result.stderr
    assert "a tab character at line" in result.stderr and "YAML indents with spaces only" in result.stderr


def test_the_pure_python_parser_names_the_tab_too() -> None:
    from archspec.spec.yaml_hints import explain

    try:
        yaml.load("a:\n\tb: 1\n", Loader=yaml.SafeLoader)  # noqa: S506 (the safe loader)
    except yaml.YAMLError as exc:
        reason, mark = exc.problem, exc.problem_mark
    assert "a tab character at line 2, column 1" in explain(reason, "a:\n\tb: 1\n", mark.line + 1, mark.column + 1)


def test_misindented_lines_get_an_indentation_hint(write_spec) -> None:
    result = cli("validate", write_spec("name: x\nbody:\n    depth: 1\n  block: 2\n"))
    assert result.exit_code == 2
    assert ":4:3: not valid YAML: did not find expected key; check this line's indentation" in result.stderr


def test_a_quoted_number_is_shown_with_its_quotes(write_spec) -> None:
    result = cli("validate", SPECS / "resnet-56.yaml", "--set", 'body.depth="56"')
    assert result.exit_code == 2
    assert 'body.depth: must be a valid integer (got the quoted string `"56"`: quotes make YAML read text; ' \
           "write 56 without them)" in result.stderr
    spec = (SPECS / "resnet-56.yaml").read_text().replace("depth: 56", 'depth: "56"')
    assert '(got the quoted string `"56"`' in cli("validate", write_spec(spec)).stderr
