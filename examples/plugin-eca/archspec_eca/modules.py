"""The torch module of :class:`archspec_eca.steps.ChannelConv`, imported only when a network is built."""

from __future__ import annotations

import torch
from torch import nn


class ChannelConv(nn.Module):
    """A 1-d convolution across the channels of a (B, C, 1, 1) map (ECA's, without its gate)."""

    def __init__(self, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel, padding=(kernel - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.flatten(1).unsqueeze(1)).view(x.shape)
