"""Regressions from review: output names, strict numbers, unusable paths, stem strides, ONNX checks."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
import yaml
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from conftest import ROOT, spec_path


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs", "a/b", ".hidden", "a b"])
def test_a_name_cannot_leave_the_output_directory(tmp_path, name):
    out = tmp_path / "out"
    result = run("build", str(spec_path("resnet-20")), "--set", f"name={name}", "-e", "fx", "-o", str(out))
    assert result.exit_code == 2 and "cannot name output files" in result.output
    assert list(tmp_path.rglob("*.py")) == []


@pytest.mark.parametrize("override, field", [
    ("classes=yes", "classes"), ("stem.width=true", "stem.width"), ('stem.kernel="3"', "stem.kernel"),
    ("body.block.dropout=true", "body.block.dropout"), ("input.size=[32, on]", "input.size[1]"),
])
def test_booleans_and_strings_are_not_numbers(override, field):
    result = run("validate", str(spec_path("resnet-20")), "--set", override)
    assert result.exit_code == 2 and f"{field}:" in result.output


def test_yaml_yes_names_the_boolean(write_spec):
    path = write_spec(spec_path("resnet-20").read_text().replace("classes: 10", "classes: yes"))
    result = run("validate", str(path))
    assert result.exit_code == 2 and "boolean `true`" in result.output


def test_ints_still_fill_float_fields():
    plan = archspec.plan(spec_path("pyramidnet"), overrides=["body.widening.alpha=48"])
    assert plan.params == archspec.plan(spec_path("pyramidnet")).params


@pytest.mark.parametrize("args", [
    ["build", "specs/resnet-20.yaml", "-e", "fx", "-o", "{file}"],
    ["expand", "specs/resnet-20.yaml", "-o", "{dir}"],
    ["diagram", "specs/resnet-20.yaml", "-o", "{file}/x.svg"],
])
def test_unusable_output_paths_exit_2_with_a_message(tmp_path, args):
    a_file = tmp_path / "a-file"
    a_file.write_text("keep")
    args = [a.format(file=a_file, dir=tmp_path) for a in args]
    out = subprocess.run([sys.executable, "-m", "archspec", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "error: cannot use" in out.stderr
    assert ".tmp" not in out.stderr  # the message names the file asked for, not a temporary one
    assert a_file.read_text() == "keep"
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_stem_stride_is_its_downsampling_factor():
    assert archspec.plan(spec_path("resnet-50")).stem.stride == 4
    assert archspec.plan(spec_path("googlenet")).stem.stride == 8
    assert archspec.plan(spec_path("resnet-20")).stem.stride == 1
    assert archspec.plan(spec_path("efficientnet-b0")).stem.stride == 2


def test_tiny_inputs_plan_like_torch_runs_them():
    """A padded stride-2 conv maps 1x1 to 1x1: torchvision's resnet50 runs at 16x16, so do we."""
    plan = archspec.plan(spec_path("resnet-50"), input_size=16)
    model = archspec.build(spec_path("resnet-50")).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 16)).shape == (1, 1000)
    assert plan.body[-1].out_size == (1, 1)


def test_pre_commit_hooks_skip_partial_bases():
    for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()):
        assert re.search(hook["exclude"], "specs/_base.yaml")
        assert not re.search(hook["exclude"], "specs/resnet-50.yaml")
        assert re.search(hook["files"], "specs/resnet-50.yaml")


@pytest.mark.parametrize("size", [0, "abc", (64.5, 64), (0, 3), True, (1, 2, 3)])
def test_api_refuses_sizes_that_are_not_sizes(size):
    with pytest.raises(archspec.SpecError, match="is not a size"):
        archspec.plan(spec_path("resnet-20"), input_size=size)


def test_api_takes_square_and_rectangular_sizes():
    assert archspec.plan(spec_path("resnet-20"), input_size=16).input_size == (16, 16)
    assert archspec.plan(spec_path("resnet-20"), input_size=[32, 48]).unit("stages.2.0").out_size == (8, 12)


def test_exponent_floats_read_as_yaml_1_2_does(write_spec):
    """PyYAML alone returns the string "1e-5"; a plain 1e-5 is a float in a spec, a quoted one is not."""
    spec = archspec.load(spec_path("googlenet"), overrides=["body.block.bn_eps=1e-5"])
    assert spec.body.block.bn_eps == 1e-5
    text = spec_path("resnet-20").read_text().replace("{type: basic}", "{type: basic, drop_path: 2E-1}")
    assert archspec.load(write_spec(text)).body.block.drop_path == 0.2
    with pytest.raises(archspec.SpecError, match="bn_eps"):
        archspec.load(spec_path("googlenet"), overrides=['body.block.bn_eps="1e-5"'])
