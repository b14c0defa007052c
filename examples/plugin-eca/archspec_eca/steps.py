"""The step ECA needs and the vocabulary lacks: a 1-d convolution across the channels of a (C, 1, 1) map.

Declared here, without torch: its module by import path, its parameters (the kernel's ``k``
weights), its MACs (``k`` per channel) and what its backward keeps (its input, as every
convolution). ``archspec report --verify`` builds the module and checks all three.
"""

from __future__ import annotations

from dataclasses import dataclass

from archspec.plan.ops import Shape
from archspec.plan.plugins import ModuleStep, Saves


@dataclass(frozen=True)
class ChannelConv(ModuleStep):
    """``nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)`` over the C values of a (C, 1, 1) map."""

    channels: int = 1
    kernel: int = 3
    module_class = "archspec_eca.modules:ChannelConv"

    def module_kwargs(self) -> dict[str, int]:
        return {"kernel": self.kernel}

    @property
    def tensors(self) -> dict[str, Shape]:
        return {"conv.weight": (1, 1, self.kernel)}

    @property
    def macs(self) -> int:
        return self.channels * self.kernel

    def saves(self, ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # the conv's input (a view of the mean's output)

    @property
    def label(self) -> str:
        return f"conv1d k{self.kernel} across channels"

    def onnx(self, b, xs: list[str], ins: list[Shape], out: Shape) -> str:
        """Optional: archspec's ONNX writer emits these nodes (a step without ``onnx`` makes the export
        go through torch.onnx). (N, C, 1, 1) -> (N, 1, C), the 1-d conv, back to (N, C, 1, 1)."""
        pad = (self.kernel - 1) // 2
        row = b.node("Reshape", [xs[0], b.ints([0, 1, -1])])
        conv = b.node("Conv", [row, b.param(self.path, "conv.weight")], kernel_shape=[self.kernel], pads=[pad, pad])
        return b.node("Reshape", [conv, b.ints([0, -1, 1, 1])])
