"""``init:``, how a network's weights start: the reference codes' schemes as presets, with overrides.

A preset names the code whose initialisation it reproduces (docs/init.md lists the
facts). Unset, the preset is the body block's family default (:data:`FAMILY_PRESETS`);
``conv``, ``conv_bias``, ``linear`` and ``linear_bias`` override single rules of it.
BN and LayerNorm layers always start at scale 1, shift 0 (every reference does so), a layer scale
at its block's ``layer_scale``; the last BN of each residual branch starts at 0 with the block
option ``zero_init_last_bn``.
"""


from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .base import EachKindOnFirstUse, PositiveFloat, StrictModel


class KaimingNormal(StrictModel):
    """normal(0, sqrt(2 / fan)): He et al. 2015 for ReLU. ``fan_out`` is the reference codes'
    ``normal_(0, sqrt(2 / (k * k * out_channels)))``."""

    type: Literal["kaiming_normal"]
    mode: Literal["fan_in", "fan_out"] = "fan_out"


class KaimingUniform(StrictModel):
    """uniform(+-gain x sqrt(3 / fan)), torch's ``kaiming_uniform_`` with a = 0: gain sqrt(2) for ``relu``
    (uniform(+-sqrt(6 / fan)), He et al. 2015: torchvision's SqueezeNet convs, fan_in), 1 for ``sigmoid``
    and ``linear`` (torchvision's MNASNet classifier: fan_out, sigmoid)."""

    type: Literal["kaiming_uniform"]
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Literal["relu", "sigmoid", "linear"] = "relu"


class TruncatedNormal(StrictModel):
    """normal(0, std) truncated to [-bound, bound] (torchvision's GoogLeNet: std 0.01, bound 2)."""

    type: Literal["trunc_normal"]
    std: PositiveFloat = 0.01
    bound: PositiveFloat = 2.0


class Normal(StrictModel):
    """normal(0, std) (torchvision's VGG classifier: std 0.01)."""

    type: Literal["normal"]
    std: PositiveFloat = 0.01


class UniformFanOut(StrictModel):
    """uniform(-1/sqrt(fan_out), 1/sqrt(fan_out)) (torchvision's EfficientNet classifier)."""

    type: Literal["uniform_fan_out"]


class LecunTruncatedNormal(StrictModel):
    """normal(0, sqrt(1 / fan_in)) truncated to [-2, 2] (torchvision's ViT patch embedding)."""

    type: Literal["lecun_trunc_normal"]


class XavierUniform(StrictModel):
    """uniform(+-sqrt(6 / (fan_in + fan_out))), Glorot and Bengio 2010 (torchvision's ViT MLP and attention input)."""

    type: Literal["xavier_uniform"]


class TorchDefault(StrictModel):
    """What torch's layer constructors do: kaiming_uniform with a = sqrt(5), i.e. uniform(+-1/sqrt(fan_in))."""

    type: Literal["torch_default"]


WeightInit = Annotated[Union[KaimingNormal, KaimingUniform, TruncatedNormal, Normal, UniformFanOut, LecunTruncatedNormal,
                             XavierUniform, TorchDefault], EachKindOnFirstUse("type")]
# torch_default: uniform(+-1/sqrt(fan_in)); small_normal: normal(0, 1e-6) (torchvision's ViT MLP)
BiasInit = Literal["zeros", "torch_default", "small_normal"]

Preset = Literal[
    "torchvision_resnet",
    "torchvision_densenet",
    "torchvision_googlenet",
    "torchvision_inception_v3",
    "torchvision_efficientnet",
    "torchvision_mnasnet",
    "torchvision_vgg",
    "torchvision_convnext",
    "torchvision_shufflenet",
    "torchvision_alexnet",
    "torchvision_squeezenet",
    "torchvision_regnet",
    "torchvision_mobilenet",
    "torchvision_vit",
    "torchvision_maxvit",
    "torchvision_swin",
    "cifar_resnet",
    "pyramidnet",
    "msra",
]

# The body block's family -> the reference whose init it takes when ``init.preset`` is unset.
FAMILY_PRESETS: dict[str, str] = {
    "basic": "torchvision_resnet",
    "bottleneck": "torchvision_resnet",
    "preact_basic": "msra",
    "preact_bottleneck": "msra",
    "pyramid": "pyramidnet",
    "pyramid_bottleneck": "pyramidnet",
    "dense": "torchvision_densenet",
    "inception": "torchvision_googlenet",
    "inception_v3": "torchvision_inception_v3",
    "mbconv": "torchvision_efficientnet",
    "fused_mbconv": "torchvision_efficientnet",
    "plain": "torchvision_vgg",  # AlexNet's spec names its own preset
    "convnext": "torchvision_convnext",
    "shuffle": "torchvision_shufflenet",
    "fire": "torchvision_squeezenet",
    "regnet": "torchvision_regnet",
    "bneck": "torchvision_mobilenet",  # MobileNetV2 (mbconv) names its preset
    "vit": "torchvision_vit",
    "maxvit": "torchvision_maxvit",
    "swin": "torchvision_swin",
}


class InitSpec(StrictModel):
    """A preset (unset: the family's) and the rules that override it. ``init: cifar_resnet``
    is ``init: {preset: cifar_resnet}``."""

    preset: Preset | None = Field(None, description="The reference code's scheme; unset: the block family's default.")
    conv: WeightInit | None = Field(None, description="Override: every conv's weight.")
    conv_bias: BiasInit | None = Field(None, description="Override: conv biases.")
    linear: WeightInit | None = Field(
        None, description="Override: every fully connected layer's weight, and a conv_pool head's classifier conv.")
    linear_bias: BiasInit | None = Field(None, description="Override: fully connected (and classifier conv) biases.")

    @model_validator(mode="before")
    @classmethod
    def _accept_preset_name(cls, value: object) -> object:
        return {"preset": value} if isinstance(value, str) else value
