"""Block types of the concatenating and multi-branch families: DenseNet, GoogLeNet,
EfficientNet (MBConv) and VGG (plain convs).

They join the residual blocks in :data:`archspec.spec.blocks.BlockSpec`. Blocks that
fix their own unit count (an Inception stage is its table of modules) expose it as
``fixed_units``; the rest take the stage's ``units`` or the body's ``depth``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict, field_validator

from .base import PositiveFloat, PositiveInt, Probability, StrictModel

Activation = Literal["relu", "relu6", "silu", "hardswish", "none"]  # blocks/layers.py builds each; memory.py says what it saves


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
    kernel: PositiveInt = 3
    se_ratio: Annotated[float, Strict()] = Field(0.25, ge=0.0, le=1.0, description="SE width / unit input width; 0: no SE.")
    act: Activation = "silu"
    drop_path: Probability = Field(
        0.0, description="Stochastic depth: the last unit's drop rate; rates decay linearly to 0 at the first."
    )

    @field_validator("kernel")
    @classmethod
    def _odd(cls, kernel: int) -> int:
        if kernel % 2 == 0:
            raise ValueError(f"kernel {kernel} is even; depthwise kernels are odd (3, 5, 7) so 'same' padding exists")
        return kernel

    @property
    def layers_per_unit(self) -> int:
        return 3 if self.expand > 1 else 2


class PlainBlock(StrictModel):
    """A plain conv-[BN]-ReLU unit with no shortcut (VGG). torchvision's VGG convs have a bias, with or without BN."""

    type: Literal["plain"]
    kernel: PositiveInt = 3
    norm: Literal["bn", "none"] = "none"
    bias: bool = True
    act: Activation = "relu"
    layers_per_unit: ClassVar[int] = 1


FAMILY_BLOCKS = (DenseBlock, InceptionBlock, MBConvBlock, PlainBlock)
