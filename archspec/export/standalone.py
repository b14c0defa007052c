"""Standalone PyTorch code for a compiled network: one file, no archspec import.

The code is derived, not written per family:

- every weighted layer (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.LayerNorm`` and archspec's
  ``LayerNorm2d``, ``nn.Linear``, ``DeformConv2d``) and every bare parameter (a layer scale)
  is written from the Plan's layer record at its module path, the record the builder
  made it from;
- every other module is written from the compiled module tree: one class per archspec
  module type used (``BottleneckUnit``, ``Projection``, ``SqueezeExcite``...), whose
  ``forward`` is the source of archspec's own ``forward``, and whose constructor takes the
  parts that differ between its instances (the others are built in its ``__init__``);
- the network class has ``stem``, ``stages`` (one ``nn.Sequential`` per stage, commented
  with its block type, channels and size) and ``head``, so its ``state_dict`` has the
  compiled network's keys, in the same order.

A new block kind needs nothing here as long as its ``forward`` uses only torch and
archspec's module-level helpers; anything else is refused by name (:class:`StandaloneError`).
"""

from __future__ import annotations

import dis
import inspect
import re
import textwrap
import types
from collections import OrderedDict
from typing import Any, Callable, Iterable, Mapping

from torch import nn

from .._version import __version__
from ..blocks.graph_unit import GraphUnit, Part
from ..blocks.layers import LayerNorm2d
from ..blocks.network import Network
from ..plan.ops import ClassToken, Conv, DeformConv, LayerScale, Linear, Norm, Op, PosEmbedding
from ..plan.types import Plan, Unit

INDENT = "    "
# Names a forward may use and the import that provides each in the generated file.
IMPORTS = {"torch": "import torch", "nn": "from torch import nn", "F": "import torch.nn.functional as F"}
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


# What a generated unit needs beside torch: how it places its steps' modules at their names (a
# ``Part`` groups ``se.fc1`` under ``se``).
PLACE = '''class Part(nn.Module):
    """A named group of a unit's steps (``se``, ``shortcut``): it holds their modules, the unit runs them."""

    def __getitem__(self, index):
        return self._modules[str(index)]


def place(root, path, module):
    """Register ``module`` at the dotted ``path`` under ``root``, making the groups on the way."""
    *parents, leaf = path.split(".")
    for part in parents:
        if part not in root._modules:
            root.add_module(part, Part())
        root = root._modules[part]
    if isinstance(module, nn.Parameter):
        root.register_parameter(leaf, module)
    else:
        root.add_module(leaf, module)
'''
GRAPH_HELPERS = ("channel_shuffle",)
GRAPH_HELPER_SOURCE = {"channel_shuffle": '''def channel_shuffle(x, groups):
    """Interleave the channels of ``groups`` groups: a view, a transpose, a contiguous copy, a view back."""
    return torch.flatten(torch.transpose(x.unflatten(1, (groups, -1)), 1, 2).contiguous(), 1, 2)
'''}


def replace_name(unit: Unit, name: str) -> Unit:
    return unit._with(name=name)


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


def _records(plan: Plan) -> dict[str, Op]:
    """Every weighted module path of the compiled network -> the layer record it is built from."""
    records: dict[str, Op] = {}
    for unit in plan.units:
        for op in unit.ops:
            path = f"{unit.name}.{op.path}"
            if isinstance(op, DeformConv):  # DeformableConv: ``offset`` (plain conv) and ``conv``
                records[f"{path}.offset"] = op.offset
                records[f"{path}.conv"] = op
            else:
                records[path] = op
    return records


def _conv_args(op: Conv) -> str:
    args = [str(op.cin), str(op.cout), str(op.kernel)]
    for key, value, default in (("stride", op.stride, 1), ("padding", op.pad, 0), ("dilation", op.dilation, 1),
                                ("groups", op.groups, 1)):
        if value != default:
            args.append(f"{key}={value}")
    return ", ".join(args + [f"bias={op.bias}"])


def record_code(op: Op) -> str:
    """The constructor call of the module built from one layer record (what ``blocks/layers.py`` builds)."""
    if isinstance(op, DeformConv):
        return f"DeformConv2d({_conv_args(op)})"
    if isinstance(op, Conv):
        return f"nn.Conv2d({_conv_args(op)})"
    if isinstance(op, Norm) and op.kind == "batch":
        args = [str(op.channels)] + [f"{key}={value!r}" for key, value, default in
                                      (("eps", op.eps, 1e-5), ("momentum", op.momentum, 0.1)) if value != default]
        return f"nn.BatchNorm2d({', '.join(args)})"
    if isinstance(op, Norm) and op.kind == "layer":
        return f"{'nn.LayerNorm' if op.channels_last else 'LayerNorm2d'}({op.channels}, eps={op.eps!r})"
    if isinstance(op, (LayerScale, ClassToken, PosEmbedding)):  # a bare parameter of the unit
        return f"nn.Parameter(torch.empty{op.tensors['']})"
    if isinstance(op, Linear):
        return f"nn.Linear({op.cin}, {op.cout}, bias={op.bias})"
    raise StandaloneError(f"no standalone code for layer record {type(op).__name__}; add it to record_code")


def _pool_code(m: nn.Module) -> str:
    name = type(m).__name__
    args = [repr(m.kernel_size), repr(m.stride), repr(m.padding)]
    if m.ceil_mode:
        args.append("ceil_mode=True")
    if isinstance(m, nn.AvgPool2d) and not m.count_include_pad:
        args.append("count_include_pad=False")
    return f"nn.{name}({', '.join(args)})"


# Parameter-free torch modules, written from their attributes.
LEAVES: dict[type, Callable[[Any], str]] = {
    nn.ReLU: lambda m: f"nn.ReLU(inplace={m.inplace})",
    nn.SiLU: lambda m: f"nn.SiLU(inplace={m.inplace})",
    nn.GELU: lambda m: f"nn.GELU(approximate={m.approximate!r})",
    nn.ReLU6: lambda m: f"nn.ReLU6(inplace={m.inplace})",
    nn.Hardswish: lambda m: f"nn.Hardswish(inplace={m.inplace})",
    nn.Hardsigmoid: lambda m: f"nn.Hardsigmoid(inplace={m.inplace})",
    nn.Sigmoid: lambda m: "nn.Sigmoid()",
    nn.MaxPool2d: _pool_code,
    nn.AvgPool2d: _pool_code,
    nn.AdaptiveAvgPool2d: lambda m: f"nn.AdaptiveAvgPool2d({m.output_size!r})",
    nn.Dropout: lambda m: f"nn.Dropout({m.p!r}, inplace=True)" if m.inplace else f"nn.Dropout({m.p!r})",
    nn.Identity: lambda m: "nn.Identity()",
}
WEIGHTED = (nn.Conv2d, nn.BatchNorm2d, nn.LayerNorm, nn.Linear)  # LayerNorm2d is an nn.LayerNorm


def _literal(value: Any) -> bool:
    """A value whose ``repr`` is the Python expression that rebuilds it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (list, tuple)) and all(_literal(v) for v in value)


def _is_ours(cls: type) -> bool:
    return cls.__module__.startswith("archspec.")


class _Writer:
    """Walks the compiled module tree once, collecting classes, helpers and imports as it goes."""

    def __init__(self, model: Network, plan: Plan):
        self.model, self.plan = model, plan
        self.records = _records(plan)
        self.classes: dict[type, list[dict[str, str]]] = OrderedDict()  # class -> attributes of each instance
        self.helpers: dict[str, str] = {"skip": _source_of_function(_skip())}
        self.imports: set[str] = {"import torch", "from torch import nn"}
        self._final = False  # True once every instance is collected: expressions become calls
        self._module_names: dict[type, list[list[str]]] = {}  # class -> child modules of each instance
        self._signatures: dict[type, tuple[list[str], dict[str, str], dict[str, str]]] = {}
        self.blocks = {type(model.get_submodule(u.name)): u.block for u in plan.units}
        self.units = {u.name: u for u in (*plan.units, *(replace_name(u, f"aux.{i}") for i, u in enumerate(plan.aux)))}
        self.graph_classes: dict[type, str] = OrderedDict()  # generated unit class -> its block kind
        self._collect(model)

    # --- pass 1: what each instance of each class holds ------------------------------------

    def _collect(self, root: nn.Module) -> None:
        inside: tuple[str, ...] = ()  # the paths of graph units: their parts are written by step
        for path, module in root.named_modules():
            if inside and path.startswith(inside) and (isinstance(module, Part) or not _is_ours(type(module))):
                continue  # a step's own archspec module (a deformable conv, stochastic depth) is a class
            if isinstance(module, GraphUnit):
                self.graph_classes.setdefault(type(module), self.units[path].block)
                inside += (f"{path}.",)
                continue
            if path == "" or not _is_ours(type(module)) or isinstance(module, (nn.Sequential, *WEIGHTED)):
                continue
            attrs: dict[str, str] = {}
            for name, child in module._modules.items():
                attrs[name] = self.expr(child, f"{path}.{name}")
            for name in module._parameters:
                attrs[name] = self.parameter(f"{path}.{name}")
            for name, value in vars(module).items():
                if name not in _MODULE_INTERNALS:
                    attrs[name] = self.value(value, f"{path}.{name}")
            self.classes.setdefault(type(module), []).append(attrs)
            self._module_names.setdefault(type(module), []).append(list(module._modules))

    # --- expressions -----------------------------------------------------------------------

    def value(self, value: Any, where: str) -> str:
        """A plain attribute: a literal, or the ``skip`` helper (an absent optional step)."""
        if value is _skip():
            return "skip"
        if _literal(value):  # None, a number, a string, or lists and tuples of them (nested: Inception-v3's branches)
            return repr(value)
        raise StandaloneError(f"{where}: cannot write a {type(value).__name__} attribute as standalone code")

    def parameter(self, path: str) -> str:
        """A bare parameter of an archspec module (a layer scale), from its layer record."""
        op = self.records.get(path)
        if op is None:
            raise StandaloneError(f"{path}: a parameter without a layer record in the Plan")
        return record_code(op)

    def expr(self, module: nn.Module, path: str) -> str:
        """The constructor expression of ``module`` (at ``path`` in the network), children included."""
        cls = type(module)
        if isinstance(module, WEIGHTED) or cls.__name__ == "DeformConv2d":
            op = self.records.get(path)
            if op is None:
                raise StandaloneError(f"{path}: a {cls.__name__} without a layer record in the Plan")
            if isinstance(op, DeformConv) and path.endswith(".conv"):
                self.imports.add("from torchvision.ops import DeformConv2d")
            if isinstance(module, LayerNorm2d) and "LayerNorm2d" not in self.helpers:
                self.helpers["LayerNorm2d"] = textwrap.dedent(inspect.getsource(LayerNorm2d))
                self.imports.add(IMPORTS["F"])
            return record_code(op)
        if isinstance(module, nn.Sequential):
            items = [(name, self.expr(child, f"{path}.{name}")) for name, child in module._modules.items()]
            if all(name == str(i) for i, (name, _) in enumerate(items)):
                return _call("nn.Sequential", [code for _, code in items])
            self.imports.add("from collections import OrderedDict")
            pairs = [f"({name!r}, {code})" for name, code in items]
            return _call("nn.Sequential", [_call("OrderedDict", [_call("", pairs, brackets="[]")])])
        if cls in LEAVES:
            return LEAVES[cls](module)
        if isinstance(module, GraphUnit):
            return self.graph_unit_call(cls, self.units[path])
        if _is_ours(cls):  # while collecting, a unique token; once the classes are known, the call
            return self.call(module, path) if self._final else f"@{cls.__name__}@{path}"
        raise StandaloneError(f"{path}: no standalone code for module type {cls.__module__}.{cls.__name__}")

    # --- graph units: written by step ---------------------------------------------------------

    def graph_unit_call(self, cls: type, unit: Unit) -> str:
        """``Class([(name, module), ...])``: each step that is a module, by its own standalone code."""
        self.helpers.setdefault("place", PLACE)
        items = []
        for node in unit.graph.nodes:
            code = self.step_code(node.step, f"{unit.name}.{node.name}")
            if code is not None:
                items.append(f"({node.name!r}, {code})")
        return _call(cls.__name__, [_call("", items, brackets="[]")])

    def step_code(self, step: Any, path: str) -> str | None:
        """A step's module as source: a layer record's constructor, or its ``module`` spec."""
        if isinstance(step, DeformConv):
            self.imports.add("from torchvision.ops import DeformConv2d")
            return self.expr(self.model.get_submodule(path), path)
        if isinstance(step, (Conv, Norm, Linear, LayerScale, ClassToken, PosEmbedding)):
            module = self.model.get_submodule(path) if isinstance(step, (Conv, Norm, Linear)) else None
            if isinstance(module, LayerNorm2d) and "LayerNorm2d" not in self.helpers:
                self.helpers["LayerNorm2d"] = textwrap.dedent(inspect.getsource(LayerNorm2d))
                self.imports.add(IMPORTS["F"])
            return record_code(step)
        spec = step.module
        if spec is None:
            return None
        name, kwargs = spec
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        if hasattr(nn, name):
            return f"nn.{name}({args})"
        return self.expr(self.model.get_submodule(path), path)  # archspec's own (stochastic depth)

    def graph_class_code(self, cls: type, block: str) -> str:
        source = cls.source
        for name in GRAPH_HELPERS:
            if re.search(rf"\b{name}\(", source):
                self.helpers.setdefault(name, GRAPH_HELPER_SOURCE[name])
        if "F." in source:
            self.imports.add(IMPORTS["F"])
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

    # --- pass 2: classes ---------------------------------------------------------------------

    def _signature(self, cls: type) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """Attribute order, the parameters (default ``skip`` where some instance omits the step) and fixed parts."""
        if cls not in self._signatures:
            self._signatures[cls] = self._make_signature(cls)
        return self._signatures[cls]

    def _make_signature(self, cls: type) -> tuple[list[str], dict[str, str], dict[str, str]]:
        instances = self.classes[cls]
        # Registration order decides the state_dict's: merge the child-module orders first,
        # then the attributes that are never modules (assigned in the same __init__).
        order = _merged_order(self._module_names[cls])
        for attrs in instances:
            order += [name for name in attrs if name not in order]
        for attrs in instances:
            if set(attrs) != set(order):
                missing = sorted(set(order) - set(attrs))
                raise StandaloneError(f"instances of {cls.__name__} differ in their attributes ({', '.join(missing)})")
        fixed: dict[str, str] = {}
        params: dict[str, str] = {}
        for name in order:
            values = {attrs[name] for attrs in instances}
            weighted = any(self._weighted(v) for v in values)
            if len(values) == 1 and not weighted:
                fixed[name] = values.pop()
            else:
                params[name] = "skip" if "skip" in values else ""
        return order, params, fixed

    def _weighted(self, code: str) -> bool:
        return "@" in code or any(w in code for w in ("nn.Conv2d", "nn.BatchNorm2d", "nn.Linear", "DeformConv2d",
                                                     "nn.LayerNorm", "LayerNorm2d", "nn.Parameter"))

    def class_code(self, cls: type) -> str:
        order, params, fixed = self._signature(cls)
        required = [p for p, default in params.items() if not default]
        optional = [f"{p}={default}" for p, default in params.items() if default]
        lines = [f"class {cls.__name__}(nn.Module):"]
        doc = _first_paragraph(cls.__dict__.get("__doc__"))
        block = self.blocks.get(cls)
        if block:
            doc = f"{doc} (archspec block type `{block}`)" if doc else f"archspec block type `{block}`."
        if doc:
            lines.append(f'{INDENT}"""{doc}"""')
            lines.append("")
        lines.append(f"{INDENT}def __init__({', '.join(['self', *required, *optional])}):")
        lines.append(f"{INDENT * 2}super().__init__()")
        for name in order:
            code = fixed[name] if name in fixed else name
            lines.append(f"{INDENT * 2}self.{name} = {_indent(code, 2)}")
        for method in self._methods(cls):
            lines.append("")
            lines.extend(_source_of_method(method).rstrip().splitlines())
        return "\n".join(lines)

    def _methods(self, cls: type) -> list[types.FunctionType]:
        """forward and the other methods it may call, from the nearest archspec class that defines each."""
        found: dict[str, types.FunctionType] = {}
        for base in reversed([b for b in cls.__mro__ if _is_ours(b)]):
            for name, fn in vars(base).items():
                if isinstance(fn, types.FunctionType) and name not in ("__init__", "he_init", "init_fills"):
                    found[name] = fn
        for fn in found.values():
            self._globals_of(fn, cls.__name__)
        return [found[n] for n in sorted(found, key=lambda n: (n != "forward", n))]

    def _globals_of(self, fn: types.FunctionType, owner: str) -> None:
        """Record the imports and archspec helpers that ``fn`` needs; refuse anything else."""
        for name in sorted(_global_names(fn.__code__)):
            if name not in fn.__globals__:
                continue  # a builtin
            value = fn.__globals__[name]
            if name in IMPORTS and isinstance(value, types.ModuleType):
                self.imports.add(IMPORTS[name])
            elif isinstance(value, types.FunctionType) and _is_ours(value):
                if name not in self.helpers:
                    self.helpers[name] = _source_of_function(value)
                    self._globals_of(value, owner)
            elif not (isinstance(value, type) and value in self.classes):
                raise StandaloneError(f"{owner}.{fn.__name__} uses {name} ({type(value).__name__}), "
                                      "which standalone code cannot provide; add it to IMPORTS")

    def call(self, module: nn.Module, path: str) -> str:
        """``Class(part=..., ...)``: the parts that are parameters of its class, unless at their default."""
        _, params, _ = self._signature(type(module))
        attrs = self._attrs_of(module, path)
        return _call(type(module).__name__, [f"{p}={attrs[p]}" for p, default in params.items() if attrs[p] != default])

    def _attrs_of(self, module: nn.Module, path: str) -> dict[str, str]:
        attrs = {name: self.expr(child, f"{path}.{name}") for name, child in module._modules.items()}
        attrs.update({name: self.parameter(f"{path}.{name}") for name in module._parameters})
        attrs.update({n: self.value(v, f"{path}.{n}") for n, v in vars(module).items() if n not in _MODULE_INTERNALS})
        return attrs

    # --- the file ----------------------------------------------------------------------------

    def render(self, metadata: Mapping[str, str]) -> str:
        plan, net = self.plan, class_name(self.plan.name)
        classes = [self.class_code(cls) for cls in self.classes]  # before the imports: methods add to them
        classes += [self.graph_class_code(cls, block) for cls, block in self.graph_classes.items()]
        self._final = True
        stages = []
        for s, stage in enumerate(plan.stages):
            blocks = sorted({u.block for u in stage.units})
            first, last = stage.units[0], stage.units[-1]
            comment = (f"# stage {s}: {len(stage.units)} units ({', '.join(blocks)}), "
                       f"{first.in_channels} -> {last.out_channels} channels, "
                       f"{first.in_size[0]}x{first.in_size[1]} -> {last.out_size[0]}x{last.out_size[1]}")
            units = [self.expr(self.model.stages[s][j], f"stages.{s}.{j}") for j in range(len(stage.units))]
            stages.append(comment + "\n" + _call("nn.Sequential", units, one_per_line=True))
        body = [
            f"class {net}(nn.Module):",
            f'{INDENT}"""{plan.name}: stem, {len(plan.stages)} stages, head."""',
            "",
            f"{INDENT}def __init__(self):",
            f"{INDENT * 2}super().__init__()",
            f"{INDENT * 2}self.stem = {_indent(self.expr(self.model.stem, 'stem'), 2)}",
            f"{INDENT * 2}self.stages = nn.Sequential(",
            *(textwrap.indent(stage, INDENT * 3) + "," for stage in stages),
            f"{INDENT * 2})",
            f"{INDENT * 2}self.head = {_indent(self.expr(self.model.head, 'head'), 2)}",
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


def _skip() -> types.FunctionType:
    from ..blocks.layers import skip

    return skip  # type: ignore[return-value]


def _global_names(code: types.CodeType) -> set[str]:
    """The globals a function loads (``co_names`` alone mixes them with attribute names)."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _source_of_function(fn: Callable) -> str:
    return textwrap.dedent(inspect.getsource(fn))


def _source_of_method(fn: Callable) -> str:
    """A method's source at class indentation (nested helpers such as properties keep theirs)."""
    return textwrap.indent(textwrap.dedent(inspect.getsource(fn)), INDENT)


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()).replace('"""', "'''")


def _merged_order(orders: Iterable[list[str]]) -> list[str]:
    """One order for every instance's attributes: each new name goes after its predecessor."""
    merged: list[str] = []
    for order in orders:
        for i, name in enumerate(order):
            if name in merged:
                continue
            before = next((order[k] for k in range(i - 1, -1, -1) if order[k] in merged), None)
            merged.insert(merged.index(before) + 1 if before else 0, name)
    return merged


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
