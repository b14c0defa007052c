"""The spec language: what a user writes, validated by Pydantic v2.

Users never write in-channels: the Plan derives them. Cross-field checks that need
the resolved network (groups dividing widths, spatial size staying >= 1) run in the
planner, which reports them against the same field paths.
"""


from typing import Annotated, Any, Literal, Union

from pydantic import Field, PrivateAttr, Strict, field_validator, model_validator

from .base import (EachKindOnFirstUse, NonNegativeInt, PositiveFloat, PositiveInt, StrictModel, empty_list,
                   has_attribute)
from .blocks import BlockSpec, Probability
from .compose import merge
from .init import InitSpec
from .mobilenet import ConvMLPHead
from .layout import (
    AuxHeadSpec, BatchNorm, CompoundScaling, ConvClassifierHead, ConvLayer, ConvPoolHead, DownsampleSpec, LayersStem, MLPHead,
    NoStem, NormClassifierHead, PatchifyStem, Strided,
)
from .checkpoint import CheckpointNames
from .reference import Reference
from .maxvit import PreLogitsClassifierHead
from .user_parts import BlockHead, BlockStem
from .swin import SwinClassifierHead, SwinPatchEmbedStem
from .vit import PatchEmbedStem, TokenClassifierHead
from .widening import DERIVES_STAGES, WideningSpec

Size = tuple[PositiveInt, PositiveInt]


class Normalize(StrictModel):
    """The per-channel normalisation the weights expect, ``(x - mean) / std``, one value per input channel.

    Exports record it (ONNX metadata, safetensors metadata) so that a deployment knows how
    to prepare images; the compiled network itself does not normalise.
    """

    mean: list[Annotated[float, Strict()]] = Field(description="Per-channel mean, in the input's value range.")
    std: list[PositiveFloat] = Field(description="Per-channel standard deviation (positive).")


class InputSpec(StrictModel):
    """The input tensor: channels and spatial size (one number for square inputs)."""

    channels: PositiveInt = 3
    size: PositiveInt | Size
    normalize: Normalize | None = Field(None, description="Input normalisation the weights expect (recorded in exports).")

    @model_validator(mode="after")
    def _one_value_per_channel(self) -> "InputSpec":
        if self.normalize is not None:
            for name in ("mean", "std"):
                values = getattr(self.normalize, name)
                if len(values) != self.channels:
                    raise ValueError(f"normalize.{name} has {len(values)} values for {self.channels} input channels; "
                                     "give one per channel")
        return self

    @property
    def hw(self) -> tuple[int, int]:
        return (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)


class ConvStem(ConvLayer):
    """One convolution, optionally followed by BN, an activation and a 3x3/2 max-pool.

    CIFAR: ``{kernel: 3, width: 16}``; ImageNet: ``{kernel: 7, stride: 2, width: 64, pool: max}``.
    """

    pool: Literal["max", "none"] = "none"


class DeepStem(StrictModel):
    """Three 3x3 convolutions (the first strided), each with BN-ReLU, then a 3x3/2 max-pool (ResNet-C)."""

    type: Literal["deep"]
    widths: tuple[PositiveInt, PositiveInt, PositiveInt] = (32, 32, 64)
    pool: Literal["max", "none"] = "max"


StemSpec = Annotated[Union[ConvStem, DeepStem, LayersStem, NoStem, PatchifyStem, PatchEmbedStem, BlockStem,
                           SwinPatchEmbedStem],
                     EachKindOnFirstUse("type")]

ShortcutKind = Literal[
    "zero_pad",
    "avgpool_zero_pad",
    "projection",
    "preact_projection",
    "avgpool_projection",
    "projection_all",
]


class ShortcutSpec(StrictModel):
    """What the residual shortcut does where the shape changes (identity elsewhere).

    ``zero_pad``: ResNet option A, subsample by the stride and zero-pad the channels.
    ``avgpool_zero_pad``: PyramidNet, 2x2 average pool when strided, then zero-pad.
    ``projection``: option B, 1x1 conv + BN.  ``preact_projection``: 1x1 conv without
    BN on the pre-activated input (pre-act ResNet, WRN).  ``avgpool_projection``:
    ResNet-D, 2x2 average pool then 1x1 conv + BN.  ``projection_all``: option C,
    1x1 conv + BN on every unit.
    """

    type: ShortcutKind

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_name(cls, value: object) -> object:
        return {"type": value} if isinstance(value, str) else value


class StageSpec(StrictModel):
    """One stage: its stride and, optionally, overrides of the body's defaults.

    A stage's ``block`` that omits ``type`` or repeats the body block's merges over the body's
    block field by field (as ``extends`` and ``--set`` merge); a different ``type`` replaces it.
    """

    stride: PositiveInt = 1
    units: PositiveInt | None = Field(None, description="Units in this stage; omit when the body gives `depth`.")
    width: PositiveInt | None = Field(None, description="Override the widening rule for this stage.")
    block: BlockSpec | None = None
    shortcut: ShortcutSpec | None = None
    downsample: DownsampleSpec | None = Field(None, description="Override the body's `downsample` for this stage.")
    _block_patch: dict | None = PrivateAttr(None)  # the `block` as the stage wrote it, before the merge


class BodySpec(StrictModel):
    """Stages of units. Unit counts come from ``depth`` or from each stage's ``units``; a widening
    rule that decides the stages itself (``regnet``) takes neither."""

    stages: list[StageSpec] = Field(
        default_factory=empty_list, description="The stages; omitted (derived) under the `regnet` widening rule.")
    block: BlockSpec
    widening: WideningSpec | None = Field(None, description="Width per unit; dense and inception blocks need none.")
    shortcut: ShortcutSpec = ShortcutSpec(type="projection")
    downsample: DownsampleSpec = Field(
        Strided(type="strided"), description="How a strided stage downsamples: strided first unit, pool or transition."
    )
    aux_heads: list[AuxHeadSpec] = Field(default_factory=empty_list,
                                         description="Training-only classifiers (GoogLeNet's; `type: conv`: Inception-v3's).")
    depth: PositiveInt | None = Field(
        None, description="Total weighted depth: depth_offset + units x layers per unit."
    )
    depth_offset: NonNegativeInt = Field(
        2, description="Layers the depth counts outside the units: 2 for ResNet (stem, FC), 4 for WRN."
    )

    @model_validator(mode="wrap")
    @classmethod
    def _stage_blocks_merge_over_the_body_s(cls, data: Any, handler: Any) -> "BodySpec":
        """``{expand: 1}`` on a stage is the body's block with ``expand`` changed, not a new block
        with every other field back at its default (MobileNetV2's SE and SiLU would come back).

        Each stage keeps the block it wrote (``_block_patch``), so that a variant that changes
        the body's block (design spaces validate only what changed) merges it again, as
        ``--set`` on the file does."""
        patches: dict[int, dict] = {}
        if isinstance(data, dict) and isinstance(data.get("block"), dict) and isinstance(data.get("stages"), list):
            stages = []
            for i, stage in enumerate(data["stages"]):
                patch = stage.get("block") if isinstance(stage, dict) else getattr(stage, "_block_patch", None)
                if isinstance(patch, dict):
                    patches[i] = patch
                    if isinstance(stage, StageSpec):  # validated before, under the body's old block
                        stage = {name: getattr(stage, name) for name in stage.model_fields_set}
                    stage = {**stage, "block": merge(data["block"], patch)}
                stages.append(stage)
            data = {**data, "stages": stages}
        body = handler(data)
        for i, patch in patches.items():
            body.stages[i]._block_patch = patch
        return body

    @model_validator(mode="after")
    def _units_given_once(self) -> "BodySpec":
        if self.widening is not None and self.widening.rule in DERIVES_STAGES:
            if self.stages or self.depth is not None:
                raise ValueError(f"the {self.widening.rule} widening rule derives the stages and their units from "
                                 "its own depth: drop `stages` and `depth`")
            if self.block.type != "regnet":
                raise ValueError(f"the {self.widening.rule} widening rule adjusts widths to the regnet block's "
                                 f"group width: use block {{type: regnet, group_width: ...}}, not {self.block.type}")
            return self
        if not self.stages:
            raise ValueError("give `stages` (at least one)")
        given = [s.units is not None or has_attribute(type(s.block or self.block), "fixed_units") for s in self.stages]
        if self.depth is None and not all(given):
            raise ValueError("give either `depth` or `units` on every stage")
        if self.depth is not None and any(given):
            raise ValueError("give either `depth` or per-stage `units`, not both")
        return self


HeadPre = Literal["bn", "relu"]


class ClassifierHead(StrictModel):
    """Optional BN-ReLU, global average pool, optional dropout, linear layer."""

    type: Literal["classifier"]
    pre: list[HeadPre] = Field(default_factory=empty_list)
    pool: Literal["avg"] = "avg"
    dropout: Probability = 0.0

    @field_validator("pre")
    @classmethod
    def _known_order(cls, pre: list[str]) -> list[str]:
        if pre not in ([], ["bn"], ["relu"], ["bn", "relu"]):
            raise ValueError("`pre` is one of [], [bn], [relu], [bn, relu]")
        return pre


HeadSpec = Annotated[
    Union[ClassifierHead, MLPHead, ConvClassifierHead, NormClassifierHead, ConvPoolHead, ConvMLPHead, TokenClassifierHead,
          PreLogitsClassifierHead, BlockHead, SwinClassifierHead],
    EachKindOnFirstUse("type"),
]


class Spec(StrictModel):
    """A whole network."""

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
        description="Names the exported files: letters, digits and . _ + -, starting with a letter or digit.",
    )
    description: str = ""
    input: InputSpec
    classes: PositiveInt
    stem: StemSpec
    body: BodySpec
    head: HeadSpec = ClassifierHead(type="classifier")
    scaling: CompoundScaling | None = Field(None, description="Compound scaling of widths and depths (EfficientNet).")
    batchnorm: BatchNorm = Field(BatchNorm(), description="Epsilon and momentum of every BN layer.")
    init: InitSpec = Field(InitSpec(), description="How the weights start: a reference code's preset and overrides (docs/init.md).")
    reference: Reference | None = Field(
        None, description="The published network this spec reproduces; `validate` checks its figures.")
    checkpoint: CheckpointNames | None = Field(
        None, description="How another code's state_dict (timm's, xautodl's) names this network's layers: "
        "prefix rules, read by `build --weights-format` (docs/weights.md#timm-checkpoints).")
    blocks: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)],
                 Union[Annotated[str, Field(min_length=1, max_length=4096)], dict[str, Any]]] | None = Field(
        None, description="User block types: name -> a block file (relative to this spec, inside its directory "
        "tree) or a definition written inline (docs/custom-blocks.md).")
    plugins: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=200)]] \
        | None = Field(None, max_length=32, description="Python modules to import before validating, each "
                       "registering block types (installed, or on PYTHONPATH; docs/custom-blocks.md#python-plugins).")
