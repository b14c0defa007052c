"""SqueezeNet 1.0 and 1.1 (torchvision's ``squeezenet1_0``/``squeezenet1_1``) as bundled specs.

torchvision's models (1.2M parameters each) are built with their own init, given random
biases (torchvision zeroes them: a misplaced bias would not show) and their final conv
rescaled so the logits are O(1). At 64x64 the last fire module sees a 3x3 map.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch
import torchvision
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.convert import ConversionError, from_torchvision
from archspec.export.onnx import export_onnx, verify_onnx
from conftest import spec_path

SIZE = 64
AT_SIZE = [f"input.size={SIZE}"]
BUILDERS = {"squeezenet1_0": "squeezenet-1.0", "squeezenet1_1": "squeezenet-1.1"}


def inputs() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@lru_cache(maxsize=None)
def converted(builder: str) -> tuple[str, nn.Module, nn.Module]:
    """(builder, torchvision's model, ours with its converted weights), both in eval mode."""
    torch.manual_seed(len(builder))
    source = getattr(torchvision.models, builder)(weights=None).eval()
    with torch.no_grad():
        for layer in source.modules():
            if isinstance(layer, nn.Conv2d):
                layer.bias.normal_(0.0, 0.1)
        final = source.classifier[1]
        scale = source(inputs()).std()
        final.weight.div_(scale)
        final.bias.div_(scale)
    spec = archspec.load(spec_path(BUILDERS[builder]), AT_SIZE)
    ours = archspec.build(spec)
    ours.load_state_dict(from_torchvision(source.state_dict(), spec), strict=True)
    return builder, source, ours.eval()


@pytest.fixture(params=sorted(BUILDERS))
def pair(request) -> tuple[str, nn.Module, nn.Module]:
    return converted(request.param)


def test_converted_weights_give_torchvision_outputs(pair):
    _, source, ours = pair
    with torch.no_grad():
        expected, got = source.eval()(inputs()), ours.eval()(inputs())
    assert 0.2 < expected.std() < 5 and (expected[0] - expected[1]).std() > 1e-2  # input-dependent, O(1) logits
    torch.testing.assert_close(got, expected)


def test_dropout_before_the_conv_classifier_as_in_torchvision(pair):
    """In training mode, one seed draws the same dropout mask only if it is drawn in the same place."""
    _, source, ours = pair
    runs = []
    for model in (source, ours):
        torch.manual_seed(5)
        with torch.no_grad():
            runs.append(model.train()(inputs()))
        model.eval()
    torch.testing.assert_close(runs[1], runs[0])


@pytest.mark.parametrize(("overrides", "refusal"), [
    (["stem.layers.0.padding=1"], r"unit stem differs from torchvision.s squeezenet layout: .* no padding"),
    (["body.downsample.ceil=false"], r"unit stages\.0\.2 differs from torchvision.s squeezenet layout: .* ceil: true"),
])
def test_same_shapes_but_another_layout_is_refused(overrides, refusal):
    source = torchvision.models.squeezenet1_1(weights=None)
    spec = archspec.load(spec_path("squeezenet-1.1"), [*AT_SIZE, *overrides])
    with pytest.raises(ConversionError, match=refusal):
        from_torchvision(source.state_dict(), spec)


@pytest.mark.parametrize(("overrides", "message"), [
    (["body.block.squeeze_ratio=0.3"], r"body\.block\.squeeze_ratio: squeeze_ratio 0\.3 of stages\.0\.0's width 128 "
                                       r"is 38\.4 channels, not a whole number"),
    (["body.block.pct_3x3=0.7"], r"body\.block\.pct_3x3: pct_3x3 0\.7 of stages\.0\.0's width 128 is 89\.6 channels"),
    (["body.downsample={type: strided}"], r"body\.stages\[0\]\.stride: fire units keep the spatial size"),
])
def test_fire_widths_split_exactly_or_the_plan_is_refused(overrides, message):
    with pytest.raises(archspec.SpecError, match=message):
        archspec.plan(spec_path("squeezenet-1.1"), overrides=overrides)


def test_fire_ratios_split_the_unit_width():
    unit = archspec.plan(spec_path("squeezenet-1.0"), overrides=["body.block.pct_3x3=0.25"]).unit("stages.1.3")
    assert (unit.in_channels, unit.inner_channels, unit.out_channels) == (384, 64, 512)
    assert [(op.path, op.cout) for op in unit.ops] == [("squeeze", 64), ("expand1x1", 384), ("expand3x3", 128)]


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_smallest_input_is_torchvision_s(builder):
    weights = {"squeezenet1_0": torchvision.models.SqueezeNet1_0_Weights,
               "squeezenet1_1": torchvision.models.SqueezeNet1_1_Weights}[builder]
    low = weights.IMAGENET1K_V1.meta["min_size"][0]
    archspec.plan(spec_path(BUILDERS[builder]), input_size=low)
    with pytest.raises(archspec.SpecError, match="leaves a 0x0 map"):
        archspec.plan(spec_path(BUILDERS[builder]), input_size=low - 1)


def test_cli_builds_from_torchvision_weights(tmp_path):
    source = torchvision.models.squeezenet1_1(weights=None)
    weights = tmp_path / "squeezenet-tv.pt"
    torch.save(source.state_dict(), weights)
    result = CliRunner().invoke(app, ["build", "squeezenet-1.1", "--set", f"input.size={SIZE}", "--set",
                                      "name=squeezenet-1.1", "--weights", str(weights), "--weights-format",
                                      "torchvision", "-e", "state_dict", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = torch.load(tmp_path / "out" / "squeezenet-1.1.pt", weights_only=True)
    assert torch.equal(written["stages.2.3.expand3x3.weight"], source.features[12].expand3x3.weight)
    assert torch.equal(written["head.conv.bias"], source.classifier[1].bias)


def test_onnx_export_of_converted_weights_matches_torchvision_in_onnxruntime(tmp_path):
    _, source, ours = converted("squeezenet1_1")  # 1.0 has the same kinds of layers
    path = tmp_path / "squeezenet.onnx"
    export_onnx(ours, (3, SIZE, SIZE), path)
    check = verify_onnx(source, (3, SIZE, SIZE), path, calibrate=False)  # onnxruntime vs torchvision itself
    assert check.ok, check
