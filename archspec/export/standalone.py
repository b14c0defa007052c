"""Standalone PyTorch code for a compiled network: one file, no archspec import.

The code is written by step, from the Plan's units and the classes the builder generated:

- each unit is an instance of its generated class (same name), whose ``forward`` is the
  source archspec compiled from the unit's step graph (``blocks/graph_unit.py``) and whose
  constructor places the unit's modules at their step names;
- each step that has a module is written as that module's constructor: a layer record's
  (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.Linear``...; a layer scale's bare ``nn.Parameter``),
  or a parameter-free step's ``module`` spec (``nn.ReLU(inplace=True)``);
- the few archspec classes that a step may become (``LayerNorm2d``, ``DropPath``,
  ``DeformableConv``), the unit's ``Part``/``place`` and the forwards' helpers
  (``channel_shuffle``) declare their standalone source as data beside their definition
  (``STANDALONE``, ``STANDALONE_IMPORTS``; ``graph_unit.STANDALONE_HELPERS``), copied once
  each where a step needs them;
- the network class has ``stem``, ``stages`` (one ``nn.Sequential`` per stage, commented
  with its block type, channels and size) and ``head``, so its ``state_dict`` has the
  compiled network's keys, in the same order.

A step module of archspec's own without a ``STANDALONE`` is refused by name (:class:`StandaloneError`).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, Mapping

from torch import nn

from .._version import __version__
from ..blocks.graph_unit import STANDALONE_HELPERS, GraphUnit, Part
from ..blocks.network import Network
from ..plan.ops import Conv, DeformConv, Linear, Norm, Op
from ..plan.plugins import ModuleStep
from ..plan.types import Plan, Unit
from ..plan.window_steps import BUFFER_SOURCE

INDENT = "    "
IMPORT_F = "import torch.nn.functional as F"  # the generated forwards' ``F.pad``


class StandaloneError(ValueError):
    """The network has a part that cannot be written as standalone code (named in the message)."""


def class_name(spec_name: str) -> str:
    """``resnet-50`` -> ``Resnet50``: the network class in the generated file."""
    words = re.split(r"[^0-9A-Za-z]+", spec_name)
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    return name if name and not name[0].isdigit() else f"Net{name}"


def standalone_code(model: Network, plan: Plan, metadata: Mapping[str, str] | None = None) -> str:
    """The Python source of a module equal to ``model`` (same classes of layers, same state_dict keys).

    ``metadata`` (the exports' provenance keys) adds the spec's sha256 and the input
    normalisation to the file's docstring.
    """
    return _Writer(model, plan).render(metadata or {})


def _conv_args(op: Conv) -> str:
    args = [str(op.cin), str(op.cout), str(op.kernel)]
    for key, value, default in (("stride", op.stride, 1), ("padding", op.pad, 0), ("dilation", op.dilation, 1),
                                ("groups", op.groups, 1)):
        if value != default:
            args.append(f"{key}={value}")
    return ", ".join(args + [f"bias={op.bias}"])


def record_code(op: Op) -> str:
    """The constructor call of the module built from one layer record (what ``blocks/layers.py`` builds)."""
    if "" in op.tensors:  # a bare parameter of the unit (a layer scale), no module
        return f"nn.Parameter(torch.empty{op.tensors['']})"
    if isinstance(op, DeformConv):  # blocks/deform.py's DeformableConv: the offset conv, then the deformable one
        return _call("DeformableConv", [record_code(op.offset), f"DeformConv2d({_conv_args(op)})",
                                         f"stride={op.stride}", f"padding={op.pad}", f"dilation={op.dilation}"])
    if isinstance(op, Conv):
        return f"nn.Conv2d({_conv_args(op)})"
    if isinstance(op, Norm) and op.kind == "batch":
        args = [str(op.channels)] + [f"{key}={value!r}" for key, value, default in
                                      (("eps", op.eps, 1e-5), ("momentum", op.momentum, 0.1)) if value != default]
        return f"nn.BatchNorm2d({', '.join(args)})"
    if isinstance(op, Norm) and op.kind == "layer":
        return f"{'nn.LayerNorm' if op.channels_last else 'LayerNorm2d'}({op.channels}, eps={op.eps!r})"
    if isinstance(op, Linear):
        return f"nn.Linear({op.cin}, {op.cout}, bias={op.bias})"
    raise StandaloneError(f"no standalone code for layer record {type(op).__name__}; add it to record_code")


class _Writer:
    """Writes each unit by step, collecting the classes, helpers and imports the steps need."""

    def __init__(self, model: Network, plan: Plan):
        self.model, self.plan = model, plan
        self.imports: set[str] = {"import torch", "from torch import nn"}
        self.helpers: dict[str, str] = {}  # name -> source, in the order first needed
        self.graph_classes: dict[type, str] = {}  # generated unit class -> its block kind
        self._need(Part)  # every unit places its steps' modules with ``place``

    def _need(self, cls: type) -> None:
        """Copy an archspec class's declared standalone source (once), with its imports."""
        source = cls.__dict__.get("STANDALONE")
        if source is None:
            raise StandaloneError(f"{cls.__module__}.{cls.__name__} declares no STANDALONE source, "
                                  "so standalone code cannot provide it")
        if cls.__name__ not in self.helpers:
            self.helpers[cls.__name__] = source
            self.imports.update(cls.__dict__.get("STANDALONE_IMPORTS", ()))

    # --- units and their steps ------------------------------------------------------------------

    def unit_call(self, unit: Unit, path: str) -> str:
        """``Class([(name, module), ...])``: the unit's generated class, each step that is a module by its own code."""
        module = self.model.get_submodule(path)
        if not isinstance(module, GraphUnit):
            raise StandaloneError(f"{path}: a {type(module).__name__}, not a unit generated from its step graph")
        self.graph_classes.setdefault(type(module), unit.block)
        items = []
        for node in unit.graph.nodes:
            code = self.step_code(node.step, f"{path}.{node.name}")
            if code is not None:
                items.append(f"({node.name!r}, {code})")
        return _call(type(module).__name__, [_call("", items, brackets="[]")])

    def step_code(self, step: Any, path: str) -> str | None:
        """A step's module as source: a layer record's constructor, or its ``module`` spec; None for a call."""
        if isinstance(step, ModuleStep):  # its module is the plugin's: code without archspec cannot hold it
            raise StandaloneError(f"{path}: a plugin's step ({type(step).__name__}, module {step.module_class}) has "
                                  "no standalone source, and standalone code imports nothing but torch; export "
                                  "the network as onnx or pt2 instead")
        if hasattr(step, "standalone"):  # a buffer of fixed values (Swin's), made by the source it declares
            self.helpers.setdefault("window buffers", BUFFER_SOURCE)
            self.imports.add("import math")
            return step.standalone()
        if step.tensors and getattr(step, "module", None) is None:  # a layer record (one with a module spec: below)
            code = record_code(step)
        elif step.module is None:
            return None
        else:
            name, kwargs = step.module
            args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            code = f"{'nn.' if hasattr(nn, name) else ''}{name}({args})"
        if "" not in step.tensors:  # a module, not a bare parameter of the unit
            cls = type(self.model.get_submodule(path))
            if not cls.__module__.startswith("torch."):  # archspec's own: LayerNorm2d, DropPath, DeformableConv
                self._need(cls)
        return code

    def graph_class_code(self, cls: type, block: str) -> str:
        source = cls.source
        for name, helper in STANDALONE_HELPERS.items():
            if re.search(rf"\b{name}\(", source):
                self.helpers.setdefault(name, helper)
        if "F." in source:
            self.imports.add(IMPORT_F)
        return "\n".join([
            f"class {cls.__name__}(nn.Module):",
            f'{INDENT}"""archspec block type `{block}`, its forward generated from its step graph."""',
            "",
            f"{INDENT}def __init__(self, steps):",
            f"{INDENT * 2}super().__init__()",
            f"{INDENT * 2}for path, module in steps:",
            f"{INDENT * 3}place(self, path, module)",
            "",
            textwrap.indent(source.rstrip(), INDENT),
        ])

    # --- the file ----------------------------------------------------------------------------

    def render(self, metadata: Mapping[str, str]) -> str:
        plan, net = self.plan, class_name(self.plan.name)
        stem = self.unit_call(plan.stem, "stem")
        stages = []
        for s, stage in enumerate(plan.stages):
            blocks = sorted({u.block for u in stage.units})
            first, last = stage.units[0], stage.units[-1]
            comment = (f"# stage {s}: {len(stage.units)} units ({', '.join(blocks)}), "
                       f"{first.in_channels} -> {last.out_channels} channels, "
                       f"{first.in_size[0]}x{first.in_size[1]} -> {last.out_size[0]}x{last.out_size[1]}")
            units = [self.unit_call(u, f"stages.{s}.{j}") for j, u in enumerate(stage.units)]
            stages.append(comment + "\n" + _call("nn.Sequential", units, one_per_line=True))
        head = self.unit_call(plan.head, "head")
        classes = [self.graph_class_code(cls, block) for cls, block in self.graph_classes.items()]
        body = [
            f"class {net}(nn.Module):",
            f'{INDENT}"""{plan.name}: stem, {len(plan.stages)} stages, head."""',
            "",
            f"{INDENT}def __init__(self):",
            f"{INDENT * 2}super().__init__()",
            f"{INDENT * 2}self.stem = {_indent(stem, 2)}",
            f"{INDENT * 2}self.stages = nn.Sequential(",
            *(textwrap.indent(stage, INDENT * 3) + "," for stage in stages),
            f"{INDENT * 2})",
            f"{INDENT * 2}self.head = {_indent(head, 2)}",
            "",
            f"{INDENT}def forward(self, x: torch.Tensor) -> torch.Tensor:",
            f"{INDENT * 2}return self.head(self.stages(self.stem(x)))",
        ]
        h, w = plan.input_size
        header = [
            f'"""{plan.name} as plain PyTorch, written by archspec {__version__} (no archspec needed to run it).',
            "",
            f"Input: N x {plan.in_channels} x {h} x {w} (NCHW, float); output: N x {plan.classes} logits.",
            f"{plan.params:,} parameters, {plan.macs:,} multiply-accumulates per image at {h}x{w}.",
            *_provenance_lines(metadata),
            "",
            "The state_dict keys are the compiled network's, so its weights load strictly:",
            "",
            f"    model = {net}()",
            f'    model.load_state_dict(safetensors.torch.load_file("{plan.name}.safetensors"))',
            '"""',
            "",
            "from __future__ import annotations",
            "",
            *sorted(self.imports, key=lambda line: (line.startswith("from"), line)),
        ]
        helpers = [code.rstrip() for code in self.helpers.values()]
        parts = ["\n".join(header), *helpers, *classes, "\n".join(body)]
        return "\n\n\n".join(parts) + f"\n\n\nMODEL = {net}\n"


def _provenance_lines(metadata: Mapping[str, str]) -> list[str]:
    lines = []
    if "archspec.input_mean" in metadata:
        lines.append(f"Normalise inputs first: (x - mean) / std, mean {metadata['archspec.input_mean']}, "
                     f"std {metadata['archspec.input_std']}.")
    if "archspec.spec_sha256" in metadata:
        lines.append(f"Spec sha256: {metadata['archspec.spec_sha256']}.")
    return lines


def _call(name: str, args: list[str], brackets: str = "()", one_per_line: bool = False) -> str:
    """``name(arg, ...)`` on one line when short and flat, else one argument per line."""
    open_, close = brackets
    flat = f"{name}{open_}{', '.join(args)}{close}"
    if len(flat) <= 100 and "\n" not in flat and not one_per_line:
        return flat
    inner = ",\n".join(textwrap.indent(a, INDENT) for a in args)
    return f"{name}{open_}\n{inner},\n{close}"


def _indent(code: str, level: int) -> str:
    """Continuation lines of a multi-line expression, indented to sit under ``self.x = ``."""
    first, *rest = code.split("\n")
    return "\n".join([first, *(INDENT * level + line for line in rest)])
