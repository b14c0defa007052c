"""MobileNetV3's spec parts (Howard et al. 2019): the ``bneck`` table block and its head.

A MobileNetV3 stage is rows of the paper's Table 1 (torchvision's ``bneck_conf`` rows):
each unit has its own kernel, expanded width, output width, SE flag and activation, so
the block is the table itself, one unit per row, as an Inception stage is its modules.
Widths are absolute (the paper's "exp size" and "#out"); a stage's ``stride`` goes to its
first row. MobileNetV2 needs no part of its own: it is ``mbconv`` with ``act: relu6`` and
no squeeze-excite.
"""


from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict, field_validator

from .base import PositiveInt, Probability, StrictModel
from .families import Activation
from .layout import HEAD_SCALING, HeadScaling

BneckAct = Literal["relu", "hardswish"]  # the paper's RE and HS
# [kernel, expanded width, output width, squeeze-excite, activation]
BneckRow = tuple[PositiveInt, PositiveInt, PositiveInt, Annotated[bool, Strict()], BneckAct]


class BneckBlock(StrictModel):
    """MobileNetV3 bneck units, one per row ``[kernel, expanded, out, se, act]``.

    conv1x1 expand to ``expanded`` (skipped when it equals the unit's input width)-BN-act,
    depthwise kxk (stride)-BN-act, squeeze-excite where ``se`` (global pool, 1x1 conv with
    bias to ``make_divisible(expanded // se_reduction, se_divisor)``, ReLU, 1x1 conv with
    bias, ``se_gate``, rescale), conv1x1 project-BN. The identity is added where the stride
    is 1 and the width does not change. The SE width's rounding is recorded on the unit.
    """

    type: Literal["bneck"]
    layers: list[BneckRow] = Field(min_length=1, description="One row per unit: [kernel, expanded, out, se, act].")
    se_reduction: PositiveInt = Field(4, description="The SE width before rounding: expanded // se_reduction.")
    se_divisor: PositiveInt = Field(8, description="The SE width is rounded to a multiple of this (_make_divisible).")
    se_gate: Literal["hardsigmoid", "sigmoid"] = Field("hardsigmoid", description="The SE's gate.")
    layers_per_unit: ClassVar[int] = 3

    @field_validator("layers")
    @classmethod
    def _odd_kernels(cls, layers: list[BneckRow]) -> list[BneckRow]:
        for i, row in enumerate(layers):
            if row[0] % 2 == 0:
                raise ValueError(f"row {i}: kernel {row[0]} is even; depthwise kernels are odd (3, 5, 7)")
        return layers

    @property
    def fixed_units(self) -> int:
        return len(self.layers)


class ConvMLPHead(StrictModel):
    """conv1x1 (``expansion`` x the incoming width)-BN-act, global average pool, FC(``hidden``)-act,
    dropout, FC (MobileNetV3's last stage and classifier)."""

    type: Literal["conv_mlp"]
    expansion: PositiveInt = 6
    hidden: PositiveInt = Field(1280, description="Width of the hidden FC (torchvision: 1280 large, 1024 small).")
    hidden_scaling: HeadScaling = Field("fixed", description=HEAD_SCALING.format(field="hidden") + " torchvision's "
                                        "MobileNetV3 scales it: `scaled`.")
    act: Activation = "hardswish"
    dropout: Probability = 0.2


MOBILENET_BLOCKS = (BneckBlock,)
