"""MobileNetV2 and V3: torchvision's weights give torchvision's outputs, torchvision's own
modules tell every SE width, and the converter tells MobileNetV2 from EfficientNet.

torchvision's models are the oracle: built on the meta device, given real storage and
PyTorch's default init, then randomised with calibrated BN statistics (test_convert.py's
``randomise``). Inputs are 64x64 (as in test_convert.py): the last maps are 2x2, so BN statistics are well measured.
"""

from __future__ import annotations

import json
from functools import lru_cache

import pytest
import torch
import torchvision
from torchvision.models._utils import _make_divisible
from typer.testing import CliRunner

import archspec
from archspec.api import plan
from archspec.plan.expand import expand
from archspec.cli import app
from archspec.convert import ConversionError
from archspec.convert.efficientnet import EFFICIENTNET
from archspec.convert.efficientnet import mbconv as efficientnet_mbconv
from archspec.convert.mobilenet import MOBILENET_V2, MOBILENET_V3, mobilenet_v2_unit
from archspec.convert.rules import family_of, names_of
from archspec.complexity.measure import measure_saved
from archspec.complexity.memory import memory
from conftest import spec_path, zeros_build
from test_convert import assert_equal_outputs, randomise
from test_families import meta_counts

SIZE = 64
BUILDERS = {"mobilenet_v2": "mobilenet-v2", "mobilenet_v3_large": "mobilenet-v3-large",
            "mobilenet_v3_small": "mobilenet-v3-small"}
runner = CliRunner()


@lru_cache(maxsize=None)
def torchvision_model(name: str) -> torch.nn.Module:
    """torchvision's ``name`` (built once), PyTorch's default init, randomised with calibrated BN statistics."""
    torch.manual_seed(len(name))
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None)
    model.to_empty(device="cpu")
    for layer in model.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)):
            layer.reset_parameters()
    return randomise(model, (3, SIZE, SIZE))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_torchvision_weights_give_torchvision_outputs(name):
    source = torchvision_model(name)
    spec = archspec.load(spec_path(BUILDERS[name]), [f"input.size={SIZE}"])
    assert_equal_outputs(source, spec)


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_se_widths_and_their_rounding_are_torchvision_s(name):
    """Every unit's SE width is the one torchvision's module has; the record says how it was rounded."""
    with torch.device("meta"):
        features = getattr(torchvision.models, name)(weights=None).features
    units = plan(spec_path(BUILDERS[name])).body
    assert len(units) == len(features) - 2
    for unit, module in zip(units, list(features)[1:-1]):
        se = [m for m in module.modules() if isinstance(m, torchvision.ops.SqueezeExcitation)]
        expanded = module.block[-1][0].in_channels  # the project conv reads the expanded width
        if not se:
            assert unit.options.se_channels == 0 and "se_channels" not in unit.scaling  # only the width's record
            continue
        assert unit.options.se_channels == se[0].fc1.out_channels == unit.scaling["se_channels"]
        assert unit.scaling["se_raw"] == expanded // 4 and unit.scaling["se_base"] == expanded


def test_report_shows_the_se_rounding():
    result = runner.invoke(app, ["report", str(spec_path("mobilenet-v3-small")), "--format", "json"])
    assert result.exit_code == 0, result.output
    first = next(u for u in json.loads(result.output)["units"] if u["name"] == "stages.0.0")
    assert first["scaling"]["se_raw"] == 4 and first["scaling"]["se_channels"] == 8  # 16 // 4 = 4 -> 8
    text = runner.invoke(app, ["report", str(spec_path("mobilenet-v3-small")), "--format", "markdown"]).output
    assert "SE 16 // 4 = 4 -> 8" in text and "5 of 9 rounded" in text


def test_each_spec_picks_its_family_and_the_rules_refuse_the_other():
    v2, b0, v3 = (plan(spec_path(n), input_size=(SIZE, SIZE)) for n in ("mobilenet-v2", "efficientnet-b0",
                                                                          "mobilenet-v3-small"))
    assert family_of(v2) is MOBILENET_V2 and family_of(b0) is EFFICIENTNET and family_of(v3) is MOBILENET_V3
    with pytest.raises(ConversionError, match="stem differs from torchvision's mobilenet_v2 layout"):
        names_of(b0, MOBILENET_V2)
    with pytest.raises(ConversionError, match="stem differs from torchvision's efficientnet layout"):
        names_of(v2, EFFICIENTNET)
    for unit in b0.body:  # the unit rules refuse each other's units too, not only the stems
        with pytest.raises(ConversionError, match="mobilenet_v2 layout: every inverted residual uses ReLU6"):
            mobilenet_v2_unit(unit, b0)
    for unit in v2.body:
        with pytest.raises(ConversionError, match="efficientnet layout: every MBConv unit uses SiLU"):
            efficientnet_mbconv(unit, v2)
    silu = plan(spec_path("mobilenet-v2"), input_size=(SIZE, SIZE), overrides=["body.block.act=silu"])
    with pytest.raises(ConversionError, match="fits no torchvision family"):
        family_of(silu)


def test_torchvision_names_are_its_state_dict_keys():
    """The flat ``features`` numbering, V2's split projection and V3's classifier.0/.3."""
    v2 = names_of(plan(spec_path("mobilenet-v2")), MOBILENET_V2)
    assert v2["stages.0.0"] == {"dw.conv": "features.1.conv.0.0", "dw.bn": "features.1.conv.0.1",
                                "project.conv": "features.1.conv.1", "project.bn": "features.1.conv.2"}
    assert v2["stages.6.0"]["project.bn"] == "features.17.conv.3" and v2["head"]["conv"] == "features.18.0"
    v3 = names_of(plan(spec_path("mobilenet-v3-large")), MOBILENET_V3)
    assert v3["stages.2.0"]["se.fc2"] == "features.4.block.2.fc2"
    assert v3["head"] == {"conv": "features.16.0", "bn": "features.16.1", "fc1": "classifier.0", "fc2": "classifier.3"}


def test_cli_builds_from_torchvision_weights(tmp_path):
    source = torchvision_model("mobilenet_v3_small")
    torch.save(source.state_dict(), tmp_path / "tv.pt")
    result = runner.invoke(app, ["build", str(spec_path("mobilenet-v3-small")), "--set", f"input.size={SIZE}",
                                 "--set", "name=mnv3s", "--weights", str(tmp_path / "tv.pt"),
                                 "--weights-format", "torchvision", "--export", "state_dict", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = torch.load(tmp_path / "out" / "mnv3s.pt", weights_only=True)
    assert torch.equal(written["stages.0.0.se.fc1.bias"], source.features[1].block[1].fc1.bias)
    assert torch.equal(written["head.fc2.weight"], source.classifier[3].weight)


@pytest.mark.parametrize(("sets", "where"), [
    (["body.block.layers=[[4, 16, 16, false, relu]]"], "body.block.layers"),
    (["body.block.layers=[[3, 16, 16, false, gelu]]"], "body.block.layers"),
    (["head.act=tanh"], "head.act"),
    (["scaling={rule: compound, depth_mult: 1.2}"], "scaling: compound scaling resizes"),  # not silently ignored
    (["body.stages.1.width=32"], "body.widening: bneck units take their widths from the `layers` table"),
])
def test_bad_bneck_input_is_one_located_error(sets, where):
    args = ["validate", str(spec_path("mobilenet-v3-small"))] + [a for s in sets for a in ("--set", s)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert where in result.output and "Traceback" not in result.output


def test_a_sigmoid_gate_is_built_and_its_saves_counted():
    """The other SE gate (``se_gate: sigmoid``) builds, and its unit's saved bytes are autograd's on real tensors."""
    resolved = plan(spec_path("mobilenet-v3-small"), overrides=["input.size=32", "body.stages.2.block.se_gate=sigmoid"])
    model = zeros_build(resolved)
    assert isinstance(model.get_submodule("stages.2.0.se.gate"), torch.nn.Sigmoid)
    x = torch.randn(2, 3, 32, 32)
    probe = measure_saved(model, [u.name for u in resolved.units], x)
    assert memory(resolved, 2).train_saved_bytes == probe.total


def test_list_tells_mobilenet_v2_from_efficientnet():
    rows = [r for pattern in ("mobilenet", "efficientnet-b0")
            for r in json.loads(runner.invoke(app, ["list", pattern, "-f", "json"]).output)]
    family = {r["name"]: r["family"] for r in rows}
    assert [family[n] for n in sorted(BUILDERS.values())] == ["mobilenet_v2", "mobilenet_v3", "mobilenet_v3"]
    assert family["efficientnet-b0"] == "efficientnet"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_train_saved_bytes_are_what_autograd_saves_for_torchvision_s_own_module(name):
    """The memory rules (ReLU6 and Hardswish copies, SE's out-of-place ReLU and Hardsigmoid, the in-place
    dropout) hold for torchvision's modules as torchvision builds them, not only for ours (meta device, 224)."""
    with torch.device("meta"):
        source = getattr(torchvision.models, name)(weights=None)
        x = torch.empty(2, 3, 224, 224)
    measured = measure_saved(source, ["features", "classifier"], x)
    assert memory(plan(spec_path(BUILDERS[name])), 2).train_saved_bytes == measured.total > 0


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_inference_peak_is_torchvision_s_traced_forward(name):
    """``infer_peak_bytes`` against the aten ops of torchvision's own forward (its in-place residual add included)."""
    from archspec.complexity.measure import measure_infer_peak

    source = torchvision_model(name)
    trace = measure_infer_peak(source, torch.randn(2, 3, SIZE, SIZE))
    assert memory(plan(spec_path(BUILDERS[name]), overrides=[f"input.size={SIZE}"]), 2).infer_peak_bytes == trace.peak() > 0


MULTIPLIERS = [0.35, 0.5, 0.75, 1.0, 1.4]


@pytest.mark.parametrize("width_mult", MULTIPLIERS)
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_width_mult_is_torchvision_s(name, width_mult):
    """`--set scaling.width_mult=m` is torchvision's ``width_mult=m``, head included, exact in params and
    MACs (FlopCounterMode / 2, meta device): MobileNetV2's last conv _make_divisible(1280 x max(1, m), 8)
    (0.75: 2,636,424 params, not 2,238,984 from 4 x the scaled 240), MobileNetV3's rows and hidden FC
    _make_divisible(c x m, 8). The expansion writes the scaled widths out and is the same network."""
    spec = archspec.load(spec_path(BUILDERS[name]), [f"scaling.width_mult={width_mult}"])
    with torch.device("meta"):
        theirs = meta_counts(getattr(torchvision.models, name)(weights=None, width_mult=width_mult), (3, 224, 224))
    resolved = plan(spec)
    assert (resolved.params, resolved.macs) == theirs
    assert resolved.stem.scaling["width"] == resolved.stem.out_channels == _make_divisible(
        (32 if name == "mobilenet_v2" else 16) * width_mult, 8)
    expanded = archspec.load(expand(spec))
    assert expanded.scaling is None and (plan(expanded).params, plan(expanded).macs) == theirs
    if name == "mobilenet_v2" and width_mult == 0.75:
        assert resolved.params == 2_636_424 and resolved.head.scaling["width"] == 1280


def test_width_mult_rounding_is_recorded_per_row():
    """MobileNetV3-Small at 0.75: the first row's 16 -> 12 -> 16, its SE from the scaled expanded width."""
    units = plan(spec_path("mobilenet-v3-small"), overrides=["scaling.width_mult=0.75"]).body
    first = units[0].scaling
    assert (first["base_width"], first["raw_width"], first["width"]) == (16, 12.0, 16)
    assert (first["base_expanded"], first["expanded"], first["se_base"]) == (16, 16, 16)
    assert units[0].options.se_channels == first["se_channels"] == 8


def test_bneck_tables_refuse_a_depth_multiplier():
    with pytest.raises(archspec.SpecError) as info:
        archspec.validate(spec_path("mobilenet-v3-large"), ["scaling.depth_mult=1.2"])
    [problem] = info.value.problems
    assert problem.path == "scaling" and "depth_mult must be 1" in problem.message
