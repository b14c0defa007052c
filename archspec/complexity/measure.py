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
from typing import TYPE_CHECKING, Iterable

import torch
from torch import nn

if TYPE_CHECKING:
    from ..plan.types import Plan


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


def zeros_module(plan: "Plan", dtype: torch.dtype = torch.float32) -> nn.Module:
    """The plan's module on CPU with every parameter and buffer zero, for measurements of shapes and storages.

    Built on ``meta`` and materialised, so He initialisation (seconds for a big net) is skipped;
    zeros rather than uninitialised memory keep every value finite.
    """
    from ..blocks.network import Network

    with torch.device("meta"):
        model = Network(plan)
    model = model.to_empty(device="cpu").to(dtype)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            t.zero_()
    return model


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


class LiveTensorTrace:
    """The aten ops of one inference forward, each with the storages it reads and makes.

    Taken under a ``TorchDispatchMode``, so it sees what actually runs (decompositions,
    in-place ops, views) rather than what the modules say. Applying the memory model's
    liveness rule to it (a storage lives from the op that first makes it to the last op
    that reads it) gives the measured counterpart of ``infer_peak_bytes``.
    """

    def __init__(self, model: nn.Module):
        self.state = {storage_key(t) for t in [*model.parameters(), *model.buffers()]}
        self.sizes: dict[int, int] = {}
        self.made: dict[int, int] = {}
        self.last_read: dict[int, int] = {}
        self.ops: list[str] = []
        self._held: list[torch.Tensor] = []  # every tensor seen stays alive, so no storage address is reused

    def _storages(self, tree: object) -> list[int]:
        from torch.utils._pytree import tree_leaves

        keys = []
        for leaf in tree_leaves(tree):
            if isinstance(leaf, torch.Tensor):
                key = storage_key(leaf)
                self._held.append(leaf)
                if key not in self.state:
                    self.sizes.setdefault(key, leaf.untyped_storage().nbytes())
                    keys.append(key)
        return keys

    def record(self, name: str, args: object, out: object) -> None:
        index = len(self.ops)
        self.ops.append(name)
        for key in self._storages(args):
            self.made.setdefault(key, index)
            self.last_read[key] = index
        for key in self._storages(out):
            self.made.setdefault(key, index)

    def returned(self, out: object) -> None:
        """The forward's result lives to the end; any other storage no op reads dies with the op that made it."""
        for key in self._storages(out):
            self.last_read[key] = len(self.ops) - 1

    def peak(self) -> int:
        n = len(self.ops)
        delta = [0] * (n + 1)
        for key, size in self.sizes.items():
            start = self.made[key]
            end = max(self.last_read.get(key, start), start)
            delta[start] += size
            delta[end + 1] -= size
        live = best = 0
        for i in range(n):
            live += delta[i]
            best = max(best, live)
        return best


def measure_infer_peak(model: nn.Module, x: torch.Tensor) -> LiveTensorTrace:
    """Trace one eval-mode, no-grad forward of ``model`` on ``x``; the model's mode is restored."""
    from torch.utils._python_dispatch import TorchDispatchMode

    trace = LiveTensorTrace(model)

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            trace.record(str(func), (args, kwargs), out)
            return out

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), Recorder():
            out = model(x)
        trace.returned(out)
    finally:
        model.train(was_training)
    return trace
