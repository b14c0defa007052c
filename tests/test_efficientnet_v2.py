"""EfficientNetV2 (torchvision's efficientnet_v2_s/m/l): Fused-MBConv units, torchvision's
weights give its outputs, its BN eps and stochastic-depth rates are torchvision's, and bad
Fused-MBConv fields are located errors."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch
import torchvision
from torchvision.ops import StochasticDepth
from typer.testing import CliRunner

import archspec
from archspec.blocks.layers import DropPath
from archspec.cli import app
from archspec.convert import ConversionError
from archspec.convert.rules import family_of, names_of
from archspec.spec import SpecError
from conftest import spec_path
from test_convert import ZOO_SIZE, assert_equal_outputs, zoo_model

source_of = lru_cache(maxsize=1)(zoo_model)  # the last model made, kept for the CLI test (not modified by any test)

# S last: the CLI test below reuses its model, when the tests run in file order
BUILDERS = {"efficientnet_v2_m": "efficientnet-v2-m", "efficientnet_v2_l": "efficientnet-v2-l",
            "efficientnet_v2_s": "efficientnet-v2-s"}


def at(name: str, *overrides: str) -> archspec.Spec:
    return archspec.load(spec_path(name), [f"input.size={ZOO_SIZE}", *overrides])


def bns(model: torch.nn.Module) -> list[torch.nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("builder", BUILDERS)
def test_torchvision_weights_give_torchvisions_outputs(builder):
    source = source_of(builder)
    spec = at(BUILDERS[builder])
    ours = assert_equal_outputs(source, spec)
    assert [b.eps for b in bns(ours)] == [b.eps for b in bns(source)] == [1e-3] * len(bns(source))


@pytest.mark.parametrize("builder", ["efficientnet_v2_s", "efficientnet_v2_m"])
def test_fused_units_and_stochastic_depth_are_torchvisions(builder):
    with torch.device("meta"):
        theirs = getattr(torchvision.models, builder)(weights=None)
        ours = archspec.build(at(BUILDERS[builder]))
    stages = list(theirs.features)[1:-1]
    plan = archspec.plan(at(BUILDERS[builder]))
    assert [len(s) for s in stages] == [len(s.units) for s in plan.stages]
    for stage, planned in zip(stages, plan.stages):
        for block, unit in zip(stage, planned.units):
            fused = type(block).__name__ == "FusedMBConv"
            assert (unit.block == "fused_mbconv") == fused
            assert (unit.merge == "add") == block.use_res_connect
            assert len(block.block) == len([op for op in unit.ops if op.path.endswith("conv")]) + unit.has("se.fc1")
            module = ours.get_submodule(unit.name)
            drop_path = getattr(module, "drop_path", None)  # a graph unit has the step only at a rate above 0
            rate = drop_path.rate if isinstance(drop_path, DropPath) else 0.0
            assert isinstance(block.stochastic_depth, StochasticDepth)
            assert rate == pytest.approx(block.stochastic_depth.p if block.use_res_connect else 0.0, abs=1e-9)


def test_a_fused_unit_with_another_activation_is_refused():
    plan = archspec.plan(at("efficientnet-v2-s", "body.stages.1.block.act=relu"))
    with pytest.raises(ConversionError, match="unit stages.1.0 differs .* every Fused-MBConv unit uses SiLU"):
        names_of(plan, family_of(plan))


def test_an_even_fused_kernel_is_a_located_error():
    with pytest.raises(SpecError) as error:
        at("efficientnet-v2-s", "body.stages.1.block.kernel=4")
    assert "body.stages.1.block" in str(error.value) and "kernel 4 is even" in str(error.value)


def test_cli_builds_from_a_torchvision_checkpoint(tmp_path):
    source = source_of("efficientnet_v2_s")
    torch.save(source.state_dict(), tmp_path / "tv.pt")
    result = CliRunner().invoke(app, ["build", "efficientnet-v2-s", "--set", f"input.size={ZOO_SIZE}", "--set",
                                      "name=v2", "--weights", str(tmp_path / "tv.pt"), "--export", "state_dict",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = torch.load(tmp_path / "out" / "v2.pt", weights_only=True)
    assert torch.equal(written["stages.1.0.fused.conv.weight"], source.features[2][0].block[0][0].weight)
    assert torch.equal(written["stages.1.0.project.bn.running_var"], source.features[2][0].block[1][1].running_var)
    assert torch.equal(written["stages.0.1.fused.bn.weight"], source.features[1][1].block[0][1].weight)
