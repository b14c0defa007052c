"""The compiled network: ``stem``, ``stages.<i>.<j>``, ``head``, built from a Plan."""

from __future__ import annotations

import torch
from torch import nn

from ..plan.types import Plan, Unit
from . import residual  # noqa: F401  (registers the residual builders)
from .layers import conv, he_init, linear, norm
from .registry import build_unit


class Stem(nn.Module):
    """One conv (or three, for the deep stem), each with its optional BN and ReLU, then a max-pool."""

    def __init__(self, unit: Unit):
        super().__init__()
        act = unit.options.get("act", "relu") == "relu"
        layers: list[tuple[str, nn.Module]] = []
        for op in unit.ops:
            layers.append((op.path, conv(op) if op.path.startswith("conv") else norm(op)))
            if act and op.path.startswith("bn"):
                layers.append((op.path.replace("bn", "relu"), nn.ReLU(inplace=True)))
        if act and not any(op.path.startswith("bn") for op in unit.ops):
            layers.append(("relu", nn.ReLU(inplace=True)))
        if unit.options.get("pool") == "max":
            layers.append(("pool", nn.MaxPool2d(3, 2, 1)))
        for name, module in layers:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


class ClassifierHead(nn.Module):
    """Optional BN-ReLU, global average pool, optional dropout, linear."""

    def __init__(self, unit: Unit):
        super().__init__()
        pre = unit.options.get("pre", [])
        self.bn = norm(unit.op("bn")) if unit.has("bn") else nn.Identity()
        self.relu = nn.ReLU(inplace=True) if "relu" in pre else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(unit.options["dropout"]) if unit.options.get("dropout") else nn.Identity()
        self.fc = linear(unit.op("fc"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(x))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(self.dropout(x))


class Network(nn.Module):
    """A spec compiled: the module tree mirrors the Plan's unit names."""

    def __init__(self, plan: Plan):
        super().__init__()
        self.plan = plan
        self.stem = Stem(plan.stem)
        self.stages = nn.Sequential(*(nn.Sequential(*(build_unit(u) for u in s.units)) for s in plan.stages))
        self.head = ClassifierHead(plan.head)
        he_init(self)
        self._zero_init_last_bns()

    def _zero_init_last_bns(self) -> None:
        for unit in self.plan.body:
            last = unit.options.get("last_bn")
            if unit.options.get("zero_init_last_bn") and last:
                nn.init.zeros_(self.get_submodule(f"{unit.name}.{last}").weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stages(x)
        return self.head(x)
