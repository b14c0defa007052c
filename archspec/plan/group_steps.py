"""Steps over channel groups: a map's channels as G equal groups, G branches side by side (as ``concat``
makes them), summed or weighed against each other (Selective Kernel's paths and their attention).

Kept beside ``steps.py``'s vocabulary, with the same facts per class (shape, memory flow, expression,
ONNX nodes, label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ops import Shape
from .steps import Free, elements


@dataclass(frozen=True)
class GroupSum(Free):
    """The sum of ``groups`` equal channel groups, ``x.unflatten(1, (groups, -1)).sum(1)``: a new tensor,
    nothing saved (a sum's backward needs only the shape), as ``torch.stack(paths, 1).sum(1)``."""

    path: str
    groups: int

    def out_shape(self, *shapes: Shape) -> Shape:
        c, *rest = shapes[0]
        return (c // self.groups, *rest)

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.unflatten(1, ({self.groups}, -1)).sum(1)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """The groups sliced off along the channels and added (any batch and map size)."""
        size = ins[0][0] // self.groups
        parts = [b.node("Slice", [xs[0], b.ints([g * size]), b.ints([(g + 1) * size]), b.ints([1])])
                 for g in range(self.groups)]
        return b.node("Sum", parts) if len(parts) > 2 else b.node("Add", parts)

    @property
    def label(self) -> str:
        return f"sum of {self.groups} groups"


@dataclass(frozen=True)
class GroupSoftmax(Free):
    """A softmax across ``groups`` equal channel groups (channel c of each group competes with channel c of
    the others), ``x.unflatten(1, (groups, -1)).softmax(1).flatten(1, 2)``: saves its output (the
    flatten is a view of it)."""

    path: str
    groups: int

    def expr(self, args: list[str]) -> str:
        return f"{args[0]}.unflatten(1, ({self.groups}, -1)).softmax(1).flatten(1, 2)"

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        return flow.op((xs[0],), elements(out), saves=(-1,))

    def onnx(self, b: Any, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """(N, G x C, ...) to (N, G, C, rest), a Softmax over axis 1, back to the input's shape."""
        grouped = b.node("Reshape", [xs[0], b.ints([0, self.groups, ins[0][0] // self.groups, -1])])
        return b.node("Reshape", [b.node("Softmax", [grouped], axis=1), b.node("Shape", [xs[0]])])

    @property
    def label(self) -> str:
        return f"softmax over {self.groups} groups"
