"""Map a checkpoint onto a Plan: every tensor of every layer, checked against the layer record.

The expected tensors and shapes come from the Plan's layer records (the same records
the compiler builds modules from), so the result loads into ``archspec.build(spec)``
with ``strict=True`` exactly when this succeeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Container, Iterable, Mapping

from ..plan.ops import BN_COUNTER, Op, Shape, tensor_name
from ..plan.types import Plan, Unit
from .errors import ConversionError
from .rules import LayerNames

if TYPE_CHECKING:
    import torch

NamesFor = Callable[[Unit], LayerNames]
# BN_COUNTER (num_batches_tracked): old checkpoints lack it; it never changes an eval-mode output


def tensors_of(op: Op) -> dict[str, Shape]:
    """The state_dict entries (suffix -> shape) of the module built from one layer record.

    Each record knows its own (``op.tensors``); a record without them cannot be converted.
    """
    if not hasattr(type(op), "tensors"):
        raise TypeError(f"no tensor layout for layer record {type(op).__name__}; give it a `tensors` property")
    return op.tensors


def map_weights(source: Mapping[str, "torch.Tensor"], plan: Plan, names_for: NamesFor,
                source_kind: str, ignore: Iterable[str] = (), squeeze: Container[str] = ()) -> dict[str, "torch.Tensor"]:
    """Rename ``source`` into the compiled network's state_dict, refusing the first misfit.

    ``names_for(unit)`` gives the checkpoint's module path for each of the unit's layers;
    checkpoint tensors under an ``ignore`` prefix are dropped, any other left over is an error.
    A layer named in ``squeeze`` (``UNIT.PATH``) takes tensors that differ from its own only by
    dimensions of size 1 (timm's 1x1-conv classifier for a linear layer), reshaped: no value moves.
    """
    import torch

    result: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for unit in plan.units:
        names = names_for(unit)
        for op in unit.ops:
            if op.path not in names:
                raise ConversionError(f"{source_kind} has no counterpart for layer {op.path} of unit {unit.name} "
                                      f"(block type {unit.block!r})")
            for suffix, shape in tensors_of(op).items():
                name = tensor_name(names[op.path], suffix)  # suffix "": a bare parameter (a layer scale)
                ours = tensor_name(f"{unit.name}.{op.path}", suffix)
                where = f"layer {op.path} of unit {unit.name} ({ours})"
                tensor = source.get(name)
                if tensor is None and suffix == BN_COUNTER:
                    tensor = torch.tensor(0, dtype=torch.long)
                elif tensor is None:
                    raise ConversionError(f"the {source_kind} checkpoint has no tensor {name!r} (shape {_fmt(shape)}) "
                                          f"for {where} of spec {plan.name}; it starts with: {_first(source)}")
                else:
                    integer = suffix == BN_COUNTER or getattr(op, "integer", False)  # a count, an index buffer
                    refuse_unusable(name, tensor, torch.long if integer else torch.float32, where)
                if (tuple(tensor.shape) != shape and f"{unit.name}.{op.path}" in squeeze
                        and _squeezed(tuple(tensor.shape)) == _squeezed(shape)):
                    tensor = tensor.reshape(shape)
                if tuple(tensor.shape) != shape:
                    raise ConversionError(f"tensor {name!r} has shape {_fmt(tuple(tensor.shape))} in the checkpoint, but "
                                          f"spec {plan.name} expects {_fmt(shape)} for {where}")
                result[ours] = tensor
                used.add(name)
    prefixes = tuple(ignore)
    left = [n for n in source if n not in used and not n.startswith(prefixes)]
    if left:
        raise ConversionError(f"tensor {left[0]!r} (shape {_fmt(tuple(getattr(source[left[0]], 'shape', ())))}) of the {source_kind} "
                              f"checkpoint has no place in spec {plan.name} ({len(left)} such tensors): "
                              "the checkpoint is for a deeper or different network")
    return result


def refuse_unusable(name: str, tensor: object, dtype: "torch.dtype", where: str) -> None:
    """Only dense tensors with values, of the dtype the layer holds, load without surprise:
    ``load_state_dict`` crashes on meta and sparse tensors and silently drops the imaginary
    part of complex ones (or rounds float64 and integers into float32)."""
    import torch

    def refuse(why: str) -> ConversionError:
        return ConversionError(f"tensor {name!r} (for {where}) {why}")

    if not isinstance(tensor, torch.Tensor):
        raise refuse(f"is a {type(tensor).__name__}, not a tensor")
    if tensor.is_meta:
        raise refuse("is a meta tensor: it has a shape but no values; save the checkpoint from a model on a real "
                     "device (cpu or cuda)")
    if tensor.layout != torch.strided or tensor.is_quantized:
        kind = "quantized" if tensor.is_quantized else str(tensor.layout).removeprefix("torch.")
        raise refuse(f"is a {kind} tensor; only dense tensors load (save tensor.to_dense() or a float model's "
                     "state_dict instead)")
    if tensor.dtype != dtype:
        hint = ".float()" if dtype == torch.float32 else ".long()"
        raise refuse(f"has dtype {str(tensor.dtype).removeprefix('torch.')}, but the layer holds "
                     f"{str(dtype).removeprefix('torch.')}; convert the checkpoint ({hint} on each tensor) "
                     "if that is what you mean")


def _squeezed(shape: Shape) -> Shape:
    return tuple(n for n in shape if n != 1)


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _first(source: Mapping[str, object], n: int = 3) -> str:
    names = list(source)
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "") if names else "(nothing)"
