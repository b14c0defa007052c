"""The compiled network: ``stem``, ``stages.<i>.<j>``, ``head``, built from a Plan."""

from __future__ import annotations

import torch
from torch import nn

from .._startup import collector_paused
from ..plan.residual import ResidualUnitOptions
from ..plan.types import Plan, Unit
from . import families, fused_mbconv, inception_v3, mobilenet, parts, regnet, residual  # noqa: F401  (register the unit builders)
from .init import initialise
from .layers import activation, conv, linear, norm, skip
from .registry import build_unit, register_builder


@register_builder("stem_conv")
@register_builder("stem_deep")
class Stem(nn.Module):
    """One conv (or three, for the deep stem), each with its optional BN and activation, then a max-pool."""

    def __init__(self, unit: Unit):
        super().__init__()
        act_name = unit.options.act
        act = act_name != "none"
        layers: list[tuple[str, nn.Module]] = []
        for op in unit.ops:
            layers.append((op.path, conv(op) if op.path.startswith("conv") else norm(op)))
            if act and op.path.startswith("bn"):
                layers.append((op.path.replace("bn", act_name), activation(act_name)))
        if act and not any(op.path.startswith("bn") for op in unit.ops):
            layers.append((act_name, activation(act_name)))
        if unit.options.pool == "max":
            layers.append(("pool", nn.MaxPool2d(3, 2, 1)))
        for name, module in layers:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


@register_builder("classifier")
class ClassifierHead(nn.Module):
    """Optional BN-ReLU, global average pool, optional dropout, linear."""

    def __init__(self, unit: Unit):
        super().__init__()
        opts = unit.options
        self.bn = norm(unit.op("bn")) if unit.has("bn") else skip
        self.relu = nn.ReLU(inplace=True) if "relu" in opts.pre else skip
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(opts.dropout) if opts.dropout else skip
        self.fc = linear(unit.op("fc"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(x))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(self.dropout(x))


class Network(nn.Module):
    """A spec compiled: the module tree mirrors the Plan's unit names.

    With ``aux=True`` (a training build) the Plan's auxiliary classifiers are built as
    ``aux.<i>`` and, in training mode, ``forward`` returns ``(logits, *aux_logits)``;
    default builds have no aux modules, so eval, tracing and export never see them.

    Layers are made without torch's default init (:func:`archspec.blocks.layers.fresh`),
    and each tensor is initialised once by the Plan's init rules from ``seed`` (``self.seed``).
    ``initialised=False`` leaves the storage uninitialised, for a caller that loads every
    tensor next (a strict ``load_state_dict``).
    """

    def __init__(self, plan: Plan, aux: bool = False, seed: int = 0, initialised: bool = True):
        with collector_paused():  # thousands of modules, no garbage: collections would find nothing
            self._build(plan, aux, seed, initialised)

    def _build(self, plan: Plan, aux: bool, seed: int, initialised: bool) -> None:
        super().__init__()
        self.plan = plan
        self.seed = seed
        self.stem = build_unit(plan.stem)
        self.stages = nn.Sequential(*(nn.Sequential(*(build_unit(u) for u in s.units)) for s in plan.stages))
        self.head = build_unit(plan.head)
        self.aux = nn.ModuleList(build_unit(u) for u in plan.aux) if aux and plan.aux else None
        self._taps = [(u.stage, u.index) for u in plan.aux]
        if initialised:
            initialise(self, plan.init, seed)
            self._zero_init_last_bns()

    def _zero_init_last_bns(self) -> None:
        """torchvision's ``zero_init_residual``: each branch starts as the identity (off by default,
        as in every reference; the block option ``zero_init_last_bn`` turns it on)."""
        for unit in self.plan.body:
            opts = unit.options
            if isinstance(opts, ResidualUnitOptions) and opts.zero_init_last_bn and opts.last_bn:
                with torch.no_grad():
                    self.get_submodule(f"{unit.name}.{opts.last_bn}").weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.aux is None or not self.training:
            return self.head(self.stages(x))
        return self._forward_with_aux(x)

    def _forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        aux_logits = []
        for s, stage in enumerate(self.stages):
            for j, unit in enumerate(stage):
                x = unit(x)
                aux_logits += [head(x) for head, tap in zip(self.aux, self._taps) if tap == (s, j)]
        return (self.head(x), *aux_logits)
