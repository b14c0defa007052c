"""``--verify``: build the module and check the analytic counts against PyTorch's own.

params per unit == ``sum(p.numel())`` of the unit's submodule (found by its name);
MACs per unit * 2 == what ``FlopCounterMode`` attributes to that submodule; and the
same for the whole network. The module is built on the ``meta`` device, so no weights
are allocated and no arithmetic runs: checking a 100M-parameter net takes seconds.
torch is imported here, inside the function, never by the report itself.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _unmeasured(unit: Unit) -> int:
    """MACs the Plan counts but FlopCounterMode cannot see (deformable sampling: docs/families.md)."""
    return sum(getattr(op, "unmeasured_macs", 0) for op in unit.ops)
