"""``reference:``: the published network a spec reproduces, with the figures it must match.

torchvision keeps this metadata beside each model (``num_params``, ``_ops``); here it
lives in the spec and ``archspec validate`` checks it against the Plan's exact counts,
so a bundled spec that drifts from the network it claims to be fails in CI.
"""


from pydantic import Field

from .base import PositiveInt, StrictModel


class Reference(StrictModel):
    """The published network this spec reproduces and its exact counts at the spec's input size."""

    torchvision: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_]*$",
        description="The torchvision builder it reproduces, spelled as in `torchvision.models` (`resnet50`).",
    )
    timm: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_.]*$",
        description="The timm model it reproduces, as `timm.create_model` names it (`skresnet18`).",
    )
    params: PositiveInt | None = Field(
        None, description="Exact parameter count (`sum(p.numel())`); `validate` requires the Plan to match it.")
    macs: PositiveInt | None = Field(
        None, description="Exact MACs per image at the spec's input size (FlopCounterMode / 2); checked by `validate`.")
    source: str | None = Field(None, max_length=200, description="Where the figures come from (paper, code).")
