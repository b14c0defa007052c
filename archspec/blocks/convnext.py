"""ConvNeXt's modules (torchvision's CNBlock, stem and classifier), each built from its Plan row."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..plan.types import Unit
from .layers import DropPath, activation, conv, linear, norm, skip
from .registry import register_builder


@register_builder("convnext")
class ConvNeXtUnit(nn.Module):
    """[LayerNorm-conv downsampling], dwconv, LayerNorm (NHWC), Linear-GELU-Linear, layer scale, stochastic depth, add.

    ``layer_scale`` is a bare parameter of shape (C, 1, 1), as in torchvision's CNBlock; it
    starts at ``layer_scale_init`` (blocks/init.py). The permutes are views: the norm and the
    two Linears run on the NHWC map, position by position.
    """

    def __init__(self, unit: Unit):
        super().__init__()
        scale = unit.op("layer_scale")
        self.layer_scale = nn.Parameter(torch.empty(scale.tensors[""]))
        self.layer_scale_init = scale.init
        down = unit.has("down.conv")
        self.down = nn.Sequential(OrderedDict(norm=norm(unit.op("down.norm")), conv=conv(unit.op("down.conv")))) \
            if down else skip
        self.dwconv = conv(unit.op("dwconv"))
        self.norm = norm(unit.op("norm"))
        self.pwconv1 = linear(unit.op("pwconv1"))
        self.act = activation(unit.options.act)
        self.pwconv2 = linear(unit.op("pwconv2"))
        rate = unit.options.drop_path
        self.drop_path = DropPath(rate) if rate else skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        out = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        out = self.pwconv2(self.act(self.pwconv1(out))).permute(0, 3, 1, 2)
        return self.drop_path(self.layer_scale * out) + x


@register_builder("stem_patchify")
class PatchifyStem(nn.Module):
    """conv patch x patch / patch (bias), LayerNorm over channels (torchvision's ConvNeXt stem)."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.conv = conv(unit.op("conv"))
        self.norm = norm(unit.op("norm"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


@register_builder("norm_classifier")
class NormClassifierHead(nn.Module):
    """Global average pool, LayerNorm over channels, flatten, FC (torchvision's ConvNeXt classifier)."""

    def __init__(self, unit: Unit):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = norm(unit.op("norm"))
        self.fc = linear(unit.op("fc"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.norm(self.pool(x)), 1))
