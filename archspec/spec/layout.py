"""Spec parts around the blocks: how stages downsample, layer-list stems, the VGG and
EfficientNet heads, GoogLeNet's auxiliary classifiers and compound scaling.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, Strict

from .base import NonNegativeInt, PositiveFloat, PositiveInt, Probability, StrictModel
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


DownsampleSpec = Annotated[Union[Strided, PoolDownsample, Transition], Field(discriminator="type")]


class ConvLayer(StrictModel):
    """One conv of a layer-list stem, with optional BN and activation."""

    type: Literal["conv"]
    width: PositiveInt
    kernel: PositiveInt = 3
    stride: PositiveInt = 1
    norm: Literal["bn", "none"] = "bn"
    act: Activation = "relu"


class PoolLayer(StrictModel):
    """A pooling window of a layer-list stem."""

    type: Literal["max_pool", "avg_pool"]
    kernel: PositiveInt = 3
    stride: PositiveInt = 2
    padding: NonNegativeInt = 0
    ceil: bool = False


StemLayer = Annotated[Union[ConvLayer, PoolLayer], Field(discriminator="type")]


class LayersStem(StrictModel):
    """A stem written as a list of convs and pools (GoogLeNet: conv7/2, pool, conv1, conv3, pool)."""

    type: Literal["layers"]
    layers: list[StemLayer] = Field(min_length=1)
    bn_eps: PositiveFloat | None = Field(None, description="BN epsilon of this part; unset: the network's batchnorm.eps.")


class NoStem(StrictModel):
    """No stem: the first stage sees the input (VGG)."""

    type: Literal["none"]


class MLPHead(StrictModel):
    """Adaptive average pool to ``pool_size`` x ``pool_size``, flatten, [FC-ReLU-dropout] per hidden width, FC (VGG)."""

    type: Literal["mlp"]
    pool_size: PositiveInt = 7
    hidden: list[PositiveInt] = Field(default_factory=lambda: [4096, 4096])
    dropout: Probability = 0.5


class ConvClassifierHead(StrictModel):
    """conv1x1 (``expansion`` x the incoming width, or ``width``)-BN-act, global average pool, dropout, FC.

    EfficientNet-B0 to B7 widen by ``expansion`` (4); MNASNet and EfficientNetV2 go to a fixed
    ``width`` of 1280 whatever the body's last width (and compound scaling leaves it as written).
    """

    type: Literal["conv_classifier"]
    expansion: PositiveInt = Field(4, description="The conv's width as a multiple of the incoming width (unless `width`).")
    width: PositiveInt | None = Field(None, description="The conv's width, fixed; when set, `expansion` is not used.")
    act: Activation = "silu"
    dropout: Probability = 0.2


class AuxHead(StrictModel):
    """A training-only classifier on a body unit's output (GoogLeNet's aux1/aux2).

    adaptive avg pool to ``pool_size``, conv1x1(``width``)-BN-ReLU, flatten, FC(``hidden``)-ReLU,
    dropout, FC(classes). Built only when asked (``archspec.build(..., aux=True)``): absent
    in eval and export builds and from the default counts.
    """

    stage: NonNegativeInt
    unit: NonNegativeInt
    pool_size: PositiveInt = 4
    width: PositiveInt = 128
    hidden: PositiveInt = 1024
    dropout: Probability = 0.7
    bn_eps: PositiveFloat | None = Field(None, description="BN epsilon of this part; unset: the network's batchnorm.eps.")


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
