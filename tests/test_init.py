"""Weights start as each family's reference code starts them (docs/init.md).

torchvision's freshly built models are the reference for the ImageNet families: their
tensors, renamed to ours by the converter, are compared with a fresh build tensor by
tensor, mean and std within a statistical tolerance (six standard errors). The CIFAR
families' reference codes are not installed; their init loops are stated as the
distribution each tensor must have (the facts in docs/init.md), and checked the same way.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

import archspec
from archspec.blocks.init import initialise
from archspec.convert import from_torchvision
from archspec.spec import SpecError
from conftest import spec_path

TORCHVISION = {  # bundled spec -> torchvision constructor (its own init loop runs)
    "densenet-121": ("densenet121", {}),
    "googlenet": ("googlenet", {"init_weights": True, "aux_logits": False, "transform_input": False}),
    "inception-v3": ("inception_v3", {"init_weights": True, "aux_logits": False}),
    "efficientnet-b0": ("efficientnet_b0", {}),
    "mnasnet-1.0": ("mnasnet1_0", {}),
    "efficientnet-v2-s": ("efficientnet_v2_s", {}),
    "vgg-16": ("vgg16", {}),
    "resnet-50": ("resnet50", {}),
    "convnext-tiny": ("convnext_tiny", {}),  # trunc_normal(0.02) convs and Linears, LayerNorms 1/0, layer scales 1e-6
    "shufflenet-v2-x1.0": ("shufflenet_v2_x1_0", {}),  # no init loop: torch's defaults
    "alexnet": ("alexnet", {}),
    "squeezenet-1.0": ("squeezenet1_0", {}),
    "regnet-y-400mf": ("regnet_y_400mf", {}),  # SE convs keep torch's default bias; Linear normal(0, 0.01)
    "mobilenet-v2": ("mobilenet_v2", {}),
    "mobilenet-v3-small": ("mobilenet_v3_small", {}),
}


def assert_same_distribution(name: str, ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Mean and std of two samples of one distribution agree within six standard errors."""
    ours, reference = ours.flatten(), reference.flatten()
    n = min(ours.numel(), reference.numel())
    sigma = max(reference.std().item() if reference.numel() > 1 else 0.0, 1e-12)
    if reference.numel() > 1 and reference.std().item() == 0.0:  # a constant (BN at 1 or 0, zero biases)
        assert torch.equal(ours, reference), name
        return
    assert abs(ours.mean().item() - reference.mean().item()) <= 6 * sigma * math.sqrt(2 / n), name
    assert abs(ours.std().item() - reference.std().item()) <= 6 * sigma / math.sqrt(n) + 1e-9, name


@pytest.mark.parametrize("spec", list(TORCHVISION))
def test_init_matches_torchvision_tensor_by_tensor(spec):
    constructor, flags = TORCHVISION[spec]
    torch.manual_seed(0)
    reference = getattr(torchvision.models, constructor)(weights=None, **flags)
    expected = from_torchvision(reference.state_dict(), spec_path(spec))
    del reference
    ours = archspec.build(spec_path(spec)).state_dict()
    assert expected.keys() <= ours.keys()
    for name, tensor in expected.items():
        if tensor.is_floating_point():
            assert_same_distribution(f"{spec} {name}", ours[name], tensor)


def fan(weight: torch.Tensor) -> tuple[int, int]:
    return nn.init._calculate_fan_in_and_fan_out(weight)


# The CIFAR reference codes' init loops, per kind of tensor: (conv weight std, fc weight std,
# fc bias: "zeros" or "uniform" (torch's default, std 1 / sqrt(3 fan_in))).
def msra_conv(w: torch.Tensor) -> float:  # normal(0, sqrt(2 / (k * k * out_channels)))
    return math.sqrt(2.0 / fan(w)[1])


def kaiming_fan_in(w: torch.Tensor) -> float:
    return math.sqrt(2.0 / fan(w)[0])


def torch_default(w: torch.Tensor) -> float:
    return 1.0 / math.sqrt(3 * fan(w)[0])


CIFAR = {
    # dyhan0920/PyramidNet-PyTorch: convs msra, BN 1/0, the fc left at torch's default.
    "pyramidnet": (msra_conv, torch_default, "uniform"),
    # xternalz/WideResNet-pytorch: convs msra, BN 1/0, fc bias 0.
    "wrn-16-4": (msra_conv, torch_default, "zeros"),
    # andreasveit/densenet-pytorch: as WRN.
    "densenet-bc-100-12": (msra_conv, torch_default, "zeros"),
    # akamaster/pytorch_resnet_cifar10: kaiming_normal_ (fan_in) on convs and the fc.
    "resnet-56": (kaiming_fan_in, kaiming_fan_in, "uniform"),
}


@pytest.mark.parametrize("spec", list(CIFAR))
def test_init_matches_the_cifar_reference_codes(spec):
    conv_std, fc_std, fc_bias = CIFAR[spec]
    model = archspec.build(spec_path(spec))
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            w = module.weight
            assert_same_distribution(name, w, torch.randn(w.numel()) * conv_std(w))
        elif isinstance(module, nn.Linear):
            w = module.weight
            std = fc_std(w)
            sample = torch.randn(w.numel()) * std if fc_std is kaiming_fan_in else (torch.rand(w.numel()) * 2 - 1) * std * math.sqrt(3)
            assert_same_distribution(name, w, sample)
            if fc_bias == "zeros":
                assert torch.count_nonzero(module.bias) == 0
            else:
                bound = 1 / math.sqrt(module.in_features)
                assert 0 < module.bias.abs().max() <= bound
        elif isinstance(module, nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
            assert torch.all(module.running_mean == 0) and torch.all(module.running_var == 1)


def test_init_presets_and_overrides_resolve_from_the_spec():
    assert archspec.plan(spec_path("resnet-50")).init.preset == "torchvision_resnet"  # the family default
    assert archspec.plan(spec_path("resnet-110")).init.preset == "cifar_resnet"  # stated in the spec
    rules = archspec.plan(spec_path("resnet-50"),
                          overrides=["init={preset: torchvision_vgg, linear: {type: normal, std: 0.5}}"]).init
    assert rules.preset == "torchvision_vgg" and rules.linear.std == 0.5 and rules.conv.mode == "fan_out"
    model = archspec.build(spec_path("resnet-20"), overrides=["init={linear: {type: normal, std: 0.5}}"])
    assert abs(model.head.fc.weight.std().item() - 0.5) < 0.1
    with pytest.raises(SpecError, match="init: `kaiming` is not allowed"):
        archspec.plan(spec_path("resnet-20"), overrides=["init=kaiming"])


def test_every_tensor_is_initialised_or_the_build_refuses():
    model = archspec.build(spec_path("resnet-20"))
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    foreign = nn.Sequential(nn.PReLU())  # a parameter no init rule knows
    with pytest.raises(TypeError, match="no init rule"):
        initialise(foreign, None, 0)


def test_zero_init_last_bn_where_asked_only():
    plain = archspec.build(spec_path("resnet-50"))
    zeroed = archspec.build(spec_path("resnet-50"), overrides=["body.block.zero_init_last_bn=true"])
    assert torch.all(plain.get_submodule("stages.0.0.bn3").weight == 1)  # torchvision's default: off
    assert torch.count_nonzero(zeroed.get_submodule("stages.0.0.bn3").weight) == 0
    assert torch.all(zeroed.get_submodule("stages.0.0.bn2").weight == 1)


def test_every_preset_rule_is_what_validating_it_gives():
    """The presets' rules are constructed without validation (their models' validators are built only when a
    spec writes an init rule): each must equal, field for field, what its model validates from its dump."""
    from archspec.plan.init import PRESETS

    rules = [r for preset in PRESETS.values()
             for r in (preset.conv, preset.linear, preset.aux_linear, *(w for _, w, _ in preset.roles)) if r is not None]
    assert len(rules) > len(PRESETS)
    for rule in rules:
        again = type(rule).model_validate(rule.model_dump())
        assert again == rule and again.model_dump() == rule.model_dump()
