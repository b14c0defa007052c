"""What each kind of layer record saves for backward, for the memory model (``memory.py``).

One rule per record class of ``plan/ops.py``, dispatched on the class: ``Conv`` and ``Linear``
save their input (a per-position Linear a flattened view of it); a batch ``Norm`` saves its
input and its batch mean and inverse std (one value per channel); a layer ``Norm``
(``native_layer_norm``) its input (a permuted view, for ConvNeXt's) and its mean and inverse
std, one value per position of each sample (both also exist, briefly, in inference); a
``LayerScale`` its input (the parameter is state); a ``DeformConv`` its input, its offsets and
torchvision's zero mask (and zero bias when it has none). A record class without a rule is an
error, never a silent zero.
"""

from __future__ import annotations

from functools import singledispatch
from typing import TYPE_CHECKING, Any

from ..plan.ops import Conv, DeformConv, LayerScale, Linear, Norm

if TYPE_CHECKING:
    from .memory import Flow


@singledispatch
def record_saves(record: Any, flow: Flow, x: int) -> int:
    raise TypeError(f"no memory rule for layer record {type(record).__name__}")


@record_saves.register(Conv)
def _conv(record: Conv, flow: Flow, x: int) -> int:
    return flow.op((x,), record.out_elements, saves=(x,))


@record_saves.register(DeformConv)
def _deform(record: DeformConv, flow: Flow, x: int) -> int:
    """torchvision's deform_conv2d saves input, offsets, a zero mask (batch x 1) and a zero bias if none."""
    offset = _conv(record.offset, flow, x)
    out = flow.op((x, offset), record.out_elements, saves=(x, offset))
    if flow.training:
        flow.save(flow.new(1))
        if not record.bias:
            flow.save(flow.new(record.cout, per_sample=False))
    return out


@record_saves.register(Norm)
def _norm(record: Norm, flow: Flow, x: int) -> int:
    if record.kind == "layer":
        return _layer_norm(record, flow, x)
    if record.kind != "batch":
        raise TypeError(f"no memory rule for a {record.kind} norm ({record.path})")
    out = flow.op((x,), record.out_elements, saves=(x,))
    if flow.training:
        flow.save(flow.new(record.channels, "stat", per_sample=False), flow.new(record.channels, "stat", False))
    return out


def _layer_norm(record: Norm, flow: Flow, x: int) -> int:
    """``native_layer_norm``: the output, and a mean and an inverse std per position of each sample
    (made by the same op: in inference they die with it); training saves the input and both."""
    positions = record.size[0] * record.size[1]
    mean, rstd = flow.new(positions, "stat"), flow.new(positions, "stat")
    out = flow.new(record.out_elements)
    flow.step((x, mean, rstd), out)
    flow.save(x, mean, rstd)
    return out


@record_saves.register(Linear)
def _linear(record: Linear, flow: Flow, x: int) -> int:
    return flow.op((x,), record.out_elements, saves=(x,))


@record_saves.register(LayerScale)
def _layer_scale(record: LayerScale, flow: Flow, x: int) -> int:
    """``parameter * x``: saves x for the parameter's gradient (the parameter itself is state)."""
    return flow.op((x,), record.out_elements, saves=(x,))
