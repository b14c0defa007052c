"""The init rules a spec resolves to: its preset (or its family's) with its overrides applied.

The presets are facts about the reference codes (docs/init.md), written as rules that the
compiler applies per tensor (archspec/blocks/init.py). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..spec.init import (
    FAMILY_PRESETS, InitSpec, KaimingNormal, Normal, TorchDefault, TruncatedNormal, UniformFanOut, WeightInit,
)


@dataclass(frozen=True)
class InitRules:
    """Per kind of tensor: conv and linear weights, their biases. BN: scale 1, shift 0."""

    preset: str
    conv: WeightInit
    conv_bias: str
    linear: WeightInit
    linear_bias: str


_FAN_OUT = KaimingNormal(type="kaiming_normal", mode="fan_out")
_FAN_IN = KaimingNormal(type="kaiming_normal", mode="fan_in")
_DEFAULT = TorchDefault(type="torch_default")

PRESETS: dict[str, InitRules] = {
    # torchvision/models/resnet.py: kaiming_normal_(fan_out, relu) convs; the fc keeps torch's default.
    "torchvision_resnet": InitRules("torchvision_resnet", _FAN_OUT, "zeros", _DEFAULT, "torch_default"),
    # torchvision/models/densenet.py: kaiming_normal_ (fan_in) convs; Linear bias 0, weight torch's default.
    "torchvision_densenet": InitRules("torchvision_densenet", _FAN_IN, "zeros", _DEFAULT, "zeros"),
    # torchvision/models/googlenet.py: trunc_normal_(std 0.01, a -2, b 2) on convs and Linear weights.
    "torchvision_googlenet": InitRules("torchvision_googlenet", TruncatedNormal(type="trunc_normal"), "torch_default",
                                       TruncatedNormal(type="trunc_normal"), "torch_default"),
    # torchvision/models/efficientnet.py: kaiming_normal_(fan_out) convs, bias 0; Linear uniform(+-1/sqrt(out)), bias 0.
    "torchvision_efficientnet": InitRules("torchvision_efficientnet", _FAN_OUT, "zeros",
                                          UniformFanOut(type="uniform_fan_out"), "zeros"),
    # torchvision/models/vgg.py: kaiming_normal_(fan_out, relu) convs, bias 0; Linear normal(0, 0.01), bias 0.
    "torchvision_vgg": InitRules("torchvision_vgg", _FAN_OUT, "zeros", Normal(type="normal"), "zeros"),
    # torchvision/models/mobilenetv2.py and mobilenetv3.py: kaiming_normal_(fan_out) convs (SE's too), bias 0;
    # Linear normal(0, 0.01), bias 0.
    "torchvision_mobilenet": InitRules("torchvision_mobilenet", _FAN_OUT, "zeros", Normal(type="normal"), "zeros"),
    # akamaster/pytorch_resnet_cifar10: kaiming_normal_ (fan_in) on Conv2d and Linear weights.
    "cifar_resnet": InitRules("cifar_resnet", _FAN_IN, "zeros", _FAN_IN, "torch_default"),
    # dyhan0920/PyramidNet-PyTorch: convs normal(0, sqrt(2 / (k * k * out))); the fc untouched.
    "pyramidnet": InitRules("pyramidnet", _FAN_OUT, "zeros", _DEFAULT, "torch_default"),
    # fb.resnet.torch's MSR init, as xternalz/WideResNet-pytorch and andreasveit/densenet-pytorch
    # write it: convs normal(0, sqrt(2 / (k * k * out))); Linear bias 0, weight torch's default.
    "msra": InitRules("msra", _FAN_OUT, "zeros", _DEFAULT, "zeros"),
}


def family_preset(block_type: str) -> str:
    return FAMILY_PRESETS.get(block_type, "torchvision_resnet")


def resolve_init(init: InitSpec, block_type: str) -> InitRules:
    """The preset's rules (the family's where unset), then each override that is set."""
    rules = PRESETS[init.preset or family_preset(block_type)]
    overrides = {name: getattr(init, name) for name in ("conv", "conv_bias", "linear", "linear_bias")}
    return replace(rules, **{k: v for k, v in overrides.items() if v is not None})
