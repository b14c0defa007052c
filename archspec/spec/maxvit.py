"""MaxViT's parts (Tu et al. 2022, torchvision's ``MaxVit``).

A MaxViT spec is a layer-list stem (conv 3x3/2-BN-GELU, conv 3x3 with a bias), stages of
``maxvit`` units (torchvision's ``MaxVitLayer``: an MBConv, then block attention within P x P
windows, then grid attention over a P x P grid spanning the map) and a ``prelogits_classifier``
head (global average pool, LayerNorm, Linear-Tanh, a Linear without bias).
"""


from typing import ClassVar, Literal

from pydantic import Field

from .base import PositiveFloat, PositiveInt, Probability, StrictModel


class MaxViTBlock(StrictModel):
    """One MaxViT layer: MBConv (BN first, 1x1 expand-BN-GELU, depthwise 3x3 with the stride-BN-GELU,
    squeeze-excite with SiLU, 1x1 with a bias; the shortcut a 3x3/2 average pool and a 1x1 conv with
    a bias where the shape changes), then block attention and grid attention, each a pre-norm
    relative-position multi-head attention and a pre-norm MLP (GELU), each added to its input.

    The map entering the attention (after the stride) must divide into ``partition`` x ``partition``
    windows: its sides must be multiples of ``partition``.
    """

    type: Literal["maxvit"]
    expand: PositiveFloat = Field(4, description="MBConv's inner width as a multiple of the unit's width (int() of it).")
    se_ratio: PositiveFloat = Field(0.25, description="Squeeze-excite's width as a fraction of the unit's width (int() of it).")
    head_dim: PositiveInt = Field(32, description="Channels per attention head: it divides every stage's width.")
    partition: int = Field(7, ge=2, description="P: the window side of block attention and the grid side of grid attention.")
    mlp_ratio: PositiveInt = Field(4, description="The MLP's hidden width as a multiple of the unit's width.")
    mlp_dropout: Probability = Field(0.0, description="Dropout after each MLP.")
    attention_dropout: Probability = Field(0.0, description="Dropout after each attention's output projection.")
    norm_eps: PositiveFloat = Field(1e-5, description="Epsilon of the layer norms (torchvision: 1e-5).")
    drop_path: Probability = Field(
        0.0, description="Stochastic depth: the last unit's drop rate; rates grow linearly from 0 at the first.")
    layers_per_unit: ClassVar[int] = 1


class PreLogitsClassifierHead(StrictModel):
    """Global average pool, flatten, LayerNorm, Linear to the same width, Tanh, Linear to the classes
    without a bias (torchvision's MaxViT ``classifier``)."""

    type: Literal["prelogits_classifier"]
    norm_eps: PositiveFloat = Field(1e-5, description="Epsilon of the layer norm (torchvision: 1e-5).")
