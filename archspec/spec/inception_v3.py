"""Inception-v3's modules (Szegedy et al. 2016, "Rethinking the Inception Architecture"), as data.

A body of ``type: inception_v3`` lists one typed row per module, each naming its branch
widths in torchvision's terms (``torchvision.models.inception``: InceptionA to E). A
branch given as a list is a chain of convs, its widths in order; every conv is
conv-BN-ReLU without bias. The kernels are the module type's own:

- ``a`` (35x35): 1x1; 1x1-5x5; 1x1-3x3-3x3; 3x3/1 average pool-1x1.
- ``b`` (grid reduction 35 -> 17): 3x3/2; 1x1-3x3-3x3/2; 3x3/2 max-pool (its input channels).
- ``c`` (17x17, factorised 7x7): 1x1; 1x1-1x7-7x1; 1x1-7x1-1x7-7x1-1x7; 3x3/1 average pool-1x1.
- ``d`` (grid reduction 17 -> 8): 1x1-3x3/2; 1x1-1x7-7x1-3x3/2; 3x3/2 max-pool.
- ``e`` (8x8, expanded filter bank): 1x1; 1x1 then 1x3 and 3x1 side by side; 1x1-3x3 then 1x3
  and 3x1 side by side; 3x3/1 average pool-1x1. A split branch's last width is each half's.

Strided convs and pools pad nothing; the others keep the size ("same" padding). The
grid-reduction modules (``b``, ``d``) carry their stage's stride 2, so they open a stage;
the others keep the grid.
"""


from typing import Annotated, Literal, Union

from pydantic import Field

from .base import PositiveFloat, PositiveInt, StrictModel

Pair = tuple[PositiveInt, PositiveInt]
Triple = tuple[PositiveInt, PositiveInt, PositiveInt]


class _Module(StrictModel):
    @property
    def widths(self) -> tuple[int, ...]:
        """Every width the row writes, in field order (the planner's size guard sums them)."""
        out: list[int] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            out += [value] if isinstance(value, int) else list(value) if isinstance(value, tuple) else []
        return tuple(out)


class InceptionA(_Module):
    """35x35 module: 1x1; 1x1-5x5; 1x1-3x3-3x3; avg-pool-1x1 (torchvision's InceptionA)."""

    type: Literal["a"]
    branch1x1: PositiveInt = Field(description="1x1 conv width.")
    branch5x5: Pair = Field(description="1x1 reduce, 5x5.")
    branch3x3dbl: Triple = Field(description="1x1 reduce, 3x3, 3x3.")
    branch_pool: PositiveInt = Field(description="1x1 after the 3x3/1 average pool (torchvision's pool_features).")


class InceptionB(_Module):
    """Grid reduction 35 -> 17: 3x3/2; 1x1-3x3-3x3/2; 3x3/2 max-pool (torchvision's InceptionB)."""

    type: Literal["b"]
    branch3x3: PositiveInt = Field(description="3x3/2 conv width.")
    branch3x3dbl: Triple = Field(description="1x1 reduce, 3x3, 3x3/2.")


class InceptionC(_Module):
    """17x17 module with factorised 7x7 convs (torchvision's InceptionC; its channels_7x7 is the reduce width)."""

    type: Literal["c"]
    branch1x1: PositiveInt = Field(description="1x1 conv width.")
    branch7x7: Triple = Field(description="1x1 reduce, 1x7, 7x1.")
    branch7x7dbl: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt, PositiveInt] = Field(
        description="1x1 reduce, 7x1, 1x7, 7x1, 1x7.")
    branch_pool: PositiveInt = Field(description="1x1 after the 3x3/1 average pool.")


class InceptionD(_Module):
    """Grid reduction 17 -> 8: 1x1-3x3/2; 1x1-1x7-7x1-3x3/2; 3x3/2 max-pool (torchvision's InceptionD)."""

    type: Literal["d"]
    branch3x3: Pair = Field(description="1x1 reduce, 3x3/2.")
    branch7x7x3: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = Field(
        description="1x1 reduce, 1x7, 7x1, 3x3/2.")


class InceptionE(_Module):
    """8x8 module whose 3x3 branches end in 1x3 and 3x1 convs side by side (torchvision's InceptionE)."""

    type: Literal["e"]
    branch1x1: PositiveInt = Field(description="1x1 conv width.")
    branch3x3: Pair = Field(description="1x1 reduce, then the width of each of the 1x3 and 3x1 halves.")
    branch3x3dbl: Triple = Field(description="1x1 reduce, 3x3, then the width of each of the 1x3 and 3x1 halves.")
    branch_pool: PositiveInt = Field(description="1x1 after the 3x3/1 average pool.")


InceptionV3Module = Annotated[Union[InceptionA, InceptionB, InceptionC, InceptionD, InceptionE],
                              Field(discriminator="type")]

# The longest conv path through each module type: what the paper's layer count adds per module.
MODULE_DEPTH = {"a": 3, "b": 3, "c": 5, "d": 4, "e": 3}


class InceptionV3Block(StrictModel):
    """Inception-v3 modules, one unit per row; a stride-2 stage opens with a grid reduction (``b`` or ``d``)."""

    type: Literal["inception_v3"]
    modules: list[InceptionV3Module] = Field(min_length=1, description="One typed row per module (unit) of the stage.")
    bn_eps: PositiveFloat | None = Field(
        None, description="BN epsilon of this part; unset: the network's batchnorm.eps.")

    @property
    def fixed_units(self) -> int:
        return len(self.modules)

    @property
    def layers_per_unit(self) -> int:
        """The deepest module's conv path (a body's ``depth`` cannot be given with a modules table)."""
        return max(MODULE_DEPTH[m.type] for m in self.modules)

    @property
    def fixed_layers(self) -> int:
        """The stage's depth: the longest conv path of each of its modules, summed."""
        return sum(MODULE_DEPTH[m.type] for m in self.modules)
