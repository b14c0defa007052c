"""What autograd actually saves: the measurement the analytic memory model is proven against.

During one training-mode forward, ``torch.autograd.graph.saved_tensors_hooks`` sees every
tensor a backward node keeps. A tensor's cost is its storage's, counted once however many
nodes (or views) keep it: an in-place ReLU's output that the next conv saves again costs
nothing more. Parameters and buffers are module state that exists with or without a
training step, so their storages are left out; everything else (the input batch, BN's
per-channel mean and inverse std, dropout noise, pooling indices) counts. Each storage
is charged to the unit whose forward first saved it.

torch is imported here only; ``archspec report`` imports this module only for ``--verify``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn


def storage_key(t: torch.Tensor) -> int:
    """The identity of a tensor's storage, shared by its views and by in-place results.

    ``_cdata`` is the StorageImpl's address: unlike ``data_ptr`` it also tells apart the
    storages of meta tensors, which have no data. Every saved storage stays alive until
    the probe ends (the graph holds it), so no address is reused while it counts.
    """
    return t.untyped_storage()._cdata


@dataclass(frozen=True)
class SavedRecord:
    unit: str
    module: str  # the innermost module running when the tensor was saved
    shape: tuple[int, ...]
    dtype: torch.dtype
    nbytes: int  # of the whole storage
    new: bool  # first time this storage was saved: only these count


class SavedTensorProbe:
    """Record every saved tensor of one forward, by unit (the names are ``get_submodule`` paths)."""

    def __init__(self, model: nn.Module, units: Iterable[str]):
        self.model = model
        self.units = list(units)
        self.records: list[SavedRecord] = []
        self._stack: list[str] = []
        self._unit = "<outside>"
        self._state = {storage_key(t) for t in [*model.parameters(), *model.buffers()]}
        self._seen: set[int] = set()

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        key = storage_key(t)
        if key not in self._state:
            new = key not in self._seen
            self._seen.add(key)
            self.records.append(SavedRecord(self._unit, self._stack[-1] if self._stack else "", tuple(t.shape),
                                            t.dtype, t.untyped_storage().nbytes(), new))
        return t

    def run(self, x: torch.Tensor) -> None:
        names = {m: n for n, m in self.model.named_modules()}
        unit_of = {self.model.get_submodule(u): u for u in self.units}

        def enter(module: nn.Module, _args: object) -> None:
            self._stack.append(names[module])
            if module in unit_of:
                self._unit = unit_of[module]

        def leave(module: nn.Module, _args: object, _out: object) -> None:
            self._stack.pop()

        handles = [m.register_forward_pre_hook(enter) for m in self.model.modules()]
        handles += [m.register_forward_hook(leave) for m in self.model.modules()]
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
                self.model(x)
        finally:
            for h in handles:
                h.remove()

    def by_unit(self) -> dict[str, int]:
        out = {u: 0 for u in self.units}
        for rec in self.records:
            if rec.new:
                out[rec.unit] = out.get(rec.unit, 0) + rec.nbytes
        return out

    @property
    def total(self) -> int:
        return sum(rec.nbytes for rec in self.records if rec.new)


def measure_saved(model: nn.Module, units: Iterable[str], x: torch.Tensor) -> SavedTensorProbe:
    """Run ``model`` in training mode on ``x`` under the probe; the model's mode is restored."""
    was_training = model.training
    model.train()
    probe = SavedTensorProbe(model, units)
    try:
        probe.run(x)
    finally:
        model.train(was_training)
    return probe
