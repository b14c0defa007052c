"""Block types a body may use, as a discriminated union on ``type``.

Options shared by every residual block live in :class:`ResidualOptions`; each block
type adds its own. ``layers_per_unit`` is how many weighted layers the papers count
per unit when they name a network by its depth (ResNet-110 = 6 x 18 x 2 + 2).
"""


from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import Field, Strict, Tag

from .base import EachKindOnFirstUse, PositiveFloat, PositiveInt, Probability, StrictModel
from .families import ConvNeXtBlock, DenseBlock, FireBlock, FusedMBConvBlock, InceptionBlock, MBConvBlock, PlainBlock, ShuffleBlock
from .inception_v3 import InceptionV3Block
from .mobilenet import BneckBlock
from .user_blocks import UserBlock
from .maxvit import MaxViTBlock
from .swin import SwinBlock
from .vit import ViTBlock


class SqueezeExcite(StrictModel):
    """Squeeze-and-excitation: pool, FC(c -> c // reduction) - ReLU - FC - sigmoid, scale."""

    reduction: PositiveInt = 16


class ResidualOptions(StrictModel):
    """Options any residual block accepts."""

    dropout: Probability = Field(0.0, description="Dropout between the convolutions (Wide ResNet).")
    se: SqueezeExcite | None = Field(None, description="Squeeze-and-excitation on the residual branch.")
    drop_path: Probability = Field(
        0.0, description="Stochastic depth: the last unit's drop rate; rates decay linearly to 0 at the first."
    )
    zero_init_last_bn: bool = Field(False, description="Start each residual branch's last BN at zero.")


class DeformableOption(StrictModel):
    """``deformable: true`` makes the block's last 3x3 conv a deformable one (Dai et al. 2017).

    torchvision.ops.DeformConv2d plus its offset conv (3x3, bias, 2 x 3 x 3 offsets).
    The spec is valid, and counted, without torchvision (a core install validates it in
    CI); building it needs the ``vision`` extra, which ``blocks/deform.py`` asks for.
    """

    deformable: bool = Field(False, description="torchvision.ops.DeformConv2d for the 3x3 conv (needs torchvision).")


class BasicBlock(ResidualOptions, DeformableOption):
    """conv3x3-BN-ReLU-conv3x3-BN, add, ReLU (He et al. 2016)."""

    type: Literal["basic"]
    groups: PositiveInt = Field(1, description="Groups of both 3x3 convolutions.")
    layers_per_unit: ClassVar[int] = 2
    expansion: ClassVar[int] = 1


StrideOn = Literal["1x1", "3x3"]


class BottleneckOptions(ResidualOptions):
    """Options of the 1x1-3x3-1x1 blocks.

    ``stride_on`` is explicit because the paper strides the first 1x1 while
    torchvision ("ResNet v1.5") strides the 3x3: same params, different MACs.
    The inner width is ``floor(width * base_width / 64) * groups`` (ResNeXt).
    """

    stride_on: StrideOn = "3x3"
    groups: PositiveInt = 1
    base_width: PositiveInt = 64
    expansion: PositiveInt = 4
    layers_per_unit: ClassVar[int] = 3


class BottleneckBlock(BottleneckOptions, DeformableOption):
    """conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN, add, ReLU."""

    type: Literal["bottleneck"]


class PreactBasicBlock(ResidualOptions):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3, add (He et al. 2016b; Wide ResNet)."""

    type: Literal["preact_basic"]
    groups: PositiveInt = Field(1, description="Groups of both 3x3 convolutions.")
    layers_per_unit: ClassVar[int] = 2
    expansion: ClassVar[int] = 1


class PreactBottleneckBlock(BottleneckOptions):
    """BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1, add (pre-act ResNet-164)."""

    type: Literal["preact_bottleneck"]


class PyramidBlock(ResidualOptions):
    """BN-conv3x3-BN-ReLU-conv3x3-BN, add, no ReLU after the add (Han et al. 2017)."""

    type: Literal["pyramid"]
    layers_per_unit: ClassVar[int] = 2
    expansion: ClassVar[int] = 1


class PyramidBottleneckBlock(ResidualOptions):
    """BN-conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1(x4)-BN, add."""

    type: Literal["pyramid_bottleneck"]
    expansion: PositiveInt = 4
    layers_per_unit: ClassVar[int] = 3


class RegNetBlock(StrictModel):
    """RegNet's residual bottleneck (torchvision's ``ResBottleneckBlock``): conv1x1-BN-ReLU,
    grouped conv3x3 (stride)-BN-ReLU, squeeze-excite for RegNetY, conv1x1-BN; add; ReLU.

    The inner width is ``round(width * bottleneck_ratio)`` in groups of ``group_width``
    channels (capped at the inner width). SE squeezes to ``round(se_ratio x the unit's input
    width)`` (the block's input, not its inner width, as in the paper), ReLU, then a sigmoid gate.
    """

    type: Literal["regnet"]
    group_width: PositiveInt = Field(description="g: channels per group of the 3x3 conv.")
    bottleneck_ratio: PositiveFloat = Field(1.0, description="b: inner width / unit width.")
    se_ratio: Annotated[float, Strict()] | None = Field(
        None, gt=0.0, le=1.0, description="RegNetY's SE width / the unit's input width; null: no SE (RegNetX).")
    layers_per_unit: ClassVar[int] = 3


BUILT_IN_BLOCKS = (
    BasicBlock,
    BottleneckBlock,
    PreactBasicBlock,
    PreactBottleneckBlock,
    PyramidBlock,
    PyramidBottleneckBlock,
    DenseBlock,
    InceptionBlock,
    InceptionV3Block,
    MBConvBlock,
    FusedMBConvBlock,
    PlainBlock,
    ConvNeXtBlock,
    ShuffleBlock,
    FireBlock,
    RegNetBlock,
    BneckBlock,
    ViTBlock,
    MaxViTBlock,
    SwinBlock,
)
_BUILT_IN_TYPES = frozenset(get_args(b.model_fields["type"].annotation)[0] for b in BUILT_IN_BLOCKS)


def _block_tag(value: Any) -> str:
    """A built-in block's model by its ``type``; any other type is a user block (spec/user_blocks.py),
    whose definition the loader finds after validation (an unknown one is refused there, with
    did-you-mean over the built-in, declared and bundled names)."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in _BUILT_IN_TYPES else "user"


BlockSpec = Annotated[
    Union[tuple(Annotated[b, Tag(get_args(b.model_fields["type"].annotation)[0])] for b in BUILT_IN_BLOCKS)
          + (Annotated[UserBlock, Tag("user")],)],  # type: ignore[valid-type]
    EachKindOnFirstUse(_block_tag),
]
