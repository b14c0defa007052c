"""The Swin Transformer's parts (Liu et al. 2021; V2, Liu et al. 2022; torchvision's ``SwinTransformer``).

A Swin spec is a patch-embedding stem on a channels-last map (``swin_patch_embed``: conv patch x
patch / patch to ``width``, permuted to (H, W, C), LayerNorm), stages of ``swin`` blocks (window
attention in ``window`` x ``window`` windows, every other block's windows shifted by half a window,
a relative position bias; then an MLP), each later stage opened by patch merging (2x2 neighbours
concatenated, LayerNorm, Linear to twice the width: the first unit of a stride-2 stage holds it), and
a ``swin_classifier`` head (LayerNorm, average pool, FC). ``version: 2`` is Swin V2: norms after the
attention and the MLP (and after patch merging's Linear), cosine attention with a learned logit
scale, and a continuous position bias from an MLP over log-spaced offsets.
"""


from typing import ClassVar, Literal

from pydantic import Field

from .base import PositiveFloat, PositiveInt, Probability, StrictModel


class SwinPatchEmbedStem(StrictModel):
    """Non-overlapping patches to a channels-last map: conv ``patch`` x ``patch`` / ``patch`` (bias) to
    ``width``, permuted to (H, W, C), LayerNorm over the channels (torchvision's ``features.0``).
    The input's sides must be multiples of ``patch``."""

    type: Literal["swin_patch_embed"]
    patch: PositiveInt = Field(4, description="Patch size: the conv's kernel and stride; divides the input's sides.")
    width: PositiveInt = Field(description="The first stage's width (torchvision's embed_dim): 96 for Swin-T.")
    norm_eps: PositiveFloat = Field(1e-5, description="Epsilon of the layer norm (torchvision: 1e-5).")


class SwinBlock(StrictModel):
    """A Swin Transformer block (torchvision's ``SwinTransformerBlock``, ``...V2`` with ``version: 2``).

    V1, pre-norm: LayerNorm, shifted-window attention, stochastic depth, plus the input; LayerNorm,
    MLP (Linear to ``mlp_ratio`` x width, GELU, dropout, Linear back, dropout), stochastic depth, plus
    its input. V2, post-norm: the norms after the attention and the MLP. The attention is counted step
    by step: the map padded to window multiples, rolled by half a window in odd-numbered units
    (unless one window covers the map), cut into windows, qkv, q @ k^T (V1: q scaled by d^-0.5; V2:
    cosine, times exp of a clamped logit scale), plus the relative position bias (V1: a learned
    (2W-1)^2 x heads table; V2: 16 sigmoid of an MLP over log-spaced offsets), plus the shift mask,
    softmax, @ v, the projection, windows back, rolled back, cropped.

    A stage with stride 2 opens with patch merging: 2x2 neighbours concatenated (4 x the channels),
    LayerNorm and Linear to the stage's width (V2: Linear, then LayerNorm).
    """

    type: Literal["swin"]
    heads: PositiveInt = Field(description="Attention heads; they divide the width (torchvision: width / 32).")
    window: int = Field(7, ge=2, description="Window side in tokens (7 for Swin, 8 for Swin V2).")
    mlp_ratio: PositiveFloat = Field(4.0, description="The MLP's hidden width over the block's width.")
    version: Literal[1, 2] = Field(1, description="1: Swin; 2: Swin V2 (post-norm, cosine attention, position MLP).")
    dropout: Probability = Field(0.0, description="Dropout after the attention's projection and in the MLP.")
    attention_dropout: Probability = Field(0.0, description="Dropout on the attention weights.")
    drop_path: Probability = Field(0.0, description="The last unit's stochastic-depth rate (torchvision's "
                                   "stochastic_depth_prob), 0 at the first, linear between.")
    norm_eps: PositiveFloat = Field(1e-5, description="Epsilon of the layer norms (torchvision: 1e-5).")
    layers_per_unit: ClassVar[int] = 1


class SwinClassifierHead(StrictModel):
    """LayerNorm over the channels of the (H, W, C) map, permuted back, global average pool, FC
    (torchvision's ``norm``, ``permute``, ``avgpool``, ``flatten``, ``head``)."""

    type: Literal["swin_classifier"]
    norm_eps: PositiveFloat = Field(1e-5, description="Epsilon of the layer norm (torchvision: 1e-5).")
