"""The init rules a spec resolves to: its preset (or its family's) with its overrides applied.

The presets are facts about the reference codes (docs/init.md), written as rules that the
compiler applies per tensor (archspec/blocks/init.py). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..spec.init import (
    FAMILY_PRESETS, InitSpec, KaimingNormal, KaimingUniform, LecunTruncatedNormal, Normal, TorchDefault, TruncatedNormal,
    UniformFanOut, WeightInit, XavierUniform,
)


@dataclass(frozen=True)
class InitRules:
    """Per kind of tensor: conv and linear weights, their biases. BN: scale 1, shift 0."""

    preset: str
    conv: WeightInit
    conv_bias: str
    linear: WeightInit
    linear_bias: str
    aux_linear: WeightInit | None = None  # the aux heads' last FC where the reference differs (Inception-v3)
    # Layers the reference initialises by rules of their own, by the role their record names (a Linear's
    # ``init``): role -> (weight rule, bias rule). ViT's attention projections and zero classifier.
    roles: tuple[tuple[str, WeightInit, str], ...] = ()

    def role(self, name: str) -> tuple[WeightInit, str] | None:
        return next(((w, b) for r, w, b in self.roles if r == name), None)


# The rules are constants written here, so they are constructed without validation (model_construct): a spec
# that writes no init rule then never builds those models' validators (tests/test_init.py re-validates each).
_FAN_OUT = KaimingNormal.model_construct(type="kaiming_normal", mode="fan_out")
_FAN_IN = KaimingNormal.model_construct(type="kaiming_normal", mode="fan_in")
_DEFAULT = TorchDefault.model_construct(type="torch_default")

PRESETS: dict[str, InitRules] = {
    # torchvision/models/resnet.py: kaiming_normal_(fan_out, relu) convs; the fc keeps torch's default.
    "torchvision_resnet": InitRules("torchvision_resnet", _FAN_OUT, "zeros", _DEFAULT, "torch_default"),
    # torchvision/models/densenet.py: kaiming_normal_ (fan_in) convs; Linear bias 0, weight torch's default.
    "torchvision_densenet": InitRules("torchvision_densenet", _FAN_IN, "zeros", _DEFAULT, "zeros"),
    # torchvision/models/googlenet.py: trunc_normal_(std 0.01, a -2, b 2) on convs and Linear weights.
    "torchvision_googlenet": InitRules("torchvision_googlenet", TruncatedNormal.model_construct(type="trunc_normal"), "torch_default",
                                       TruncatedNormal.model_construct(type="trunc_normal"), "torch_default"),
    # torchvision/models/inception.py: trunc_normal_(std 0.1, a -2, b 2) on convs and Linear weights, biases
    # untouched (torch's default); AuxLogits.fc at std 0.001 (its conv1's stddev 0.01 sits on the BasicConv2d,
    # which the init loop never reads: that conv gets 0.1 too).
    "torchvision_inception_v3": InitRules("torchvision_inception_v3", TruncatedNormal.model_construct(type="trunc_normal", std=0.1),
                                          "torch_default", TruncatedNormal.model_construct(type="trunc_normal", std=0.1),
                                          "torch_default", TruncatedNormal.model_construct(type="trunc_normal", std=0.001)),
    # torchvision/models/efficientnet.py: kaiming_normal_(fan_out) convs, bias 0; Linear uniform(+-1/sqrt(out)), bias 0.
    "torchvision_efficientnet": InitRules("torchvision_efficientnet", _FAN_OUT, "zeros",
                                          UniformFanOut.model_construct(type="uniform_fan_out"), "zeros"),
    # torchvision/models/mnasnet.py: kaiming_normal_(fan_out, relu) convs, bias 0; Linear
    # kaiming_uniform_(fan_out, sigmoid), bias 0.
    "torchvision_mnasnet": InitRules("torchvision_mnasnet", _FAN_OUT, "zeros",
                                     KaimingUniform.model_construct(type="kaiming_uniform", mode="fan_out", nonlinearity="sigmoid"),
                                     "zeros"),
    # torchvision/models/vgg.py: kaiming_normal_(fan_out, relu) convs, bias 0; Linear normal(0, 0.01), bias 0.
    "torchvision_vgg": InitRules("torchvision_vgg", _FAN_OUT, "zeros", Normal.model_construct(type="normal"), "zeros"),
    # torchvision/models/convnext.py: trunc_normal_(std 0.02, a -2, b 2) on Conv2d and Linear weights, biases 0.
    # Layer norms start at scale 1, shift 0; layer scales at the block's ``layer_scale`` (blocks/init.py).
    "torchvision_convnext": InitRules("torchvision_convnext", TruncatedNormal.model_construct(type="trunc_normal", std=0.02), "zeros",
                                      TruncatedNormal.model_construct(type="trunc_normal", std=0.02), "zeros"),
    # torchvision/models/swin_transformer.py: every Linear trunc_normal_(std 0.02), bias 0 (the model's loop, after
    # the blocks' own MLP init, which it overrides); the patch conv torch's default; the relative position bias
    # table trunc_normal_(std 0.02) and V2's logit scale log(10) (their records).
    "torchvision_swin": InitRules("torchvision_swin", _DEFAULT, "torch_default",
                                  TruncatedNormal.model_construct(type="trunc_normal", std=0.02), "zeros"),
    # torchvision/models/shufflenetv2.py has no init loop: every layer keeps torch's default
    # (kaiming_uniform_ with a = sqrt(5), i.e. uniform(+-1/sqrt(fan_in)), on weights and biases).
    "torchvision_shufflenet": InitRules("torchvision_shufflenet", _DEFAULT, "torch_default", _DEFAULT,
                                        "torch_default"),
    # torchvision/models/alexnet.py has no init loop: every layer keeps torch's default, weights and biases.
    "torchvision_alexnet": InitRules("torchvision_alexnet", _DEFAULT, "torch_default", _DEFAULT, "torch_default"),
    # torchvision/models/squeezenet.py: kaiming_uniform_ (a = 0, fan_in) convs, bias 0; the final conv (the
    # classifier, which takes the linear rules) normal(0, 0.01), bias 0. It has no Linear layer.
    "torchvision_squeezenet": InitRules("torchvision_squeezenet", KaimingUniform.model_construct(type="kaiming_uniform"), "zeros",
                                        Normal.model_construct(type="normal"), "zeros"),
    # torchvision/models/regnet.py: convs normal(0, sqrt(2 / (k * k * out))); their biases (the SE's) keep
    # torch's default; Linear normal(0, 0.01), bias 0.
    "torchvision_regnet": InitRules("torchvision_regnet", _FAN_OUT, "torch_default", Normal.model_construct(type="normal"), "zeros"),
    # torchvision/models/mobilenetv2.py and mobilenetv3.py: kaiming_normal_(fan_out) convs (SE's too), bias 0;
    # Linear normal(0, 0.01), bias 0.
    "torchvision_mobilenet": InitRules("torchvision_mobilenet", _FAN_OUT, "zeros", Normal.model_construct(type="normal"), "zeros"),
    # torchvision/models/vision_transformer.py: conv_proj trunc_normal_(std sqrt(1 / fan_in)), bias 0; MLPBlock's
    # Linears xavier_uniform_, bias normal(0, 1e-6); nn.MultiheadAttention's in_proj xavier_uniform_, bias 0, its
    # out_proj torch's default, bias 0. Class token 0, position embedding normal(0, 0.02) (their records). One
    # difference: torchvision zeros heads.head, so that a new network's logits are all 0 for every input, which
    # no export verification can check; here it takes the Linear rule (xavier_uniform_, bias normal(0, 1e-6)).
    "torchvision_vit": InitRules("torchvision_vit", LecunTruncatedNormal.model_construct(type="lecun_trunc_normal"), "zeros",
                                 XavierUniform.model_construct(type="xavier_uniform"), "small_normal",
                                 roles=(("attention_in", XavierUniform.model_construct(type="xavier_uniform"), "zeros"),
                                        ("attention_out", _DEFAULT, "zeros"))),
    # torchvision/models/maxvit.py: Conv2d and Linear weights normal(0, 0.02), biases 0; the relative position
    # bias tables trunc_normal_(std 0.02), set by their module (blocks/layers.py RelativePositionBias).
    "torchvision_maxvit": InitRules("torchvision_maxvit", Normal.model_construct(type="normal", std=0.02), "zeros",
                                    Normal.model_construct(type="normal", std=0.02), "zeros"),
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
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "linear" in changes:  # "every fully connected layer's weight": the aux heads' too
        changes["aux_linear"] = None
    return replace(rules, **changes) if changes else rules  # the preset's own (frozen) record as it is
