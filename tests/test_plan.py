"""The Plan's structure: names, channel chaining, strides, shortcuts, options."""

from __future__ import annotations

import subprocess
import sys

import pytest

import archspec
from conftest import spec_path


def test_units_chain_channels_and_sizes():
    plan = archspec.plan(spec_path("resnet-56"))
    units = plan.units
    for prev, unit in zip(units, units[1:]):
        assert unit.in_channels == prev.out_channels
        assert unit.in_size == prev.out_size
    assert [len(s.units) for s in plan.stages] == [9, 9, 9]
    assert plan.body[9].name == "stages.1.0"


def test_option_a_shortcuts_where_the_shape_changes():
    plan = archspec.plan(spec_path("resnet-20"))
    kinds = {u.name: u.shortcut for u in plan.body}
    assert kinds["stages.0.0"] == "identity"
    assert kinds["stages.1.0"] == "zero_pad" and kinds["stages.2.0"] == "zero_pad"
    assert kinds["stages.1.1"] == "identity"
    assert plan.unit("stages.1.0").stride == 2 and plan.unit("stages.1.0").out_size == (16, 16)
    assert all(u.params == plan.body[1].params for u in plan.stages[0].units)


def test_projection_all_projects_every_unit():
    plan = archspec.plan(spec_path("resnet-20"), overrides=["body.shortcut.type=projection_all"])
    assert {u.shortcut for u in plan.body} == {"projection"}


def test_bottleneck_stride_position():
    unit = archspec.plan(spec_path("resnet-50")).unit("stages.1.0")
    assert unit.op("conv2").stride == 2 and unit.op("conv1").stride == 1
    unit = archspec.plan(spec_path("resnet-50"), overrides=["body.block.stride_on=1x1"]).unit("stages.1.0")
    assert unit.op("conv1").stride == 2 and unit.op("conv2").stride == 1


def test_resnext_inner_width():
    unit = archspec.plan(spec_path("resnext-29-8x64d")).unit("stages.0.0")
    assert (unit.inner_channels, unit.groups, unit.out_channels) == (512, 8, 256)
    unit = archspec.plan(spec_path("resnext-50-32x4d")).unit("stages.3.0")
    assert (unit.inner_channels, unit.out_channels) == (32 * 4 * 8, 2048)


def test_drop_path_decays_linearly():
    plan = archspec.plan(spec_path("resnet-20"), overrides=["body.block.drop_path=0.2"])
    rates = [u.options.drop_path for u in plan.body]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
    assert rates == pytest.approx([0.2 * i / 8 for i in range(9)])


def test_per_stage_overrides():
    plan = archspec.plan(
        spec_path("resnet-20"),
        overrides=["body.stages.2.width=80", "body.stages.2.block={type: bottleneck}", "body.stages.1.shortcut=projection",
                   "body.depth=null", "body.stages.0.units=3", "body.stages.1.units=3", "body.stages.2.units=2"],
    )
    assert [len(s.units) for s in plan.stages] == [3, 3, 2]
    assert plan.unit("stages.2.0").block == "bottleneck" and plan.unit("stages.2.0").out_channels == 320
    assert plan.unit("stages.1.0").shortcut == "projection"
    assert plan.unit("stages.2.0").shortcut == "zero_pad"


def test_input_size_override_scales_macs():
    small = archspec.plan(spec_path("resnet-20"))
    big = archspec.plan(spec_path("resnet-20"), input_size=64)
    assert big.params == small.params
    fc = small.head.macs
    assert big.macs - fc == 4 * (small.macs - fc)


def test_planning_does_not_import_torch():
    code = (
        "import sys, archspec; p = archspec.plan('specs/pyramidnet-272-a200.yaml'); "
        "assert p.params == 26210842; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=spec_path("x").parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
