"""``--verify``: build the module and check the analytic counts against PyTorch's own.

params per unit == ``sum(p.numel())`` of the unit's submodule (found by its name);
MACs per unit * 2 == what ``FlopCounterMode`` attributes to that submodule; and the
same for the whole network. The module is built on the ``meta`` device, so no weights
are allocated and no arithmetic runs: checking a 100M-parameter net takes seconds.
torch is imported here, inside the function, never by the report itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan.steps import Attention
from ..plan.types import Plan, Unit


@dataclass(frozen=True)
class Measured:
    """What PyTorch measured for one unit (or, named ``total``, the network)."""

    name: str
    params: int
    macs: int  # FlopCounterMode's FLOPs / 2


@dataclass(frozen=True)
class Mismatch:
    unit: str
    quantity: str  # "params", "MACs" or "saved bytes"
    analytic: int
    measured: int

    def __str__(self) -> str:
        return (f"{self.unit}: analytic {self.quantity} {self.analytic:,} != measured {self.measured:,} "
                f"(diff {self.measured - self.analytic:+,})")


def measure(plan: Plan) -> list[Measured]:
    """Build the plan's module on ``meta`` and measure every unit, then the total."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from ..blocks.network import Network

    with torch.device("meta"):
        model = Network(plan).eval()
        x = torch.empty(1, plan.in_channels, *plan.input_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):  # fused attention's matmuls, as torchvision counts
        model(x)
    flops = counter.get_flop_counts()
    root = type(model).__name__

    def unit_flops(name: str) -> int:
        return sum(flops.get(f"{root}.{name}", {}).values())

    rows = [
        Measured(u.name, sum(p.numel() for p in model.get_submodule(u.name).parameters()), unit_flops(u.name) // 2)
        for u in plan.units
    ]
    total = Measured("total", sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2)
    return rows + [total]


def verify(plan: Plan) -> list[Mismatch]:
    """Every disagreement between the Plan and the built module, in network order."""
    analytic = {u.name: (u.params, u.macs - _unmeasured(u)) for u in plan.units}
    analytic["total"] = (plan.params, plan.macs - sum(_unmeasured(u) for u in plan.units))
    found = []
    for m in measure(plan):
        params, macs = analytic[m.name]
        if params != m.params:
            found.append(Mismatch(m.name, "params", params, m.params))
        if macs != m.macs:
            found.append(Mismatch(m.name, "MACs", macs, m.macs))
    return found


TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def measure_memory(plan: Plan, batch: int = 1, dtype: str = "fp32") -> dict[str, int]:
    """Saved-for-backward bytes per unit of a training-mode forward of a CPU-layout build.

    In fp32 the build is on ``meta``: meta tensors save what CPU ones save (the same
    composite kernels decide) without allocating, so full-size ImageNet nets take a
    fraction of a second. In bf16/fp16 meta's BN keeps fp32 statistics where the CPU
    kernel keeps them in the activation dtype, and fused attention picks its kernel by device
    (meta runs the math kernel, the CPU its flash kernel), so those are measured on real CPU tensors.
    """
    import torch

    from ..blocks.network import Network
    from .measure import measure_saved

    torch_dtype = getattr(torch, TORCH_DTYPES[dtype])
    fused = any(isinstance(n.step, Attention) for u in plan.units if u.graph is not None for n in u.graph.nodes)
    with torch.device("meta" if dtype == "fp32" and not fused else "cpu"):
        model = Network(plan).to(torch_dtype)
        x = torch.empty(batch, plan.in_channels, *plan.input_size, dtype=torch_dtype)
    return measure_saved(model, [u.name for u in plan.units], x).by_unit()


def verify_memory(plan: Plan, batch: int = 1, dtype: str = "fp32") -> list[Mismatch]:
    """Every unit (then the total) whose analytic train_saved_bytes differs from the measured bytes."""
    from .memory import memory

    analytic = memory(plan, batch, dtype, "cpu")
    measured = measure_memory(plan, batch, dtype)
    found = [Mismatch(name, "saved bytes", analytic.units[name].train_saved_bytes, got)
             for name, got in measured.items() if analytic.units[name].train_saved_bytes != got]
    total = sum(measured.values())
    if total != analytic.train_saved_bytes:
        found.append(Mismatch("total", "saved bytes", analytic.train_saved_bytes, total))
    return found


def verify_peak(plan: Plan, dtype: str = "fp32") -> list[Mismatch]:
    """The inference peak against one traced CPU forward at batch 1 (every inference tensor is per
    sample, so the figure is linear in the batch)."""
    import torch

    from .measure import measure_infer_peak, zeros_module
    from .memory import memory

    torch_dtype = getattr(torch, TORCH_DTYPES[dtype])
    model = zeros_module(plan, torch_dtype)
    x = torch.zeros(1, plan.in_channels, *plan.input_size, dtype=torch_dtype)
    measured = measure_infer_peak(model, x).peak()
    analytic = memory(plan, 1, dtype, "cpu").infer_peak_bytes
    return [] if measured == analytic else [Mismatch("total", "inference peak bytes (batch 1)", analytic, measured)]


@dataclass(frozen=True)
class StepMismatch(Mismatch):
    """A plugin step's declaration (plan/plugins.ModuleStep) that its built module contradicts."""

    declared_by: str = ""

    def __str__(self) -> str:
        return (f"{self.unit}: declared {self.quantity} {self.analytic:,} != measured {self.measured:,} "
                f"(diff {self.measured - self.analytic:+,}); fix the declaration in {self.declared_by}")


def verify_steps(plan: Plan, dtype: str = "fp32") -> list[StepMismatch]:
    """Every plugin step's declared params, MACs and saved bytes against the module it builds, step by
    step: params by ``numel`` (and each declared tensor's shape), MACs by FlopCounterMode / 2, saved
    bytes by autograd's saved tensors (batch 1, the distinct storages saved while the module runs, each
    counted by the saved tensor's own size: an input an earlier step saved too counts here all the same)."""
    from math import prod

    steps = module_steps(plan)
    if not steps:
        return []
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..blocks.network import Network
    from .measure import storage_key

    torch_dtype = getattr(torch, TORCH_DTYPES[dtype])
    with torch.device("meta"):
        model = Network(plan).to(torch_dtype)
        x = torch.empty(1, plan.in_channels, *plan.input_size, dtype=torch_dtype)
    state = {storage_key(t) for t in [*model.parameters(), *model.buffers()]}
    saved: dict[str, dict[int, int]] = {path: {} for path, _ in steps}
    running: list[str] = []
    handles = []
    for path, _ in steps:
        module = model.get_submodule(path)
        handles.append(module.register_forward_pre_hook(lambda m, a, path=path: running.append(path)))
        handles.append(module.register_forward_hook(lambda m, a, o: running.pop() and None))  # None: output kept

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = storage_key(t)
        if running and key not in state:
            seen = saved[running[-1]]
            seen[key] = max(seen.get(key, 0), t.numel() * t.element_size())
        return t

    try:
        model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    flops = counter.get_flop_counts()
    root = type(model).__name__
    width = torch.empty((), dtype=torch_dtype).element_size()
    found = []
    for path, node in steps:
        step, module = node.step, model.get_submodule(path)
        where = f"{path} ({type(step).__name__})"
        by = f"{type(step).__module__}.{type(step).__qualname__}"
        tensors = {name: tuple(p.shape) for name, p in module.named_parameters()}
        if tensors != dict(step.tensors):
            declared = ", ".join(f"{k} {tuple(v)}" for k, v in step.tensors.items()) or "none"
            made = ", ".join(f"{k} {v}" for k, v in tensors.items()) or "none"
            found.append(StepMismatch(f"{where}: declared tensors {declared}, the module has {made}", "params",
                                      step.params, sum(p.numel() for p in module.parameters()), by))
        elif step.params != sum(p.numel() for p in module.parameters()):
            found.append(StepMismatch(where, "params", step.params, sum(p.numel() for p in module.parameters()), by))
        macs = sum(flops.get(f"{root}.{path}", {}).values()) // 2
        if step.macs != macs:
            found.append(StepMismatch(where, "MACs", step.macs, macs, by))
        ins = [node_shape(plan, path, i) for i in node.inputs]
        declared = step.saves(ins, node.shape)
        elements = sum(prod(ins[i]) for i in declared.inputs) + (prod(node.shape) if declared.output else 0) \
            + declared.extra
        measured = sum(saved[path].values())
        if elements * width != measured:
            found.append(StepMismatch(where, f"saved bytes (batch 1, {dtype})", elements * width, measured, by))
    return found


def module_steps(plan: Plan) -> list[tuple[str, Any]]:
    """The plugin steps of a plan (plan/plugins.ModuleStep), by module path, with their graph nodes."""
    from ..plan.plugins import ModuleStep

    return [(f"{u.name}.{n.name}", n) for u in plan.units if u.graph is not None for n in u.graph.nodes
            if isinstance(n.step, ModuleStep)]


def node_shape(plan: Plan, step_path: str, value: str) -> tuple[int, ...]:
    """The per-sample shape of value ``value`` in the unit that holds step ``step_path``."""
    unit = max((u for u in plan.units if step_path.startswith(f"{u.name}.")), key=lambda u: len(u.name))
    return unit.graph.shape_of(value)


def _unmeasured(unit: Unit) -> int:
    """MACs the Plan counts but FlopCounterMode cannot see (deformable sampling: docs/families.md)."""
    return sum(getattr(op, "unmeasured_macs", 0) for op in unit.ops)
