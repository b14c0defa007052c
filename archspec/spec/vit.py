"""The Vision Transformer's parts (Dosovitskiy et al. 2021, torchvision's ``VisionTransformer``).

A ViT spec is a patch-embedding stem (``patch_embed``: conv patch x patch / patch to ``width``,
the patches flattened to tokens, a learned class token prepended, a learned position embedding
added), one stage of ``vit`` encoder blocks (LayerNorm, multi-head self-attention, dropout, add;
LayerNorm, MLP, add) and a ``token_classifier`` head (LayerNorm, the class token, FC).
The tokens' width is the stem's ``width``: every block keeps it.
"""


from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .base import PositiveFloat, PositiveInt, Probability, StrictModel


class PatchEmbedStem(StrictModel):
    """Non-overlapping patches to tokens: conv ``patch`` x ``patch`` / ``patch`` (bias) to ``width``,
    flattened to one token per patch, a learned class token first, a learned position embedding
    added (one vector per token, so it grows with the input: ``(H/patch) x (W/patch) + 1`` tokens),
    then dropout (torchvision's ``conv_proj``, ``class_token``, ``encoder.pos_embedding``, ``encoder.dropout``).

    The input's sides must be multiples of ``patch``, as torchvision requires.
    """

    type: Literal["patch_embed"]
    patch: PositiveInt = Field(16, description="Patch size: the conv's kernel and stride; divides the input's sides.")
    width: PositiveInt = Field(description="The tokens' width (torchvision's hidden_dim): 768 for ViT-B.")
    dropout: Probability = Field(0.0, description="Dropout after the position embedding (torchvision's dropout).")


class ViTBlock(StrictModel):
    """A transformer encoder layer (torchvision's ``EncoderBlock``), pre-norm: LayerNorm, multi-head
    self-attention, dropout, plus the input; LayerNorm, MLP (Linear to ``mlp_dim``, GELU, dropout,
    Linear back, dropout), plus its input.

    The attention is counted step by step: the input projection (one Linear to 3 x width: q, k, v),
    q @ k^T over ``heads`` heads, softmax, attention dropout, @ v, the output projection.
    """

    type: Literal["vit"]
    heads: PositiveInt = Field(description="Attention heads; they divide the width.")
    mlp_dim: PositiveInt | None = Field(None, description="The MLP's hidden width: 3072 for ViT-B. Give it or `mlp_ratio`.")
    mlp_ratio: PositiveFloat | None = Field(None, description="The MLP's hidden width as a multiple of the token width "
                                            "(4 for ViT and DeiT); width x ratio must be whole. Give it or `mlp_dim`.")
    dropout: Probability = Field(0.0, description="Dropout after the attention and in the MLP (torchvision's dropout).")
    attention_dropout: Probability = Field(0.0, description="Dropout on the attention weights.")
    norm_eps: PositiveFloat = Field(1e-6, description="Epsilon of the layer norms (torchvision: 1e-6).")
    attention: Literal["explicit", "sdpa"] = Field(
        "explicit", description="`explicit`: q @ k^T, softmax, dropout, @ v as separate steps (torchvision's math, "
        "every tool sees the matmuls); `sdpa`: one F.scaled_dot_product_attention call (timm's; the fused kernels "
        "save far less for backward). The same params, MACs and outputs.")
    layers_per_unit: ClassVar[int] = 1  # a ViT's depth is its number of encoder layers

    @model_validator(mode="after")
    def _one_mlp_width(self) -> "ViTBlock":
        """The MLP's width is given once: absolute (torchvision's mlp_dim) or relative (DeiT's mlp_ratio, which a
        design space varies independently of the width)."""
        if (self.mlp_dim is None) == (self.mlp_ratio is None):
            raise ValueError("give exactly one of `mlp_dim` (the MLP's hidden width, e.g. 3072) and `mlp_ratio` "
                             "(its multiple of the token width, e.g. 4)")
        return self


class TokenClassifierHead(StrictModel):
    """LayerNorm over the tokens, the class token (the first), FC (torchvision's ``encoder.ln``, ``heads.head``)."""

    type: Literal["token_classifier"]
    norm_eps: PositiveFloat = Field(1e-6, description="Epsilon of the layer norm (torchvision: 1e-6).")
