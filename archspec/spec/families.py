"""Block types of the concatenating and multi-branch families: DenseNet, GoogLeNet,
EfficientNet (MBConv, and EfficientNetV2's Fused-MBConv), VGG and AlexNet (plain convs), SqueezeNet
(fire modules), ConvNeXt and ShuffleNetV2.

They join the residual blocks in :data:`archspec.spec.blocks.BlockSpec`. Blocks that
fix their own unit count (an Inception stage is its table of modules) expose it as
``fixed_units``; the rest take the stage's ``units`` or the body's ``depth``.
"""


from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict

from .base import OddKernel, PositiveFloat, PositiveInt, Probability, StrictModel

Activation = Literal["relu", "relu6", "silu", "hardswish", "gelu", "none"]  # blocks/layers.py builds each; memory.py says what it saves
OUT_OF_PLACE_ACTIVATIONS = frozenset({"gelu"})  # torch has no in-place GELU: built and counted out of place


class DenseBlock(StrictModel):
    """A dense layer: BN-ReLU-conv1x1(bottleneck x growth)-BN-ReLU-conv3x3(growth), concatenated to its input.

    Without ``bottleneck`` (plain DenseNet) the layer is BN-ReLU-conv3x3(growth).
    The unit's output has ``growth`` more channels than its input.
    """

    type: Literal["dense"]
    growth: PositiveInt = Field(description="Growth rate k: channels each layer adds.")
    bottleneck: PositiveInt | None = Field(4, description="1x1 width as a multiple of k (DenseNet-BC: 4); null: none.")
    dropout: Probability = Field(0.0, description="Dropout on each layer's new features (torchvision's drop_rate).")

    @property
    def layers_per_unit(self) -> int:
        return 1 if self.bottleneck is None else 2


InceptionRow = tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt, PositiveInt, PositiveInt]


class InceptionBlock(StrictModel):
    """Inception modules (Szegedy et al. 2015), one unit per row of the paper's table.

    A row is ``[1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj]``. Four branches
    (1x1; 1x1-kxk; 1x1-kxk; 3x3/1 max-pool-1x1) are concatenated. Every conv is
    conv-BN-ReLU when ``norm`` is ``bn`` (torchvision's BasicConv2d), conv(bias)-ReLU otherwise.
    ``kernels`` are the kernels of the second and third branches: the paper's (3, 5);
    torchvision's GoogLeNet uses (3, 3) (pytorch/vision#906).
    """

    type: Literal["inception"]
    modules: list[InceptionRow] = Field(min_length=1, description="One row per module (unit) of the stage.")
    kernels: tuple[PositiveInt, PositiveInt] = (3, 5)
    norm: Literal["bn", "none"] = "bn"
    bn_eps: PositiveFloat | None = Field(None, description="BN epsilon of this part; unset: the network's batchnorm.eps.")
    layers_per_unit: ClassVar[int] = 2

    @property
    def fixed_units(self) -> int:
        return len(self.modules)


class MBConvBlock(StrictModel):
    """Mobile inverted bottleneck (MobileNetV2 / EfficientNet).

    conv1x1 expand (skipped when ``expand`` is 1)-BN-act, depthwise kxk (stride)-BN-act,
    squeeze-excite with ``se_ratio`` x the unit's input channels (act inside, sigmoid gate),
    conv1x1 project-BN. The identity shortcut (with stochastic depth) is added only where
    the stride is 1 and the channels do not change.
    """

    type: Literal["mbconv"]
    expand: PositiveInt = Field(6, description="Expansion ratio of the inner (depthwise) width.")
    kernel: OddKernel = 3
    se_ratio: Annotated[float, Strict()] = Field(0.25, ge=0.0, le=1.0, description="SE width / unit input width; 0: no SE.")
    act: Activation = "silu"
    drop_path: Probability = Field(
        0.0, description="Stochastic depth: the last unit's drop rate; rates decay linearly to 0 at the first."
    )

    @property
    def layers_per_unit(self) -> int:
        return 3 if self.expand > 1 else 2


class FusedMBConvBlock(StrictModel):
    """Fused-MBConv (EfficientNetV2, Tan & Le 2021): MBConv with its expand conv1x1 and depthwise
    kxk fused into one full kxk conv.

    conv kxk (stride) to ``expand`` x the input width-BN-act, then conv1x1 project-BN; at
    ``expand: 1`` a single conv kxk (stride) to the output width-BN-act (torchvision's FusedMBConv).
    No squeeze-excite. The identity shortcut (with stochastic depth) is added only where the
    stride is 1 and the channels do not change.
    """

    type: Literal["fused_mbconv"]
    expand: PositiveInt = Field(4, description="Expansion ratio of the fused conv's width; 1: one kxk conv, no project.")
    kernel: OddKernel = 3
    act: Activation = "silu"
    drop_path: Probability = Field(
        0.0, description="Stochastic depth: the last unit's drop rate; rates decay linearly to 0 at the first."
    )

    @property
    def layers_per_unit(self) -> int:
        return 2 if self.expand > 1 else 1


class PlainBlock(StrictModel):
    """A plain conv-[BN]-ReLU unit with no shortcut (VGG). torchvision's VGG convs have a bias, with or without BN."""

    type: Literal["plain"]
    kernel: PositiveInt = 3
    norm: Literal["bn", "none"] = "none"
    bias: bool = True
    act: Activation = "relu"
    layers_per_unit: ClassVar[int] = 1


class ConvNeXtBlock(StrictModel):
    """A ConvNeXt block (Liu et al. 2022, torchvision's CNBlock): depthwise kxk conv (bias), LayerNorm over
    the channels, Linear(C, ``expansion`` x C)-GELU-Linear(back to C) at every position, times a learned
    per-channel ``layer_scale``, stochastic depth, plus the input.

    Where a stage changes the width or strides, its first unit downsamples before the block:
    LayerNorm over channels, then a conv with kernel = stride = the stage's stride and a bias
    (torchvision's ``features.{2s}``: LN, 2x2/2 conv). All norms here are layer norms: no batch statistics.
    """

    type: Literal["convnext"]
    kernel: OddKernel = Field(7, description="Depthwise kernel (odd, 'same' padding).")
    expansion: PositiveInt = Field(4, description="Width of the inverted bottleneck's hidden Linear, x the unit's width.")
    layer_scale: PositiveFloat = Field(1e-6, description="Start value of the per-channel scale of the block's output.")
    norm_eps: PositiveFloat = Field(1e-6, description="Epsilon of the block's layer norms (torchvision: 1e-6).")
    drop_path: Probability = Field(
        0.0, description="Stochastic depth: the last unit's drop rate; rates decay linearly to 0 at the first "
        "(torchvision's stochastic_depth_prob)."
    )
    layers_per_unit: ClassVar[int] = 3


class ShuffleBlock(StrictModel):
    """A ShuffleNetV2 unit (Ma et al. 2018): channel split, two branches, concat, channel shuffle.

    A stride-1 unit keeps its width: it splits its input into halves, passes the first
    through and runs conv1x1-BN-ReLU, depthwise kxk-BN, conv1x1-BN-ReLU on the second.
    A strided unit (each stage's first) runs two branches on the whole input, depthwise
    kxk (stride)-BN, conv1x1-BN-ReLU and the one above with the stride on its depthwise
    conv, each giving half the unit's width. The halves are concatenated, then shuffled
    (2 groups: the channels of the two halves interleave). No conv has a bias.
    """

    type: Literal["shuffle"]
    kernel: OddKernel = Field(3, description="Kernel of the depthwise convs (torchvision: 3).")
    layers_per_unit: ClassVar[int] = 3  # the convs of a stride-1 unit (a strided one has 5)


class FireBlock(StrictModel):
    """SqueezeNet's fire module (Iandola et al. 2016): squeeze conv1x1-ReLU, then expand conv1x1-ReLU
    and expand conv3x3-ReLU side by side, concatenated. Every conv has a bias; there is no BN.

    The unit's width (from the widening rule) is its concatenated output; the paper's
    metaparameters split it: the squeeze conv has ``squeeze_ratio`` x the width (SR), the
    3x3 expand conv ``pct_3x3`` x the width and the 1x1 the rest. Both must come out as
    whole channel counts: the planner refuses a width they do not divide, it never rounds.
    torchvision's SqueezeNets: SR 0.125, pct_3x3 0.5 (fire2: width 128, squeeze 16, 64 + 64).
    """

    type: Literal["fire"]
    squeeze_ratio: Annotated[float, Strict()] = Field(
        0.125, gt=0.0, le=1.0, description="SR: the squeeze conv's width as a fraction of the unit's width.")
    pct_3x3: Annotated[float, Strict()] = Field(
        0.5, gt=0.0, lt=1.0,
        description="The share of the unit's width from the 3x3 expand conv; the 1x1 gives the rest.")
    layers_per_unit: ClassVar[int] = 2  # squeeze and expand, as the paper counts SqueezeNet's depth


FAMILY_BLOCKS = (DenseBlock, InceptionBlock, MBConvBlock, FusedMBConvBlock, PlainBlock, ConvNeXtBlock, ShuffleBlock,
                 FireBlock)
