"""Backbone feature maps from the Plan (no torch): where to tap a network, as timm numbers the taps.

timm's ``features_only`` models return one map per *reduction level*: the deepest point of
the network at each output stride. For ResNet-50 that is the stem's activation before its
max-pool (stride 2), then each stage's output (4, 8, 16, 32); for ConvNeXt, whose patchify
stem already has stride 4, only the four stages; for MobileNetV2 and EfficientNet, the last
block of each stride (a stride-1 stage hands its level on to the next one). :func:`features`
derives exactly that from the Plan: the candidates are every conv of the stem (its
activation) and every body unit's output, in forward order, and each reduction level keeps
its last candidate. A tap at a stage's last unit is named by the stage (``stages.2``, as
torchvision's ``create_feature_extractor`` accepts it); any other by its unit or stem layer.

:class:`FeatureInfo` is timm's accessor over them (``channels()``, ``reduction()``,
``module_name()``, ``get_dicts()``), with the same ``out_indices`` rules. :func:`pre_logits`
is the Plan of a ``num_classes=0`` build: the head without its classifier layer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence, Union

from .ops import Conv, Linear, Norm, Size
from .stems import LayersStemOptions, StemOptions, StemPool
from .types import Plan, Unit

OutIndices = Union[int, Sequence[int], None]


class FeatureError(ValueError):
    """``out_indices`` that name no feature of the network (the message lists the ones it has)."""


@dataclass(frozen=True)
class Feature:
    """One tap: its timm index, the module whose output it is, its width, stride and size (at the Plan's input)."""

    index: int
    module: str
    channels: int
    reduction: int
    size: Size
    unit: str  # the Plan unit it belongs to: ``stem`` or ``stages.<i>.<j>``

    def as_dict(self) -> dict[str, Any]:
        """timm's keys (``num_chs``, ``reduction``, ``module``, ``index``), plus the size and the unit."""
        return {"index": self.index, "module": self.module, "num_chs": self.channels, "reduction": self.reduction,
                "size": list(self.size), "unit": self.unit}


def features(plan: Plan) -> tuple[Feature, ...]:
    """Every tap of ``plan``, in forward order: the last candidate of each reduction level."""
    candidates = [*_stem_candidates(plan.stem)]
    reduction = plan.stem.stride
    for stage in plan.stages:
        for j, unit in enumerate(stage.units):
            reduction *= unit.stride
            module = f"stages.{stage.index}" if j == len(stage.units) - 1 else unit.name
            candidates.append((module, unit.out_channels, reduction, unit.out_size, unit.name))
    kept = [c for c, after in zip(candidates, [*candidates[1:], None]) if after is None or after[2] != c[2]]
    return tuple(Feature(i, *c) for i, c in enumerate(kept))


def _stem_candidates(stem: Unit) -> Iterator[tuple[str, int, int, Size, str]]:
    """The stem's taps: after each conv (with its norm and activation), then the stem's output.

    Module names are steps of the stem's graph (the activation after each conv, or the conv or norm
    where it has none); tests/test_backbone.py checks that each one exists in the built network.
    """
    if not stem.ops:  # no stem (VGG): its output is the input
        return
    opts = stem.options
    if isinstance(opts, StemOptions):  # conv and deep stems
        act = opts.act
        reduction, convs = 1, [op for op in stem.ops if isinstance(op, Conv)]
        for conv in convs:
            reduction *= conv.stride
            norm = next((op.path for op in stem.ops if isinstance(op, Norm)
                         and op.path.removeprefix("bn") == conv.path.removeprefix("conv")), None)
            if norm is not None:
                name = norm if act == "none" else norm.replace("bn", act)
            else:
                name = conv.path if act == "none" else act
            yield f"stem.{name}", conv.cout, reduction, conv.out_size, "stem"
    elif isinstance(opts, LayersStemOptions):
        reduction = 1
        for layer in opts.layers:
            if isinstance(layer, StemPool):
                reduction *= layer.pool.stride
                continue
            conv = stem.op(f"{layer.name}.conv")
            reduction *= conv.stride
            last = [n.name for n in stem.graph.nodes if n.name.startswith(f"{layer.name}.")][-1]  # its activation
            yield f"stem.{last}", conv.cout, reduction, conv.out_size, "stem"
    yield "stem", stem.out_channels, stem.stride, stem.out_size, "stem"


def take_indices(count: int, out_indices: OutIndices) -> tuple[int, ...]:
    """timm's ``out_indices``: None (all), an int n (the last n) or indices (negative: from the end)."""
    if out_indices is None:
        return tuple(range(count))
    allowed = f"this network has {count} features, indices 0 to {count - 1} (or -{count} to -1)"
    if isinstance(out_indices, bool) or not isinstance(out_indices, (int, Sequence)) or isinstance(out_indices, str):
        raise FeatureError(f"out_indices must be an int (the last n features) or a sequence of ints; "
                           f"got {out_indices!r}")
    if isinstance(out_indices, int):
        if not 0 < out_indices <= count:
            raise FeatureError(f"out_indices={out_indices} (the last n features) must be 1 to {count}: {allowed}")
        return tuple(range(count - out_indices, count))
    taken: list[int] = []
    for i in out_indices:
        if isinstance(i, bool) or not isinstance(i, int) or not -count <= i < count:
            raise FeatureError(f"out_indices {tuple(out_indices)!r}: {i!r} is not a feature index; {allowed}")
        taken.append(i % count)
    if not taken:
        raise FeatureError(f"out_indices is empty; {allowed}")
    if len(set(taken)) != len(taken) or taken != sorted(taken):
        raise FeatureError(f"out_indices {tuple(out_indices)!r} must name each feature once, in forward order")
    return tuple(taken)


class FeatureInfo:
    """timm's ``feature_info``: every feature of the network, and the ``out_indices`` a model returns.

    ``channels()``, ``reduction()`` and ``module_name()`` list the selected features' values;
    with ``idx`` (an int or a list) they read those features instead, whatever is selected.
    Indexing and ``len`` cover every feature, as timm's do.
    """

    def __init__(self, feats: Sequence[Feature], out_indices: OutIndices = None):
        self.features = tuple(feats)
        self.out_indices = take_indices(len(self.features), out_indices)
        self.info = [f.as_dict() for f in self.features]

    @classmethod
    def of(cls, plan: Plan, out_indices: OutIndices = None) -> "FeatureInfo":
        return cls(features(plan), out_indices)

    @property
    def selected(self) -> tuple[Feature, ...]:
        return tuple(self.features[i] for i in self.out_indices)

    def get(self, key: str, idx: Optional[Union[int, Sequence[int]]] = None) -> Any:
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, int):
            return self.info[idx][key]
        return [self.info[i][key] for i in idx]

    def get_dicts(self, keys: Optional[Sequence[str]] = None,
                  idx: Optional[Union[int, Sequence[int]]] = None) -> Any:
        pick = (lambda d: d) if keys is None else (lambda d: {k: d[k] for k in keys})
        if isinstance(idx, int):
            return pick(self.info[idx])
        return [pick(self.info[i]) for i in (self.out_indices if idx is None else idx)]

    def channels(self, idx: Optional[Union[int, Sequence[int]]] = None) -> Any:
        return self.get("num_chs", idx)

    def reduction(self, idx: Optional[Union[int, Sequence[int]]] = None) -> Any:
        return self.get("reduction", idx)

    def module_name(self, idx: Optional[Union[int, Sequence[int]]] = None) -> Any:
        return self.get("module", idx)

    def __getitem__(self, item: int) -> dict[str, Any]:
        return self.info[item]

    def __len__(self) -> int:
        return len(self.info)

    def __repr__(self) -> str:
        return f"FeatureInfo(out_indices={self.out_indices}, channels={self.channels()}, reduction={self.reduction()})"


def backbone_units(plan: Plan, info: "FeatureInfo") -> tuple[Unit, ...]:
    """The units a features_only build has: the stem and the body up to the deepest selected map
    (as timm's feature models, nothing after it); their params are the backbone's."""
    last = plan.unit(info.selected[-1].unit)
    if last.stage is None:
        return (plan.stem,)
    return (plan.stem, *(u for u in plan.body if (u.stage, u.index) <= (last.stage, last.index)))


def classifier_path(plan: Plan) -> str:
    """The head's classifier layer (its last, giving the classes): what ``num_classes=0`` drops."""
    last = plan.head.ops[-1] if plan.head.ops else None
    if not isinstance(last, (Linear, Conv)) or last.cout != plan.classes:
        raise FeatureError(f"the {plan.head.block} head of {plan.name} ends in no classifier layer to drop")
    return last.path


def pre_logits(plan: Plan) -> Plan:
    """The Plan of a ``num_classes=0`` build (timm's convention): the head pools and stops before
    its classifier layer, so the network returns ``num_features`` pooled values per image."""
    path = classifier_path(plan)
    last = plan.head.op(path)
    head = plan.head._with(ops=tuple(op for op in plan.head.ops if op.path != path), out_channels=last.cin)
    return dataclasses.replace(plan, head=head, classes=0)
