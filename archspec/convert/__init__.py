"""Weights from elsewhere into a compiled spec: torchvision, timm and xautodl checkpoints, and archspec's own.

``from_torchvision(state_dict, spec)`` renames a torchvision model's state_dict into
the network ``archspec.build(spec)`` compiles, deriving every name and shape from the
Plan; the result loads with ``strict=True``. Anything that does not fit raises
:class:`ConversionError` naming the first tensor, its shapes and the layer it was
meant for. New torchvision families register one rule per block type: see
``archspec/convert/rules.py`` and docs/weights.md. timm's and xautodl's names need no Python:
the spec declares them (its ``checkpoint:`` rules; ``from_timm``, convert/declared.py).
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Union

from ..plan.memory_budget import CHECKPOINT_SLACK
from ..plan.resolve import SpecLike, resolve
from ..plan.types import Plan
from ..registry import discover
from .declared import DECLARED_FORMATS, DeclaredNames
from .engine import map_weights, tensors_of
from .errors import ConversionError
from .rules import Family, family_of, names_of, register_rule, registered, require

if TYPE_CHECKING:
    import torch

discover(__name__)  # each family's module registers its naming rules

StateDict = Mapping[str, "torch.Tensor"]

__all__ = ["ConversionError", "Family", "FORMATS", "convert", "from_archspec", "from_declared", "from_timm",
           "from_torchvision", "from_xautodl",
           "read_weights", "register_rule", "registered", "require", "tensors_of"]


def _as_plan(spec: Union[Plan, SpecLike]) -> Plan:
    """The Plan conversion works on; a spec (path, name, dict) is resolved as ``archspec.plan`` does."""
    return spec if isinstance(spec, Plan) else resolve(spec)


def from_torchvision(state_dict: StateDict, spec: Union[Plan, SpecLike]) -> dict[str, "torch.Tensor"]:
    """A torchvision model's state_dict renamed for ``archspec.build(spec)``."""
    plan = _as_plan(spec)
    family = family_of(plan)
    names = names_of(plan, family)  # the family's rule for every unit, as family_of applied them
    renamed = {family.rename(name): tensor for name, tensor in state_dict.items()}
    return map_weights(renamed, plan, lambda unit: names[unit.name], f"torchvision {family.name}", family.ignore)


def from_archspec(state_dict: StateDict, spec: Union[Plan, SpecLike]) -> dict[str, "torch.Tensor"]:
    """An archspec state_dict checked against the spec, with the same messages as a conversion."""
    plan = _as_plan(spec)
    own_names = lambda unit: {op.path: f"{unit.name}.{op.path}" for op in unit.ops}  # noqa: E731
    return map_weights(state_dict, plan, own_names, "archspec")


def from_declared(state_dict: StateDict, spec: Union[Plan, SpecLike], fmt: str) -> dict[str, "torch.Tensor"]:
    """A state_dict named as the spec's ``checkpoint:`` rules say (convert/declared.py), checked and renamed."""
    plan = _as_plan(spec)
    names = DeclaredNames(plan, fmt)
    return map_weights(state_dict, plan, names.for_unit, fmt, names.ignore, names.squeeze)


def from_timm(state_dict: StateDict, spec: Union[Plan, SpecLike]) -> dict[str, "torch.Tensor"]:
    """A timm model's state_dict renamed for ``archspec.build(spec)`` by the spec's ``checkpoint:`` rules."""
    return from_declared(state_dict, spec, "timm")


def from_xautodl(state_dict: StateDict, spec: Union[Plan, SpecLike]) -> dict[str, "torch.Tensor"]:
    """An xautodl network's state_dict (NAS-Bench-201's ``infer.tiny``) renamed by the spec's ``checkpoint:`` rules."""
    return from_declared(state_dict, spec, "xautodl")


CONVERTERS = {"torchvision": from_torchvision, "archspec": from_archspec, "timm": from_timm, "xautodl": from_xautodl}
assert set(DECLARED_FORMATS) <= set(CONVERTERS), "a format spec/checkpoint.py declares has no converter"
FORMATS = tuple(CONVERTERS)


def convert(state_dict: StateDict, spec: Union[Plan, SpecLike], fmt: str) -> dict[str, "torch.Tensor"]:
    """Dispatch on the weights format (who named the tensors)."""
    if fmt not in CONVERTERS:
        raise ConversionError(f"unknown weights format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return CONVERTERS[fmt](state_dict, spec)


def read_weights(path: str | Path, spec: Union[Plan, SpecLike], fmt: str = "torchvision") -> dict[str, "torch.Tensor"]:
    """Load a state_dict file safely (``weights_only``: no code runs) and convert it for ``spec``."""
    import torch

    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read the weights: {exc.strerror or exc}") from None
    if not regular:  # a FIFO nobody writes to would block torch.load forever; a device never ends
        raise ConversionError(f"{path}: is not a regular file; give a file torch.save wrote")
    _within_plan(path, _as_plan(spec))
    if is_safetensors(path):
        loaded = _load_safetensors(path)
    else:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any unreadable user file: the message, not a traceback
            raise ConversionError(f"{path}: not a file torch.save wrote, or not plain tensors "
                                  f"(torch.load with weights_only=True said {_said(exc)})") from None
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        keys = f" with keys {', '.join(map(str, list(loaded)[:5]))}" if isinstance(loaded, Mapping) else ""
        raise ConversionError(f"{path}: holds a {type(loaded).__name__}{keys}, not a state_dict (names to tensors); "
                              "save one with torch.save(model.state_dict(), FILE)")
    try:
        return convert(loaded, spec, fmt)
    except ConversionError as exc:
        raise ConversionError(f"{path}: {exc}{_format_hint(path, fmt)}") from None


MAX_ARCHIVE_ENTRIES = 1_000_000  # a state_dict of the largest bundled network has ~1,500 tensors


def _within_plan(path: str | Path, plan: Plan) -> None:
    """Refuse, before loading a tensor, a checkpoint whose declared tensor data exceeds what the
    Plan's network can hold (:func:`archspec.plan.memory_budget.checkpoint_limit`). A torch.save
    archive declares every record's uncompressed size in its zip directory, and torch allocates
    by it; any other file (safetensors, a legacy pickle) is read at its size on disk."""
    from ..plan.memory_budget import checkpoint_limit, size

    limit = checkpoint_limit(plan)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                entries = archive.infolist()
                if len(entries) > MAX_ARCHIVE_ENTRIES:
                    raise ConversionError(f"{path}: the archive has {len(entries):,} records; a state_dict of "
                                          f"{plan.name} has far fewer: refusing to load it")
                declared, how = sum(e.file_size for e in entries), "declares"
        else:
            declared, how = os.stat(path).st_size, "holds"
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ConversionError(f"{path}: cannot read the weights: {getattr(exc, 'strerror', None) or exc}") from None
    if declared > limit:
        raise ConversionError(
            f"{path}: the checkpoint {how} {size(declared)} of data, more than a state_dict of {plan.name} can "
            f"hold ({size(limit)}: its parameters and BN buffers at up to 8 bytes each, and "
            f"{size(CHECKPOINT_SLACK)} for the rest); refusing to load it. Is it the checkpoint of another network?")


SAFETENSORS_SUFFIX = ".safetensors"


def is_safetensors(path: str | Path) -> bool:
    """By name, or by content: an 8-byte little-endian header length, then the JSON header."""
    if str(path).endswith(SAFETENSORS_SUFFIX):
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


def _load_safetensors(path: str | Path) -> dict[str, "torch.Tensor"]:
    """Tensors only (no code can run); either naming format, as the converter then decides."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise ConversionError(f"{path}: not a readable safetensors file (safetensors said {_said(exc)})") from None


def _format_hint(path: str | Path, fmt: str) -> str:
    """archspec's own safetensors say so in their metadata: point at --weights-format archspec."""
    if fmt == "archspec" or not is_safetensors(path):
        return ""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            ours = "archspec.spec_sha256" in (handle.metadata() or {})
    except Exception:
        return ""
    return " (this file was written by archspec build -e safetensors: use --weights-format archspec)" if ours else ""


def _said(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}" if str(exc).strip() else type(exc).__name__
