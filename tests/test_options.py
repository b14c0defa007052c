"""Block options and stem/shortcut variants: counts stay exact, behaviour is what the option says."""

from __future__ import annotations

import pytest
import torch
import torch.fx

import archspec
from conftest import measure, spec_path

VARIANTS = {
    "se": ["body.block.se={reduction: 4}"],
    "dropout": ["body.block.dropout=0.2"],
    "drop_path": ["body.block.drop_path=0.3"],
    "zero_init": ["body.block.zero_init_last_bn=true"],
    "grouped_basic": ["body.block.groups=4", "stem.width=32", "body.widening.base=32"],
    "option_b": ["body.shortcut=projection"],
    "option_c": ["body.shortcut=projection_all"],
    "resnet_d": ["body.shortcut=avgpool_projection"],
    "pyramid_pad": ["body.shortcut=avgpool_zero_pad"],
    "deep_stem": ["stem={type: deep, widths: [8, 8, 16], pool: none}", "input.size=64"],
    "imagenet_stem": ["stem={type: conv, kernel: 7, stride: 2, width: 16, pool: max}", "input.size=64"],
    "stem_without_bn": ["stem.norm=none"],
    "head_pre": ["head={type: classifier, pre: [bn, relu], dropout: 0.5}"],
    "rectangular": ["input.size=[32, 48]"],
    "bottleneck_1x1_stride": ["body.block={type: bottleneck, stride_on: 1x1}", "body.depth=29"],
    "preact_bottleneck": ["body.block={type: preact_bottleneck, se: {reduction: 8}}", "body.depth=29",
                          "body.shortcut=preact_projection"],
    "pyramid_bottleneck": ["body.block={type: pyramid_bottleneck}", "body.depth=29",
                           "body.widening={rule: additive, alpha: 24}", "body.shortcut=avgpool_zero_pad"],
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_counts_exact_and_traceable(name):
    overrides = VARIANTS[name]
    plan = archspec.plan(spec_path("resnet-20"), overrides=overrides)
    model = archspec.build(spec_path("resnet-20"), overrides=overrides)
    assert measure(model, (plan.in_channels, *plan.input_size)) == (plan.params, plan.macs)
    traced = torch.fx.symbolic_trace(model.eval())
    x = torch.randn(2, plan.in_channels, *plan.input_size)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x))


def test_every_unit_matches_its_module():
    """Per unit, not only in total: the Plan row and the submodule of the same name agree."""
    plan = archspec.plan(spec_path("resnet-20"), overrides=VARIANTS["se"] + VARIANTS["option_b"])
    model = archspec.build(spec_path("resnet-20"), overrides=VARIANTS["se"] + VARIANTS["option_b"])
    for unit in plan.units:
        module = model.get_submodule(unit.name)
        assert sum(p.numel() for p in module.parameters()) == unit.params, unit.name


def test_zero_init_zeroes_the_last_bn_only():
    model = archspec.build(spec_path("resnet-20"), overrides=VARIANTS["zero_init"])
    unit = model.get_submodule("stages.1.2")
    assert torch.count_nonzero(unit.bn2.weight) == 0
    assert torch.all(unit.bn1.weight == 1)


def test_zero_init_is_refused_for_preactivation(write_spec):
    with pytest.raises(archspec.SpecError, match="no last BN"):
        archspec.plan(spec_path("wrn-16-4"), overrides=["body.block.zero_init_last_bn=true"])


def test_drop_path_is_stochastic_in_training_only():
    model = archspec.build(spec_path("resnet-20"), overrides=["body.block.drop_path=0.5"])
    x = torch.randn(8, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    b = model(x)
    assert not torch.allclose(a, b)


def test_zero_pad_shortcut_pads_channels_with_zeros():
    model = archspec.build(spec_path("resnet-20")).eval()
    unit = model.get_submodule("stages.1.0")
    x = torch.randn(1, 16, 32, 32)
    *_, y, out = unit.tapped(x, ("shortcut.pad",))  # the shortcut's value, from the unit's generated code
    assert y.shape == out.shape == (1, 32, 16, 16)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0


def test_he_initialisation():
    model = archspec.build(spec_path("resnet-56"))
    conv = model.get_submodule("stages.2.3.conv1")
    fan_out = conv.out_channels * 9
    assert abs(conv.weight.std().item() - (2 / fan_out) ** 0.5) < 0.1 * (2 / fan_out) ** 0.5
