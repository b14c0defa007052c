"""Spec parts around the blocks: how stages downsample, layer-list stems, the VGG / AlexNet,
EfficientNet and SqueezeNet heads, GoogLeNet's auxiliary classifiers and compound scaling.
"""


from typing import Annotated, Literal, Union

from pydantic import Discriminator, Field, Strict, Tag, field_validator, model_validator

from .base import EachKindOnFirstUse, NonNegativeInt, PositiveFloat, PositiveInt, Probability, StrictModel
from .families import Activation


class Strided(StrictModel):
    """The first unit of a strided stage carries the stride (ResNet, EfficientNet)."""

    type: Literal["strided"]


class PoolDownsample(StrictModel):
    """A parameter-free pooling unit at the END of a strided stage (VGG, GoogLeNet).

    The stage's ``stride`` is the pool's stride. ``ceil`` is PyTorch's ``ceil_mode``.
    """

    type: Literal["pool"]
    kind: Literal["max", "avg"] = "max"
    kernel: PositiveInt = 2
    padding: NonNegativeInt = 0
    ceil: bool = False


class Transition(StrictModel):
    """DenseNet transition at the END of a strided stage: BN-ReLU-conv1x1(floor(compression x C))-avgpool."""

    type: Literal["transition"]
    compression: Annotated[float, Strict()] = Field(0.5, gt=0.0, le=1.0, description="theta: the fraction of channels kept.")


DownsampleSpec = Annotated[Union[Strided, PoolDownsample, Transition], EachKindOnFirstUse("type")]


class ConvLayer(StrictModel):
    """One conv with optional BN and activation (the conv stem's fields)."""

    type: Literal["conv"]
    width: PositiveInt
    kernel: PositiveInt = 3
    stride: PositiveInt = 1
    padding: NonNegativeInt | None = Field(None, description="Zero padding per side; unset: kernel // 2 (\"same\").")
    norm: Literal["bn", "none"] = "bn"
    act: Activation = "relu"


class PoolLayer(StrictModel):
    """A pooling window of a layer-list stem."""

    type: Literal["max_pool", "avg_pool"]
    kernel: PositiveInt = 3
    stride: PositiveInt = 2
    padding: NonNegativeInt = 0
    ceil: bool = False


class StemConv(ConvLayer):
    """One conv of a layer-list stem, with optional BN and activation, its padding and bias as given.

    AlexNet's first conv is 11x11/4 with padding 2 and SqueezeNet's 7x7/2 has none: both
    set ``padding``; torchvision's convs without BN have a bias (the default), with BN none.
    """

    padding: NonNegativeInt | None = Field(None, description="Zero padding on each side; unset: kernel // 2.")
    bias: bool | None = Field(None, description="A bias; unset: only on a conv without BN.")


StemLayer = Annotated[Union[StemConv, PoolLayer], Field(discriminator="type")]


class LayersStem(StrictModel):
    """A stem written as a list of convs and pools (GoogLeNet: conv7/2, pool, conv1, conv3, pool)."""

    type: Literal["layers"]
    layers: list[StemLayer] = Field(min_length=1)
    bn_eps: PositiveFloat | None = Field(None, description="BN epsilon of this part; unset: the network's batchnorm.eps.")


class NoStem(StrictModel):
    """No stem: the first stage sees the input (VGG)."""

    type: Literal["none"]


DropoutAt = Literal["after_relu", "before_fc"]


class MLPHead(StrictModel):
    """Adaptive average pool to ``pool_size`` x ``pool_size``, flatten, then per hidden width
    FC-ReLU-dropout (VGG) or dropout-FC-ReLU (AlexNet, ``dropout_at: before_fc``), then the last FC.

    ``dropout_at: after_relu`` is the default and is stored as unset, so a spec that spells
    it out names the same network, with the same sha256, as one that leaves it out.
    """

    type: Literal["mlp"]
    pool_size: PositiveInt = 7
    hidden: list[PositiveInt] = Field(default_factory=lambda: [4096, 4096])
    dropout: Probability = 0.5
    dropout_at: DropoutAt | None = Field(
        None, description="Where each hidden layer's dropout sits: after_relu (FC-ReLU-dropout, VGG; unset) "
        "or before_fc (dropout-FC-ReLU, AlexNet).")

    @field_validator("dropout_at")
    @classmethod
    def _default_is_unset(cls, where: str | None) -> str | None:
        return None if where == "after_relu" else where

    @property
    def dropout_first(self) -> bool:
        return self.dropout_at == "before_fc"


class ConvPoolHead(StrictModel):
    """Dropout, conv1x1 to the classes (with bias), activation, global average pool (SqueezeNet).

    The logits are the means of per-class maps: there is no fully connected layer.
    """

    type: Literal["conv_pool"]
    dropout: Probability = 0.5
    act: Activation = "relu"


HeadScaling = Literal["fixed", "scaled", "up"]
HEAD_SCALING = ("How `{field}` follows compound `scaling` (torchvision's width_mult m): `fixed` keeps it, `scaled` is "
                "make_divisible({field} x m, divisor), `up` is make_divisible({field} x max(1, m), divisor), widened only.")


class ConvClassifierHead(StrictModel):
    """conv1x1 (``expansion`` x the incoming width, or ``width``)-BN-act, global average pool, dropout, FC.

    EfficientNet widens by ``expansion``; ShuffleNetV2's conv5 has a fixed ``width`` (1024, 2048 at x2.0).
    """

    type: Literal["conv_classifier"]
    expansion: PositiveInt | None = Field(
        4, description="The conv's width as a multiple of the incoming width; null where `width` is given.")
    width: PositiveInt | None = Field(None, description="The conv's width itself, instead of `expansion`.")
    width_scaling: HeadScaling = Field("fixed", description=HEAD_SCALING.format(field="width") + " `up` is "
                                       "MobileNetV2's last_channel, `fixed` MNASNet's 1280.")
    act: Activation = "silu"
    dropout: Probability = 0.2

    @model_validator(mode="before")
    @classmethod
    def _width_replaces_expansion(cls, data: object) -> object:
        """``width`` given without ``expansion``: the default expansion does not apply."""
        if isinstance(data, dict) and data.get("width") is not None and "expansion" not in data:
            return {**data, "expansion": None}
        return data

    @model_validator(mode="after")
    def _one_width_rule(self) -> "ConvClassifierHead":
        if (self.width is None) == (self.expansion is None):
            raise ValueError("give either `expansion` or `width`, not both" if self.width is not None
                             else "give `expansion` or `width`")
        if self.width is None and self.width_scaling != "fixed":
            raise ValueError("`width_scaling` says how a fixed `width` follows compound scaling; `expansion` "
                             "already follows the scaled incoming width: give `width` or drop `width_scaling`")
        return self


class PatchifyStem(StrictModel):
    """Non-overlapping patches: a conv with kernel = stride = ``patch`` (bias, no padding), then LayerNorm
    over the channels and no activation (ConvNeXt's stem: 4x4/4 conv, LayerNorm2d).

    Its width is the first body unit's (torchvision's ``block_setting[0].input_channels``), so the
    stem and the first stage cannot disagree.
    """

    type: Literal["patchify"]
    patch: PositiveInt = Field(4, description="Patch size: the conv's kernel and stride.")
    norm_eps: PositiveFloat = Field(1e-6, description="Epsilon of the layer norm (torchvision: 1e-6).")


class NormClassifierHead(StrictModel):
    """Global average pool, LayerNorm over the channels, flatten, FC (ConvNeXt's head)."""

    type: Literal["norm_classifier"]
    norm_eps: PositiveFloat = Field(1e-6, description="Epsilon of the layer norm (torchvision: 1e-6).")


class AuxHead(StrictModel):
    """A training-only classifier on a body unit's output (GoogLeNet's aux1/aux2).

    adaptive avg pool to ``pool_size``, conv1x1(``width``)-BN-ReLU, flatten, FC(``hidden``)-ReLU,
    dropout, FC(classes). Built only when asked (``archspec.build(..., aux=True)``): absent
    in eval and export builds and from the default counts.
    """

    type: Literal["classifier"] | None = Field(
        None, description="Unset or `classifier`: this head (GoogLeNet's); `conv`: Inception-v3's (ConvAuxHead).")
    stage: NonNegativeInt
    unit: NonNegativeInt
    pool_size: PositiveInt = 4
    width: PositiveInt = 128
    hidden: PositiveInt = 1024
    dropout: Probability = 0.7
    bn_eps: PositiveFloat | None = Field(None, description="BN epsilon of this part; unset: the network's batchnorm.eps.")


class ConvAuxHead(StrictModel):
    """Inception-v3's training-only classifier (torchvision's InceptionAux) on a body unit's output.

    ``pool_kernel``/``pool_stride`` average pool, conv1x1(``width``)-BN-ReLU,
    conv ``kernel`` x ``kernel`` (no padding, ``conv_width``)-BN-ReLU, global average pool,
    FC(classes). Built only when asked (``archspec.build(..., aux=True)``), as GoogLeNet's.
    """

    type: Literal["conv"]
    stage: NonNegativeInt
    unit: NonNegativeInt
    pool_kernel: PositiveInt = 5
    pool_stride: PositiveInt = 3
    width: PositiveInt = 128
    kernel: PositiveInt = 5
    conv_width: PositiveInt = 768
    bn_eps: PositiveFloat | None = Field(None, description="BN epsilon of this part; unset: the network's batchnorm.eps.")


def _aux_kind(value: object) -> str:
    """An aux head without ``type`` is GoogLeNet's (the specs written before Inception-v3's; left unset,
    it stays out of the expanded spec, so their hashes are unchanged)."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "classifier" if kind is None else str(kind)  # an unknown one: the error lists the known ones


AuxHeadSpec = Annotated[Union[Annotated[AuxHead, Tag("classifier")], Annotated[ConvAuxHead, Tag("conv")]],
                        Discriminator(_aux_kind)]


class BatchNorm(StrictModel):
    """Every BN layer's epsilon and momentum, unless a part sets its own ``bn_eps``.

    PyTorch's defaults; torchvision's GoogLeNet uses eps 0.001, its EfficientNet-B5 to B7
    eps 0.001 and momentum 0.01. Epsilon changes the outputs; momentum only training.
    """

    eps: PositiveFloat = 1e-5
    momentum: Annotated[float, Strict(), Field(gt=0.0, le=1.0)] = 0.1


class CompoundScaling(StrictModel):
    """EfficientNet's compound scaling: every width x ``width_mult`` rounded to a multiple of
    ``divisor`` (never more than 10 % down), every stage's unit count x ``depth_mult`` rounded up.

    The stem's width and each stage's widths and units are scaled; the Plan records the
    unscaled value and the rounding on every unit (``Unit.scaling``).
    """

    rule: Literal["compound"]
    width_mult: PositiveFloat = 1.0
    depth_mult: PositiveFloat = 1.0
    divisor: PositiveInt = 8
