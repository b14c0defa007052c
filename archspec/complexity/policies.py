"""Other tools' MAC counts, reproduced from the Plan: what a paper's figure would have been.

Each tool walks the built module its own way (module hooks, a jit trace, parameter shapes)
and counts a different set of operations. Replaying the network's inference flow
(each unit's step graph: every layer, activation, pool, merge in forward order) and weighing each
step as the tool does gives the tool's total exactly, with no torch and no tool installed.
The rules below were read from each tool's source (the version named) and are proven
against the tools themselves in tests/test_policies.py. docs/report.md tabulates them.

One MAC (multiply-accumulate) counts 1 for every tool here; a tool that prints FLOPs = 2 x
MACs (none of these) would be this figure doubled.
"""

from __future__ import annotations

from typing import Any, Callable

from ..plan.ops import Conv, DeformConv, LayerScale, Linear, Norm
from ..plan.types import Plan
from .counting import loaded_step
from .memory import replay

Rule = Callable[[tuple[Any, ...]], int]


def _conv_macs(record: Conv) -> int:
    """A conv's MACs as torch sees it: a deformable conv's sampling is invisible, its offset conv is not."""
    return record.offset.macs if isinstance(record, DeformConv) else record.macs


def _bias(record: Any) -> int:
    """One add per output element of a biased conv or linear."""
    return record.out_elements if getattr(record, "bias", False) else 0


def _deform_bias(record: Any) -> int:
    return _bias(record.offset) if isinstance(record, DeformConv) else _bias(record)


def archspec(event: tuple[Any, ...]) -> int:
    """Conv and linear MACs, biases excluded; deformable sampling counted as the regular conv's; attention's
    two matmuls (q @ k^T, weights @ v)."""
    kind, *facts = event
    if kind in ("matmul", "sdpa"):
        return facts[0]
    return facts[0].macs if kind == "layer" and isinstance(facts[0], (Conv, Linear)) else 0


def torchvision(event: tuple[Any, ...]) -> int:
    """torchvision's "GFLOPS": FlopCounterMode / 2: conv and matmul MACs (``deform_conv2d`` unseen), attention's
    matmuls included (counted with the mha fast path off and SDPA's math kernel)."""
    kind, *facts = event
    if kind in ("matmul", "sdpa"):  # the fused call under the math kernel: its two matmuls
        return facts[0]
    if kind != "layer":
        return 0
    record = facts[0]
    if isinstance(record, Conv):
        return _conv_macs(record)
    return record.macs if isinstance(record, Linear) else 0


def _norm_module(record: Any) -> str | None:
    """Which torch class archspec builds for a norm record: module hooks look the exact type up
    (archspec's LayerNorm2d is a subclass of nn.LayerNorm, so a hook on nn.LayerNorm misses it)."""
    if not isinstance(record, Norm):
        return None
    if record.kind == "batch":
        return "BatchNorm2d"
    if record.kind == "layer":
        return "LayerNorm" if record.channels_last else "LayerNorm2d"
    raise ValueError(f"no counting rule for a {record.kind} norm ({record.path}): archspec builds none yet")


def fvcore(event: tuple[Any, ...]) -> int:
    """fvcore 0.1.5 FlopCountAnalysis (jit trace, default handles): conv/linear MACs without bias (a
    per-position linear: over every position); BN in eval 2 per element (affine); ``layer_norm`` 5 per
    element (affine); ``adaptive_avg_pool2d`` 1 per input element; ``matmul`` (attention's) its MACs;
    everything else (GELU, softmax, the layer scale's multiply) ignored."""
    kind, *facts = event
    if kind == "layer":
        record = facts[0]
        if isinstance(record, Norm):
            return (5 if record.kind == "layer" else 2) * record.out_elements
        return torchvision(event)
    if kind == "adaptive_pool":
        channels, (h, w), _ = facts
        return channels * h * w
    if kind == "matmul":  # its aten::matmul handle
        return facts[0]
    return 0


def _unhooked(event: tuple[Any, ...]) -> bool:
    """A layer called as a function on its module's tensors (Swin's ``F.linear`` qkv and proj, as torchvision's):
    tools that hook modules never see it."""
    return event[0] == "layer" and getattr(event[1], "functional", False)


def ptflops(event: tuple[Any, ...]) -> int:
    """ptflops 0.7.5, default pytorch backend: module hooks by exact type (conv and linear MACs plus one per
    bias output, per position for a per-position linear; BN 2 per element; nn.LayerNorm 1 per element, as
    its BN hook finds no ``affine``, and archspec's LayerNorm2d, a subclass, unhooked; ReLU, ReLU6 and GELU
    1 per element, every pool 1 per input element) plus patched functionals that the same modules call
    again (``F.relu``, ``F.gelu``, ``F.*pool2d``: counted twice; ReLU6 calls the unpatched ``F.hardtanh``)
    and ``F.silu`` (once, no module hook), and ``Tensor.mul`` called as a method (a zero step's ``x.mul(0.0)``:
    1 per element). Hardswish, Hardsigmoid and Tanh (no hook, unpatched), tensor operators (``+``, ``*``,
    sigmoid, ``mean``) and ``F.layer_norm`` are not seen."""
    if _unhooked(event):
        return 0
    kind, *facts = event
    if kind == "layer":
        record = facts[0]
        if isinstance(record, Norm):
            return {"BatchNorm2d": 2, "LayerNorm": 1, "LayerNorm2d": 0}[_norm_module(record)] * record.out_elements
        if isinstance(record, LayerScale):
            return 0
        return torchvision(event) + _deform_bias(record)
    if kind == "act":
        name, elements = facts
        return {"relu": 2 * elements, "gelu": 2 * elements, "relu6": elements, "silu": elements, "hardswish": 0,
                "hardsigmoid": 0, "tanh": 0, "leaky_relu": elements}[name]  # LeakyReLU: its module hook (F.leaky_relu unpatched)
    if kind == "pool":
        return 2 * facts[1]
    if kind == "adaptive_pool":
        channels, (h, w), _ = facts
        return 2 * channels * h * w
    if kind == "tensor_mul":
        return facts[0]
    return 0


def thop(event: tuple[Any, ...]) -> int:
    """thop 0.1.1 profile (module hooks by exact type): conv and linear MACs without bias; BN and nn.LayerNorm
    4 per element (2, doubled for affine), archspec's LayerNorm2d (a subclass) unhooked; ReLU and max-pool 0;
    AvgPool2d 1 per output element; AdaptiveAvgPool2d (kernel + 1) per output element, the kernel being
    in/out per side multiplied as floats; SiLU, GELU, tensor operators unseen."""
    if _unhooked(event):
        return 0
    kind, *facts = event
    if kind == "layer":
        record = facts[0]
        if isinstance(record, Norm):
            return 0 if _norm_module(record) == "LayerNorm2d" else 4 * record.out_elements
        return torchvision(event)
    if kind == "pool":
        pool, _, out = facts
        return out if pool == "avg" else 0
    if kind == "adaptive_pool":
        channels, (h, w), (oh, ow) = facts
        return int(((h / oh) * (w / ow) + 1) * (channels * oh * ow))
    return 0


def torchinfo(event: tuple[Any, ...]) -> int:
    """torchinfo 1.8 ``total_mult_adds``: from each called leaf module's parameters: a conv's weight and bias
    numel times its output positions (MACs plus one per bias output), any other layer's parameter numel
    (BN and LayerNorm: 2 per channel, linear: MACs plus bias at a pooled vector, its parameter count alone
    at every position); parameter-free layers 0, and a layer scale (a parameter of the block, no leaf) 0. A
    parameter whose name merely contains "bias" (a relative position bias table) counts its numel times the
    first two dims of the output, which for that module's batch-free ``(heads, T, T)`` are heads x T."""
    if _unhooked(event):
        return 0
    kind, *facts = event
    if kind != "layer":
        return 0
    record = facts[0]
    if isinstance(record, Conv):
        return torchvision(event) + _deform_bias(record)
    bias_table = loaded_step("partition_steps", "RelativePositionBias")
    if bias_table is not None and isinstance(record, bias_table):
        return record.heads * record.tokens * record.params
    return 0 if isinstance(record, LayerScale) else record.params


def flopcounter(event: tuple[Any, ...]) -> int:
    """``torch.utils.flop_counter.FlopCounterMode`` with PyTorch's defaults (eval, under no_grad, SDPA's
    default kernel), halved: torchvision's figure, except that a fused ``F.scaled_dot_product_attention``
    call (a ViT block's ``attention: sdpa``) counts 0, since the CPU kernel it then takes (flash) has no
    FLOP formula (pytorch#195460). On torchvision's own ViTs the defaults also take
    ``nn.MultiheadAttention``'s fused fast path, which hides the projections as well: 11.27 G of
    ViT-B/16's 17.56 G (docs/report.md)."""
    kind, *_ = event
    return 0 if kind == "sdpa" else torchvision(event)


POLICIES: dict[str, Rule] = {
    "archspec": archspec, "fvcore": fvcore, "ptflops": ptflops, "thop": thop, "torchinfo": torchinfo,
    "torchvision": torchvision, "flopcounter": flopcounter,
}


def describe(policy: str) -> str:
    """The rule in one paragraph (its docstring)."""
    return " ".join((POLICIES[policy].__doc__ or "").split())


def policy_macs(plan: Plan, policy: str) -> dict[str, int]:
    """Per unit (by name), the figure ``policy``'s tool would print for the built module at batch 1."""
    if policy not in POLICIES:
        raise ValueError(f"unknown counting policy {policy!r}; known: {', '.join(POLICIES)}")
    rule = POLICIES[policy]
    out = {u.name: 0 for u in plan.units}
    for unit, *event in replay(plan, training=False).events:
        out[unit] += rule(tuple(event))
    return out
