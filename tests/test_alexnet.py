"""AlexNet (torchvision's ``alexnet``) as the bundled spec: torchvision's weights give its outputs.

torchvision's model is built on the meta device with its 4096-wide hidden FCs narrowed
(54M of its 61M parameters are in them), then given memory, He's init (without BN,
PyTorch's default shrinks the signal layer by layer until the biases alone make the
logits) and random biases. At 96x96 its last map is 2x2, pooled up to 6x6.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.convert import ConversionError, from_torchvision
from archspec.plan.expand import spec_hash
from conftest import spec_path
from test_convert import randomise

SIZE = 96
HIDDEN = (64, 64)
NARROW = [f"input.size={SIZE}", f"head.hidden={list(HIDDEN)}"]


@pytest.fixture(scope="module")
def source() -> nn.Module:
    torch.manual_seed(12)
    with torch.device("meta"):
        model = torchvision.models.alexnet(weights=None)
        widths = [model.classifier[1].in_features, *HIDDEN, model.classifier[6].out_features]
        for index, (cin, cout) in zip((1, 4, 6), zip(widths, widths[1:])):
            model.classifier[index] = nn.Linear(cin, cout)
    model.to_empty(device="cpu")
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.reset_parameters()
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    return randomise(model, (3, SIZE, SIZE))


@pytest.fixture(scope="module")
def ours(source) -> nn.Module:
    spec = archspec.load(spec_path("alexnet"), NARROW)
    model = archspec.build(spec)
    model.load_state_dict(from_torchvision(source.state_dict(), spec), strict=True)
    return model.eval()


def inputs() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def test_converted_weights_give_torchvision_outputs(source, ours):
    with torch.no_grad():
        expected, got = source.eval()(inputs()), ours.eval()(inputs())
    assert 0.2 < expected.std() < 5 and (expected[0] - expected[1]).std() > 1e-2  # input-dependent, O(1) logits
    torch.testing.assert_close(got, expected)


def test_dropout_sits_before_each_hidden_fc_as_in_torchvision(source, ours):
    """In training mode, one seed draws the same dropout masks only if they are drawn in the same places."""
    spec = archspec.load(spec_path("alexnet"), [*NARROW, "head.dropout_at=after_relu"])
    vgg_order = archspec.build(spec)
    vgg_order.load_state_dict(ours.state_dict())
    runs = []
    for model in (source, ours, vgg_order):
        torch.manual_seed(5)
        with torch.no_grad():
            runs.append(model.train()(inputs()))
        model.eval()
    torch.testing.assert_close(runs[1], runs[0])
    assert not torch.allclose(runs[2], runs[0], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(("overrides", "refusal"), [
    (["head.dropout_at=after_relu"], r"alexnet: unit head differs .* dropout before each hidden FC"),
    (["stem.layers.0.padding=3"], r"alexnet: unit stem differs .* conv11/4 \(padding 2\)"),  # same shapes at 96
])
def test_same_shapes_but_another_layout_is_refused(source, overrides, refusal):
    spec = archspec.load(spec_path("alexnet"), [*NARROW, *overrides])
    with pytest.raises(ConversionError, match=refusal):
        from_torchvision(source.state_dict(), spec)


def test_smallest_input_is_torchvision_s():
    low = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["min_size"][0]
    assert archspec.plan(spec_path("alexnet"), input_size=low).head.in_size == (1, 1)
    with pytest.raises(archspec.SpecError, match="leaves a 0x0 map"):
        archspec.plan(spec_path("alexnet"), input_size=low - 1)


def test_cli_builds_from_torchvision_weights(source, tmp_path):
    weights = tmp_path / "alexnet-tv.pt"
    torch.save(source.state_dict(), weights)
    sets = [arg for s in [*NARROW, "name=alexnet"] for arg in ("--set", s)]
    result = CliRunner().invoke(app, ["build", "alexnet", *sets, "--weights", str(weights), "--weights-format",
                                      "torchvision", "-e", "state_dict", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = torch.load(tmp_path / "out" / "alexnet.pt", weights_only=True)
    assert torch.equal(written["stages.0.2.conv.weight"], source.features[10].weight)
    assert torch.equal(written["head.fc2.weight"], source.classifier[4].weight)


def test_layer_list_stem_convs_take_padding_and_bias():
    """AlexNet's conv1 pads by 2 (unset: kernel // 2 = 5); a conv has a bias exactly without BN unless told."""
    unpadded = archspec.plan(spec_path("alexnet"), overrides=["stem.layers.0.padding=0"]).stem
    assert unpadded.op("conv1.conv").out_size == ((224 - 11) // 4 + 1,) * 2
    same = archspec.plan(spec_path("alexnet"), overrides=["stem.layers.0={type: conv, width: 64, kernel: 11, "
                                                          "stride: 4, norm: none}"]).stem
    assert same.op("conv1.conv").pad == 5 and same.op("conv1.conv").bias
    stem = archspec.plan(spec_path("alexnet")).stem
    unbiased = archspec.plan(spec_path("alexnet"), overrides=["stem.layers.0.bias=false"]).stem
    assert stem.params - unbiased.params == 64
    googlenet = archspec.plan(spec_path("googlenet")).stem
    biased = archspec.plan(spec_path("googlenet"), overrides=["stem.layers.0.bias=true"]).stem
    assert biased.params - googlenet.params == 64 and biased.has("conv1.bn")


def test_the_default_dropout_position_spelled_out_is_the_same_network():
    vgg = archspec.load(spec_path("vgg-16"))
    assert spec_hash(archspec.load(spec_path("vgg-16"), ["head.dropout_at=after_relu"])) == spec_hash(vgg)
    assert spec_hash(archspec.load(spec_path("vgg-16"), ["head.dropout_at=before_fc"])) != spec_hash(vgg)
