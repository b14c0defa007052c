"""Bad specs exit 2 with a message naming the field and its line; never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from archspec.cli import app
from conftest import spec_path

GOOD = spec_path("resnet-20").read_text()


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ("depth: 20 ", "depth: 21 ", "body.depth", ["does not divide", "multiple of 6", "try 20"]),
        ("stages: [{stride: 1}", "stages: [{strid: 1}", "body.stages[0].strid", ["did you mean `stride`"]),
        ("width: 16, norm", "width: 0, norm", "stem.width", ["greater than 0"]),
        ("{type: basic}", "{type: basic, groups: 3}", "body.block.groups", ["does not divide the width 16"]),
        ("{type: basic}", "{type: basik}", "body.block", ["unknown type `basik`", "bottleneck", "did you mean `basic`"]),
        ("{rule: step_doubling, base: 16}", "{rule: doubling, base: 16}", "body.widening", ["step_doubling"]),
        ("{type: zero_pad}", "{type: zero_padding}", "body.shortcut.type", ["did you mean `zero_pad`"]),
    ],
)
def test_invalid_spec_names_field_and_line(write_spec, old, new, field, words):
    assert old in GOOD
    text = GOOD.replace(old, new)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if new in row)
    path = write_spec(text)
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert f"{path}:{line}:" in result.output
    assert field in result.output
    for word in words:
        assert word in result.output


def test_all_errors_of_a_file_at_once(write_spec):
    path = write_spec(GOOD.replace("classes: 10", "classes: -1").replace("width: 16,", "widht: 16,"))
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "classes" in result.output and "widht" in result.output


@pytest.mark.parametrize("old, new, words", [
    ("{rule: step_doubling, base: 16}", "{rule: explicit, widths: [16, 8, 8]}",
     ["cannot reduce channels (16 -> 8)", "body.shortcut"]),
    ("{rule: step_doubling, base: 16}", "{rule: explicit, widths: [16, 32]}", ["2 widths for 3 stages"]),
    ("{stride: 2}]", "{stride: 2, block: {type: bottleneck}}]", ["per-stage `units`"]),
])
def test_cross_field_rules(write_spec, old, new, words):
    result = run("validate", str(write_spec(GOOD.replace(old, new))))
    assert result.exit_code == 2
    assert all(word in result.output for word in words)


def test_spatial_collapse_is_refused():
    """Padded convs keep a 1x1 map at 1x1 (as torch does); an unpadded pool empties it."""
    assert run("validate", str(spec_path("resnet-20")), "--set", "input.size=2").exit_code == 0
    result = run("validate", str(spec_path("densenet-121")), "--set", "input.size=16")
    assert result.exit_code == 2
    assert "body.stages[2].stride" in result.output and "leaves a 0x0 map" in result.output


@pytest.mark.parametrize("text, words", [("", "empty document"), ("- 1\n- 2\n", "a list"), ("a: [1,\n", "not valid YAML")])
def test_non_specs(write_spec, text, words):
    result = run("validate", str(write_spec(text)))
    assert result.exit_code == 2 and words in result.output


def test_missing_file():
    result = run("validate", "no/such/spec.yaml")
    assert result.exit_code == 2 and "cannot read" in result.output


def test_build_exits_2_on_invalid_spec(write_spec, tmp_path):
    path = write_spec(GOOD.replace("depth: 20 ", "depth: 22 "))
    out = tmp_path / "out"
    result = run("build", str(path), "--export", "onnx", "-o", str(out))
    assert result.exit_code == 2 and "body.depth" in result.output
    assert not out.exists()


def test_valid_specs_exit_0():
    result = run("validate", str(spec_path("resnet-20")), str(spec_path("pyramidnet")))
    assert result.exit_code == 0, result.output
    assert "269,722 params" in result.output
