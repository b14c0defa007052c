"""The tensor flow of the multi-branch, mobile and ConvNeXt block kinds (and ConvNeXt's stem
and head), for the memory model: Inception, Inception-v3, MBConv, Fused-MBConv, MobileNetV3's
bneck and head, ShuffleNetV2, SqueezeNet's fire, ConvNeXt. Same contract as ``dataflow.py``:
one program per kind, in the order of its module's ``forward``, proven against autograd.
"""

from __future__ import annotations

from ..plan.types import Unit
from .dataflow import conv_norm_act, squeeze_excite
from .memory import Flow, register_flow


@register_flow("mbconv")
def mbconv(flow: Flow, unit: Unit, x: int) -> int:
    act = unit.options.act
    out = conv_norm_act(flow, unit, "expand", act, x) if unit.has("expand.conv") else x
    out = conv_norm_act(flow, unit, "dw", act, out)
    out = squeeze_excite(flow, unit, act, out) if unit.has("se.fc1") else out
    out = conv_norm_act(flow, unit, "project", "none", out)
    if unit.merge != "add":
        return out
    return flow.merge("add", (flow.drop_path(unit.options.drop_path, out), x), unit.out_activations)


@register_flow("fused_mbconv")
def fused_mbconv(flow: Flow, unit: Unit, x: int) -> int:
    """blocks.fused_mbconv: fused kxk conv-BN-act, project conv-BN where present, drop path, add."""
    out = conv_norm_act(flow, unit, "fused", unit.options.act, x)
    out = conv_norm_act(flow, unit, "project", "none", out) if unit.has("project.conv") else out
    if unit.merge != "add":
        return out
    return flow.merge("add", (flow.drop_path(unit.options.drop_path, out), x), unit.out_activations)


@register_flow("bneck")
def bneck(flow: Flow, unit: Unit, x: int) -> int:
    """MobileNetV3 (blocks.mobilenet.BneckUnit): SE with an out-of-place ReLU and gate."""
    act = unit.options.act
    out = conv_norm_act(flow, unit, "expand", act, x) if unit.has("expand.conv") else x
    out = conv_norm_act(flow, unit, "dw", act, out)
    if unit.options.se_channels:
        fc1 = unit.op("se.fc1")
        scale = flow.layer(fc1, flow.mean(out, fc1.cin))
        scale = flow.layer(unit.op("se.fc2"), flow.act("relu", scale, inplace=False))
        gate = unit.options.se_gate
        scale = flow.sigmoid(scale) if gate == "sigmoid" else flow.act(gate, scale, inplace=False)
        out = flow.mul(out, scale)
    out = conv_norm_act(flow, unit, "project", "none", out)
    return flow.merge("add", (out, x), unit.out_activations) if unit.merge == "add" else out


@register_flow("conv_mlp")
def conv_mlp(flow: Flow, unit: Unit, x: int) -> int:
    """MobileNetV3's head: conv-BN-act, pool, FC, act, in-place dropout, FC."""
    act, fc1 = unit.options.act, unit.op("fc1")
    x = flow.act(act, flow.chain(unit, ["conv", "bn"], x))
    x = flow.adaptive_pool(x, fc1.cin, unit.in_size, (1, 1))
    x = flow.dropout(unit.options.dropout, flow.act(act, flow.layer(fc1, x)), inplace=True)
    return flow.layer(unit.op("fc2"), x)
