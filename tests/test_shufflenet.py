"""ShuffleNetV2: torchvision's four builders under their converted weights, the channel shuffle, the refusals.

The torchvision models are built on the meta device, given memory, PyTorch's default init and
calibrated BN statistics (test_convert.zoo_model), and compared at 32x32, the smallest input
whose last stage still sees a map (stride 32 in all: a 1x1 map).
"""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torchvision.models.shufflenetv2 import channel_shuffle as torchvision_shuffle
from typer.testing import CliRunner

import archspec
from archspec.blocks.graph_unit import channel_shuffle
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.complexity.memory import memory
from archspec.convert import ConversionError, from_torchvision
from archspec.export.onnx import export_onnx, verify_onnx
from archspec.spec import SpecError
from conftest import spec_path
from test_convert import ZOO_SIZE, assert_equal_outputs, zoo_model
from test_families import calibrate

BUILDERS = {f"shufflenet_v2_{w.replace('.', '_')}": f"shufflenet-v2-{w}" for w in ("x0.5", "x1.0", "x1.5", "x2.0")}
AT_32 = [f"input.size={ZOO_SIZE}"]


@pytest.mark.parametrize("name", BUILDERS)
def test_converted_weights_give_torchvision_outputs(name):
    source = zoo_model(name)
    spec = archspec.load(spec_path(BUILDERS[name]), AT_32)
    assert_equal_outputs(source, spec)


def test_channel_shuffle_is_torchvision_s_and_only_permutes():
    x = torch.randn(3, 12, 5, 4)
    shuffled = channel_shuffle(x, 2)
    assert torch.equal(shuffled, torchvision_shuffle(x, 2))
    assert torch.equal(shuffled[:, 1], x[:, 6]) and torch.equal(shuffled[:, 2], x[:, 1])  # halves interleave
    assert torch.equal(channel_shuffle(x, 3), torchvision_shuffle(x, 3))


def test_units_split_only_where_the_stride_is_one():
    plan = archspec.plan(spec_path("shufflenet-v2-x1.0"))
    first, second = plan.unit("stages.0.0"), plan.unit("stages.0.1")
    assert (first.options.split, first.stride, first.in_channels, first.out_channels) == (False, 2, 24, 116)
    assert (second.options.split, second.stride, second.in_channels, second.out_channels) == (True, 1, 116, 116)
    assert second.op("branch2.pw1.conv").cin == 58 and not second.has("branch1.dw.conv")
    assert first.op("branch1.dw.conv").groups == 24 and first.op("branch2.dw.conv").stride == 2
    assert all(not op.bias for u in plan.body for op in u.ops if hasattr(op, "bias"))



def test_a_split_unit_passes_its_first_half_through_to_the_even_channels():
    """Stride 1: the first half of the input is concatenated as it is, before branch2's output, and the
    shuffle interleaves the two, so the even output channels are that half, unchanged; the odd ones
    are branch2's conv-BN-act parts run on the second half alone."""
    plan = archspec.plan(spec_path("shufflenet-v2-x0.5"), overrides=AT_32)
    unit = Network(plan).eval().stages[0][1]
    x = torch.randn(2, 48, 4, 4)
    with torch.no_grad():
        out = unit(x)
        branch = x[:, 24:]
        for part in ("pw1", "dw", "pw2"):
            layers = getattr(unit.branch2, part)
            branch = layers.bn(layers.conv(branch))
            branch = layers.act(branch) if hasattr(layers, "act") else branch  # the depthwise part has none
    assert torch.equal(out[:, 0::2], x[:, :24]) and not hasattr(unit, "branch1")
    torch.testing.assert_close(out[:, 1::2], branch, rtol=0, atol=0)

def test_cli_builds_from_torchvision_weights(tmp_path):
    source = zoo_model("shufflenet_v2_x0_5")
    torch.save(source.state_dict(), tmp_path / "tv.pt")
    result = CliRunner().invoke(app, ["build", str(spec_path("shufflenet-v2-x0.5")), "--set", "input.size=32",
                                      "--set", "name=shuffle", "--weights", str(tmp_path / "tv.pt"),
                                      "--export", "state_dict", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = torch.load(tmp_path / "out" / "shuffle.pt", weights_only=True)
    assert torch.equal(written["stages.2.0.branch1.pw.bn.running_var"], source.stage4[0].branch1[3].running_var)
    assert torch.equal(written["stages.1.3.branch2.dw.conv.weight"], source.stage3[3].branch2[3].weight)


@pytest.mark.parametrize(("sets", "message"), [
    (["body.stages.1.stride=1"], "body.stages[1].stride: shuffle unit stages.1.0 has stride 1 and 116 -> 232 channels"),
    (["body.widening.widths=[116, 231, 464]"], "body.widening: shuffle unit stages.1.0 has width 231"),
    (["head.expansion=2"], "head.conv_classifier: give either `expansion` or `width`, not both"),
])
def test_bad_layouts_are_located_errors(sets, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        archspec.plan(spec_path("shufflenet-v2-x1.0"), overrides=sets)


def test_conversion_refuses_a_layout_torchvision_lacks():
    plan = archspec.plan(spec_path("shufflenet-v2-x0.5"), overrides=[
        *AT_32, "body.stages=[{units: 4, stride: 2}, {units: 8, stride: 2}, {units: 4, stride: 2}, {units: 1, stride: 1}]",
        "body.widening.widths=[48, 96, 192, 192]"])
    source = torchvision.models.shufflenet_v2_x0_5()
    with pytest.raises(ConversionError, match="the body has 3 stages"):
        from_torchvision(source.state_dict(), plan)


def test_a_split_unit_saves_its_whole_input_once_and_six_half_maps():
    """x0.5's stages.0.1 (48 channels, 28x28, batch 1, fp32): branch2's first conv saves its half of the
    input, a view of the whole 48-channel storage; then each conv's and BN's output (six 24-channel maps,
    the ReLUs in place) and each BN's mean and inverse std. The channel shuffle's copy saves nothing."""
    unit = archspec.plan(spec_path("shufflenet-v2-x0.5")).unit("stages.0.1")
    assert (unit.in_channels, unit.inner_channels, unit.in_size) == (48, 24, (28, 28))
    expected = ((48 + 6 * 24) * 28 * 28 + 3 * 2 * 24) * 4
    assert memory(archspec.plan(spec_path("shufflenet-v2-x0.5")), 1).units["stages.0.1"].train_saved_bytes == expected


def test_onnx_export_of_split_and_strided_units_is_verified(tmp_path):
    """chunk (ONNX Split), concat and the shuffle's reshapes and transpose, in onnxruntime. Four units
    (one split unit, three strided ones) keep the export short; the bundled specs differ only in counts."""
    plan = archspec.plan(spec_path("shufflenet-v2-x0.5"), overrides=[
        *AT_32, "body.stages=[{units: 2, stride: 2}, {units: 1, stride: 2}, {units: 1, stride: 2}]"])
    assert [u.options.split for u in plan.body] == [False, True, False, False]
    model = calibrate(Network(plan), torch.randn(8, 3, ZOO_SIZE, ZOO_SIZE))
    export_onnx(model, (3, ZOO_SIZE, ZOO_SIZE), tmp_path / "model.onnx")
    check = verify_onnx(model, (3, ZOO_SIZE, ZOO_SIZE), tmp_path / "model.onnx")
    assert check.ok, check
