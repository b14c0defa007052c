"""The compiled network: ``stem``, ``stages.<i>.<j>``, ``head``, built from a Plan."""

from __future__ import annotations

import torch
from torch import nn

from .._startup import collector_paused
from ..plan.features import FeatureInfo, OutIndices, classifier_path, pre_logits
from ..plan.residual import ResidualUnitOptions
from ..plan.types import Plan, Unit
from .init import initialise
from .registry import build_unit


class Network(nn.Module):
    """A spec compiled: the module tree mirrors the Plan's unit names.

    With ``aux=True`` (a training build) the Plan's auxiliary classifiers are built as
    ``aux.<i>`` and, in training mode, ``forward`` returns ``(logits, *aux_logits)``;
    default builds have no aux modules, so eval, tracing and export never see them.

    Layers are made without torch's default init (:func:`archspec.blocks.layers.fresh`),
    and each tensor is initialised once by the Plan's init rules from ``seed`` (``self.seed``).
    ``initialised=False`` leaves the storage uninitialised, for a caller that loads every
    tensor next (a strict ``load_state_dict``).

    As a backbone (timm's conventions, taps from :mod:`archspec.plan.features`):
    ``self.feature_info`` lists the feature maps (every build has it, as timm's models do);
    ``features_only=True`` builds no head and ``forward`` returns the maps ``out_indices``
    selects; ``pooled=True`` (``num_classes=0``)
    replaces the head's classifier layer by the identity, and ``self.plan`` is the Plan
    without it, so the counts still hold. Module names are those of the full network; a
    backbone's ``self.plan`` stays the whole network's (what it builds:
    :func:`archspec.plan.features.backbone_units`).
    """

    def __init__(self, plan: Plan, aux: bool = False, seed: int = 0, initialised: bool = True, *,
                 features_only: bool = False, out_indices: OutIndices = None, pooled: bool = False):
        with collector_paused():  # thousands of modules, no garbage: collections would find nothing
            self._build(plan, aux, seed, initialised, features_only, out_indices, pooled)

    def _build(self, plan: Plan, aux: bool, seed: int, initialised: bool, features_only: bool = False,
               out_indices: OutIndices = None, pooled: bool = False) -> None:
        super().__init__()
        if features_only and (aux or pooled):
            raise ValueError("features_only builds no head: it takes neither aux nor num_classes=0")
        if out_indices is not None and not features_only:
            raise ValueError("out_indices selects the maps of a features_only build; pass features_only=True too")
        self.plan = pre_logits(plan) if pooled else plan
        self.seed = seed
        self.features_only = features_only
        self.feature_info = FeatureInfo.of(plan, out_indices)
        last = self._last_unit_needed()
        self.stem = build_unit(plan.stem)
        self.stages = nn.Sequential(*(nn.Sequential(*(build_unit(u) for u in s.units if self._needed(u, last)))
                                      for s in plan.stages if self._needed(s.units[0], last)))
        self.head = build_unit(plan.head) if last is None else None
        if pooled:  # timm's num_classes=0: the head pools and stops before its classifier layer
            self.head.set_submodule(classifier_path(plan), nn.Identity())
        self.aux = nn.ModuleList(build_unit(u) for u in plan.aux) if aux and plan.aux else None
        self._taps = [(u.stage, u.index) for u in plan.aux]
        if initialised:
            initialise(self, plan.init, seed)
            self._zero_init_last_bns()

    def _last_unit_needed(self) -> tuple[int, int] | None:
        """(stage, index) of the last unit a features_only build runs (stem only: (-1, 0)); None: all and the head.

        Like timm's feature models, nothing after the last selected map is built, so every parameter is used.
        """
        if not self.features_only:
            return None
        last = self.plan.unit(self.feature_info.selected[-1].unit)
        return (-1, 0) if last.stage is None else (last.stage, last.index)

    @staticmethod
    def _needed(unit: Unit, last: tuple[int, int] | None) -> bool:
        return last is None or (unit.stage, unit.index) <= last

    def _zero_init_last_bns(self) -> None:
        """torchvision's ``zero_init_residual``: each branch starts as the identity (off by default,
        as in every reference; the block option ``zero_init_last_bn`` turns it on)."""
        last = self._last_unit_needed()
        for unit in self.plan.body:
            opts = unit.options
            if not self._needed(unit, last):
                continue
            if isinstance(opts, ResidualUnitOptions) and opts.zero_init_last_bn and opts.last_bn:
                with torch.no_grad():
                    self.get_submodule(f"{unit.name}.{opts.last_bn}").weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.features_only:
            return self._forward_taps(x)
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

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (timm's name): everything but the head."""
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """The head on a ``forward_features`` map: logits, or pooled features for a ``num_classes=0`` build."""
        return self.head(x)

    def _forward_taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """A features_only build's forward: the selected maps, shallowest first (``self.feature_info``).

        A tap inside the stem (ResNet's activation before the max-pool) is a step of the stem's graph;
        the stem's generated code returns it beside its output.
        """
        selected = self.feature_info.selected
        inside = {f.module.removeprefix("stem.") for f in selected if f.module.startswith("stem.")}
        units = {f.unit for f in selected if f.unit != "stem"}
        maps: list[torch.Tensor] = []
        if inside:
            steps = [n.name for n in self.plan.stem.graph.nodes]
            *taken, x = self.stem.tapped(x, tuple(sorted(inside, key=steps.index)))
            maps += taken
        else:
            x = self.stem(x)
        if any(f.module == "stem" for f in selected):
            maps.append(x)
        for s, stage in enumerate(self.stages):
            for j, unit in enumerate(stage):
                x = unit(x)
                if f"stages.{s}.{j}" in units:
                    maps.append(x)
        return maps
