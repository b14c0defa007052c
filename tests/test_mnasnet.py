"""MNASNet (torchvision's mnasnet0_5 to mnasnet1_3): the depth multiplier's rounding is
recorded and is torchvision's, torchvision's weights give its outputs, and the converter
tells MNASNet's mbconv layout from EfficientNet's."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import mnasnet as tv_mnasnet
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.convert import ConversionError
from archspec.convert.rules import family_of
from conftest import spec_path
from test_convert import ZOO_SIZE, assert_equal_outputs, zoo_model

BUILDERS = {"mnasnet0_5": 0.5, "mnasnet0_75": 0.75, "mnasnet1_0": 1.0, "mnasnet1_3": 1.3}
SPEC = {builder: f"mnasnet-{alpha}" for builder, alpha in BUILDERS.items()}


def at(name: str, *overrides: str) -> archspec.Spec:
    return archspec.load(spec_path(name), [f"input.size={ZOO_SIZE}", *overrides])


@pytest.mark.parametrize("builder", BUILDERS)
def test_widths_are_torchvisions_rounded_depths_and_the_plan_records_the_rounding(builder):
    alpha = BUILDERS[builder]
    depths = tv_mnasnet._get_depths(alpha)  # [stem, separable, six stacks]
    plan = archspec.plan(spec_path(SPEC[builder]))
    stage_outs = [stage.out_channels for stage in plan.stages]
    assert [plan.stem.out_channels, *stage_outs] == depths
    base = [32, 16, 24, 40, 80, 96, 192, 320]
    records = [plan.stem.scaling] + [stage.units[0].scaling for stage in plan.stages]
    assert [(r["base_width"], r["raw_width"], r["width"]) for r in records] == \
        [(b, b * alpha, d) for b, d in zip(base, depths)]
    assert plan.head.inner_channels == 1280  # the head is not scaled


def test_report_shows_the_depth_multipliers_rounding():
    result = CliRunner().invoke(app, ["report", "mnasnet-0.75"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "40 x 0.75 = 30 -> 32" in result.output and "widths x 0.75 rounded to a multiple of 8" in result.output


@pytest.mark.parametrize("builder", BUILDERS)
def test_torchvision_weights_give_torchvisions_outputs(builder):
    source = zoo_model(builder)
    spec = at(SPEC[builder])
    assert_equal_outputs(source, spec)


def test_batchnorm_momentum_and_eps_are_torchvisions():
    """1 - 0.9997 (TensorFlow's convention in PyTorch's): training only, so the outputs cannot show it."""
    with torch.device("meta"):
        theirs, ours = tv_mnasnet.mnasnet1_0(), archspec.build(at("mnasnet-1.0"))
    settings = lambda m: [x for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d) for x in (b.eps, b.momentum)]  # noqa: E731
    assert len(settings(ours)) == len(settings(theirs)) > 0
    assert settings(ours) == pytest.approx(settings(theirs), rel=1e-12)


def test_mnasnet_and_efficientnet_plans_each_find_their_own_family():
    assert family_of(archspec.plan(at("mnasnet-1.0"))).name == "mnasnet"
    assert family_of(archspec.plan(at("efficientnet-b0"))).name == "efficientnet"


@pytest.mark.parametrize("overrides, says", [
    (["body.block.act=silu", "body.stages.1.block.act=silu"], "mnasnet: unit stages.1.0 differs from torchvision's mnasnet layout: every unit uses ReLU"),
    (["body.stages.0.block.expand=3"], "the first stage is one depthwise-separable unit"),
    (["body.stages.1.block.expand=1"], "after the first stage every unit expands"),
])
def test_other_mbconv_layouts_are_refused_with_what_differs(overrides, says):
    with pytest.raises(ConversionError) as error:
        family_of(archspec.plan(at("mnasnet-1.0", *overrides)))
    assert says in str(error.value) and "efficientnet:" in str(error.value)


def test_cli_builds_from_a_torchvision_checkpoint(tmp_path):
    source = zoo_model("mnasnet0_5")
    torch.save(source.state_dict(), tmp_path / "tv.pt")
    result = CliRunner().invoke(app, ["build", "mnasnet-0.5", "--set", f"input.size={ZOO_SIZE}", "--set", "name=m",
                                      "--weights", str(tmp_path / "tv.pt"), "--export", "state_dict",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = torch.load(tmp_path / "out" / "m.pt", weights_only=True)
    assert torch.equal(written["stages.6.0.project.bn.running_var"], source.layers[13][0].layers[7].running_var)
    assert torch.equal(written["stages.0.0.dw.conv.weight"], source.layers[3].weight)


def test_list_names_the_torchvision_family_not_the_block_s():
    from archspec.cli.listing import bundled_table

    rows = bundled_table(["mnasnet-1.0", "efficientnet-b0", "resnet-20"]).rows
    assert [row["family"] for row in rows] == ["mnasnet", "efficientnet", "resnet"]
