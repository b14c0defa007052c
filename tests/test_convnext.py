"""ConvNeXt (torchvision's convnext_tiny/_small/_base/_large): equal outputs under converted weights,
its layers' counts against torch, the converter's refusals and the spec's errors.

torchvision's models are made on the meta device and materialised uninitialised (``to_empty``),
then filled cheaply: weights uniform with std 1 / sqrt(fan_in), random biases, LayerNorm affines
and layer scales (torchvision's 1e-6 would hide every block behind the identity), so a misplaced
tensor anywhere changes the logits. Inputs are 32x32, torchvision's smallest for ConvNeXt.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from typer.testing import CliRunner

import archspec
from archspec.blocks.layers import LayerNorm2d, layer
from archspec.cli import app
from archspec.convert import ConversionError, from_torchvision
from archspec.plan.ops import LayerScale, Linear, Norm
from conftest import spec_path
from test_convert import assert_equal_outputs

BUILDERS = {"convnext_tiny": "convnext-tiny", "convnext_small": "convnext-small", "convnext_base": "convnext-base",
            "convnext_large": "convnext-large"}
SIZE = 32
runner = CliRunner()


def filled(model: torch.nn.Module) -> torch.nn.Module:
    """Every tensor random (see the module docstring), in eval mode."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name.endswith("layer_scale"):
                tensor.uniform_(0.1, 1.0, generator=generator)
            elif tensor.dim() > 1:  # conv and linear weights
                bound = math.sqrt(3.0 / tensor[0].numel())
                tensor.uniform_(-bound, bound, generator=generator)
            elif name.endswith("weight"):  # LayerNorm scales
                tensor.uniform_(0.5, 1.5, generator=generator)
            else:
                tensor.uniform_(-0.2, 0.2, generator=generator)
    return model.eval()


def meta_then_filled(make) -> torch.nn.Module:
    with torch.device("meta"):
        model = make()
    return filled(model.to_empty(device="cpu"))



@pytest.mark.parametrize("builder", BUILDERS)
def test_converted_torchvision_weights_give_torchvision_outputs(builder):
    source = meta_then_filled(getattr(torchvision.models, builder))
    assert_equal_outputs(source, archspec.load(spec_path(BUILDERS[builder]), [f"input.size={SIZE}"]))


# A small torchvision ConvNeXt (the class the builders call) and the bundled spec narrowed to it.
SMALL = [CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 2), CNBlockConfig(64, None, 1)]
SMALL_SETS = [f"input.size={SIZE}", "classes=10", "body.widening.widths=[16,32,64]", "name=convnext-small-test",
              "body.stages=[{units: 1, stride: 1}, {units: 2, stride: 2}, {units: 1, stride: 2}]"]


def small_source() -> torch.nn.Module:
    torch.manual_seed(0)
    return filled(ConvNeXt(SMALL, stochastic_depth_prob=0.1, num_classes=10))


def test_cli_builds_from_torchvision_weights(tmp_path):
    """``build --weights`` renames the checkpoint; the state_dict it writes computes torchvision's function."""
    source = small_source()
    torch.save(source.state_dict(), tmp_path / "tv.pt")
    sets = [arg for s in SMALL_SETS for arg in ("--set", s)]
    result = runner.invoke(app, ["build", str(spec_path("convnext-tiny")), *sets, "--weights", str(tmp_path / "tv.pt"),
                                 "--weights-format", "torchvision", "--export", "state_dict", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    ours = archspec.build(archspec.load(spec_path("convnext-tiny"), SMALL_SETS))
    ours.load_state_dict(torch.load(tmp_path / "out" / "convnext-small-test.pt", weights_only=True), strict=True)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), source(x))


def test_stochastic_depth_rates_are_torchvision_s():
    """0 at the first block, linearly to stochastic_depth_prob at the last, over all stages (in training only)."""
    source = torchvision.models.convnext_tiny  # rates are plain floats: read them off a meta build
    with torch.device("meta"):
        theirs = [m.stochastic_depth.p for m in source().modules() if hasattr(m, "stochastic_depth")]
    plan = archspec.plan(spec_path("convnext-tiny"))
    assert [u.options.drop_path for u in plan.body] == theirs and theirs[0] == 0.0 and theirs[-1] == 0.1


def test_per_position_linear_and_layer_norm_counts_are_torch_s():
    """nn.Linear on an NHWC map: FlopCounterMode counts one matmul over every position."""
    record = Linear("fc", 8, 24, size=(3, 5))
    module = layer(record)
    with FlopCounterMode(display=False) as counter:
        module(torch.randn(1, 3, 5, 8))
    assert counter.get_total_flops() == 2 * record.macs == 2 * 8 * 24 * 15
    assert record.params == sum(p.numel() for p in module.parameters()) and record.out_elements == 24 * 15
    assert Linear("fc", 8, 24).macs == 8 * 24  # a pooled vector's, as before
    for channels_last, cls in ((False, LayerNorm2d), (True, torch.nn.LayerNorm)):
        norm = Norm("norm", 8, (3, 5), eps=1e-6, kind="layer", channels_last=channels_last)
        built = layer(norm)
        assert type(built) is cls and {k: tuple(v.shape) for k, v in built.state_dict().items()} == norm.tensors
    scale = LayerScale("layer_scale", 8, (3, 5), 1e-6)
    assert scale.tensors == {"": (8, 1, 1)} and scale.params == 8 and scale.elementwise == {"scale": 8 * 15}


def test_layer_norm_2d_is_torchvision_s():
    ours, theirs = layer(Norm("n", 6, (4, 4), eps=1e-6, kind="layer")), torchvision.models.convnext.LayerNorm2d(6, 1e-6)
    filled(ours), theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 6, 4, 4)
    torch.testing.assert_close(ours(x), theirs(x))


def test_converter_refuses_other_layouts():
    weights = small_source().state_dict()
    no_downsampling = "body.stages=[{units: 1}, {units: 2, stride: 1, width: 16}, {units: 1, stride: 2}]"
    with pytest.raises(ConversionError, match="stages.1.0 differs .* opens with LayerNorm"):
        from_torchvision(weights, archspec.load(spec_path("convnext-tiny"), [*SMALL_SETS[:-1], no_downsampling]))
    resnet_stem = archspec.load(spec_path("convnext-tiny")).model_copy(
        update={"stem": archspec.load(spec_path("resnet-50")).stem})
    with pytest.raises(ConversionError, match="convnext layout: the stem is a 4x4/4 patchify conv"):
        from_torchvision(weights, resnet_stem)
    fewer = "body.stages=[{units: 1}, {units: 1, stride: 2}, {units: 1, stride: 2}]"
    with pytest.raises(ConversionError, match="'features.3.1.layer_scale' .* has no place"):
        from_torchvision(weights, archspec.load(spec_path("convnext-tiny"), [*SMALL_SETS[:-1], fewer]))


@pytest.mark.parametrize(("sets", "message"), [
    (["body.block.kernel=6"], "kernel 6 is even"),
    (["body.widening={rule: additive, alpha: 48}"], "cannot start from the stem's: give it a `base`"),
    (["stem.patch=256"], "256x256 patches leave no map"),
])
def test_bad_specs_exit_2_with_a_located_message(sets, message):
    result = runner.invoke(app, ["validate", str(spec_path("convnext-tiny")), *(a for s in sets for a in ("--set", s))])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_elementwise_counts_by_hand():
    """A downsampling unit (192 -> 384, 4x4 -> 2x2 at 32x32) and the head, counted from the layout."""
    from archspec.complexity.counting import elementwise

    plan = archspec.plan(spec_path("convnext-tiny"), input_size=32)
    unit, hw = plan.unit("stages.2.0"), 2 * 2
    assert unit.has("down.conv") and unit.out_size == (2, 2)
    counted = elementwise(unit)
    assert counted.norm == 192 * 4 * 4 + 384 * hw  # down.norm on the input map, the block's norm
    assert counted.bias == 384 * hw * (1 + 1 + 4 + 1)  # down.conv, dwconv, pwconv1 (4C), pwconv2
    assert (counted.scale, counted.add, counted.pool) == (384 * hw, 384 * hw, 0)
    head = elementwise(plan.head)  # a 1x1 map at 32x32: its pool shrinks nothing, as the classifier head's
    assert (head.pool, head.norm, head.bias) == (0, 768, 1000)
    big = elementwise(archspec.plan(spec_path("convnext-tiny")).head)  # 7x7 at 224: the pool before the norm
    assert (big.pool, big.norm) == (768 * 49, 768)


def test_layer_scales_are_bare_parameters_starting_at_the_spec_s_value():
    """Each block's layer scale is a parameter of the unit itself (``stages.i.j.layer_scale``, torchvision's
    CNBlock key), filled by the init with the spec's start value; a block without downsampling returns its
    input plus that scale times its branch (the branch permuted back to NCHW first)."""
    spec = archspec.load(spec_path("convnext-tiny"), [*SMALL_SETS, "body.block.layer_scale=0.25"])
    plan, model = archspec.plan(spec), archspec.build(spec)
    scales = {k: v for k, v in model.state_dict().items() if k.endswith("layer_scale")}
    assert set(scales) == {f"{u.name}.layer_scale" for u in plan.body}
    for name, value in scales.items():
        width = plan.unit(name.rsplit(".", 1)[0]).out_channels
        assert value.shape == (width, 1, 1) and torch.all(value == 0.25), name
    unit = model.stages[1][1].eval()
    x = torch.randn(2, 32, 4, 4)
    with torch.no_grad():
        branch = unit.pwconv2(unit.act(unit.pwconv1(unit.norm(unit.dwconv(x).permute(0, 2, 3, 1)))))
        torch.testing.assert_close(unit(x), x + 0.25 * branch.permute(0, 3, 1, 2))
