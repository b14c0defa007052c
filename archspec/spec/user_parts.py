"""A stem or a head written as a block file: ``stem: {type: block, block: {type: NAME, ...}, width: W}``.

Where no built-in stem or head is the network's (a stem that is a multi-branch block, a head that
pools before its 1x1 conv), a block file (spec/user_blocks.py) says it, as it says a body unit:
its steps run on the network's input (a stem) or on the body's last map (a head), with the
context a unit gets (``in_channels``, ``width``, ``stride``...) and, for a head, ``classes``. A
head block ends in a vector of ``classes`` values. The spec's `blocks:` map, the bundled block
files, the located errors and ``expand`` all treat these blocks as they treat the body's.
"""


from typing import Literal

from pydantic import Field, field_validator

from .base import PositiveInt, StrictModel
from .user_blocks import UserBlock


def _a_block_file(block: UserBlock) -> UserBlock:
    from .kinds import BLOCK_KINDS

    if block.type in BLOCK_KINDS:
        raise ValueError(f"`{block.type}` is a built-in body block; a stem or head block is a block file's type "
                         "(a bundled one, or one the spec declares under `blocks:`)")
    return block


class BlockStem(StrictModel):
    """A stem written as a block file: its steps on the network's input."""

    type: Literal["block"]
    block: UserBlock = Field(description="The block: a block file's type and its parameters.")
    width: PositiveInt = Field(description="The block's `width`: the channels the stem makes.")
    stride: PositiveInt = Field(1, description="The block's `stride`.")

    _checked = field_validator("block")(_a_block_file)


class BlockHead(StrictModel):
    """A head written as a block file: its steps on the body's last map, ending in `classes` values."""

    type: Literal["block"]
    block: UserBlock = Field(description="The block: a block file's type and its parameters.")
    width: PositiveInt | None = Field(None, description="The block's `width` (a hidden layer's channels), if it reads one.")

    _checked = field_validator("block")(_a_block_file)
