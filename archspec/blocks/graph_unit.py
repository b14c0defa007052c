"""The one unit module: submodules from a Plan unit's graph, and a forward generated from it.

Every step with a torch module gets one at the step's name (``se.fc1`` is ``self.se.fc1``,
inside a plain container ``se``), so the state_dict keys are the graph's. The forward is
Python source written from the graph, one line per value, folding a value into the next
line where that line is its only reader, so it reads like torchvision's hand-written ones::

    def forward(self, x):
        relu1 = self.relu1(self.bn1(self.conv1(x)))
        bn2 = self.bn2(self.conv2(relu1))
        add = bn2 + x
        return self.relu2(add)

The source is compiled once per distinct graph text into a class of its own (as
``torch.fx.GraphModule`` does with ``python_code``), and registered with ``linecache``,
so tracebacks, ``inspect`` and the standalone export see it. There is no interpreter loop:
eager mode runs plain Python, and torch.fx and torch.export trace it like any module.
"""

from __future__ import annotations

import hashlib
import keyword
import linecache
import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..plan.graph import INPUT, Graph
from ..plan.ops import ClassToken, Conv, LayerScale, Linear, Norm, PosEmbedding
from ..plan.types import Unit
from . import layers

_RESERVED = {"self", "torch", "F", "nn", "channel_shuffle", INPUT}
_CLASSES: dict[tuple[str, str], type] = {}  # (kind, source) -> its compiled class


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: a view, a transpose, a contiguous copy, a view back."""
    return torch.flatten(torch.transpose(x.unflatten(1, (groups, -1)), 1, 2).contiguous(), 1, 2)


_NAMESPACE = {"torch": torch, "F": F, "channel_shuffle": channel_shuffle}
# The helpers of the generated forwards in standalone code (export/standalone.py), by the name they are called by.
STANDALONE_HELPERS = {"channel_shuffle": '''def channel_shuffle(x, groups):
    """Interleave the channels of ``groups`` groups: a view, a transpose, a contiguous copy, a view back."""
    return torch.flatten(torch.transpose(x.unflatten(1, (groups, -1)), 1, 2).contiguous(), 1, 2)
'''}


class GraphUnit(nn.Module):
    """A unit built from its graph; each distinct graph is a subclass with its generated ``forward``."""

    source: str = ""  # the generated forward, as compiled
    graph: Graph  # the graph it was generated from (the class's: every instance has the same steps)

    def tapped(self, x: torch.Tensor, names: tuple[str, ...]) -> list[torch.Tensor]:
        """The values of the steps ``names`` and the unit's output, from one run of generated code."""
        cls = type(self)
        fn = cls._taps.get(names)
        if fn is None:
            unknown = [n for n in names if n not in {node.name for node in cls.graph.nodes}]
            if unknown:
                raise KeyError(f"{cls.__name__} has no step {unknown[0]!r}")
            fn = cls._taps[names] = _compile(forward_source(cls.graph, names), f"<archspec {cls.__name__} taps>")
        return fn(self, x)


class Part(nn.Module):
    """A named group of a unit's steps (``se``, ``shortcut``): it holds their modules, the unit runs them."""

    def __getitem__(self, index: int) -> nn.Module:
        return self._modules[str(index)]

    # In standalone code (export/standalone.py) a unit places its steps' modules itself, making the Parts.
    STANDALONE_IMPORTS = ()
    STANDALONE = '''class Part(nn.Module):
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
    elif isinstance(module, nn.Buffer):
        root.register_buffer(leaf, module, persistent=module.persistent)
    else:
        root.add_module(leaf, module)
'''


def variable(name: str) -> str:
    """A Python name for a value: dots become underscores; reserved or non-identifier names get a prefix."""
    if name == INPUT:
        return INPUT
    var = re.sub(r"\W", "_", name)
    if not var.isidentifier() or keyword.iskeyword(var) or var in _RESERVED:
        var = f"v_{var}"
    return var


_OPERATORS = (" + ", " * ", " @ ")


def forward_source(graph: Graph, taps: tuple[str, ...] = ()) -> str:
    """The forward's source: one assignment per value; a value read once, by the very next step, is
    written inside that step's expression instead (never an operator expression, so no parentheses).

    With ``taps`` (value names), a function ``taps(self, x)`` returning those values and the output, in
    a list: a backbone's maps taken inside a unit (a stem's activation before its pool)."""
    nodes, uses = graph.nodes, dict(graph.uses())
    for tap in taps:
        uses[tap] = uses.get(tap, 0) + 1  # kept in a variable of its own
    lines = [f"def {'taps' if taps else 'forward'}(self, x):"]
    pending: dict[str, str] = {}
    for i, node in enumerate(nodes):
        args = [pending.pop(a) if a in pending else variable(a) for a in node.inputs]
        expr = node.step.expr(args)
        last = i + 1 == len(nodes)
        folds = (not last and uses[node.name] == 1 and node.name in nodes[i + 1].inputs
                 and not any(op in expr for op in _OPERATORS) and expr.count("(") < 3 and len(expr) <= 72)
        if last and node.name == graph.output and not taps:
            lines.append(f"    return {expr}")
            return "\n".join(lines) + "\n"
        if folds and getattr(nodes[i + 1].step, "folds_input", True):  # not into a step naming its input twice
            pending[node.name] = expr
        else:
            lines.append(f"    {variable(node.name)} = {expr}")
    values = [*taps, graph.output] if taps else [graph.output]
    result = f"[{', '.join(map(variable, values))}]" if taps else variable(graph.output)
    lines.append(f"    return {result}")
    return "\n".join(lines) + "\n"


def unit_class(kind: str, graph: Graph) -> type:
    """The GraphUnit subclass whose forward is ``graph``'s, compiled once per distinct source."""
    source = forward_source(graph)
    key = (kind, source)
    cls = _CLASSES.get(key)
    if cls is None:
        digest = hashlib.sha256(source.encode()).hexdigest()[:8]
        name = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", kind) if w) + f"Unit_{digest[:6]}"
        forward = _compile(source, f"<archspec {name} {digest}>")
        forward.__qualname__ = f"{name}.forward"
        cls = type(name, (GraphUnit,), {"forward": forward, "source": source, "__module__": __name__, "graph": graph,
                                         "_taps": {},
                                         "__doc__": f"A {kind} unit, its forward generated from its graph."})
        _CLASSES[key] = cls
    return cls


def _compile(source: str, filename: str) -> Any:
    """The one function defined by ``source``, registered with linecache for tracebacks and inspect."""
    namespace = dict(_NAMESPACE)
    exec(compile(source, filename, "exec"), namespace)  # our own generated code, from typed steps
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    return next(v for k, v in namespace.items() if k not in _NAMESPACE and k != "__builtins__")


def step_module(step: Any) -> nn.Module | nn.Parameter | None:
    """The torch module a step becomes (a layer record's layer, a bare parameter), or None for a call."""
    if isinstance(step, (Conv, Norm, Linear)):
        return layers.layer(step)
    if isinstance(step, (LayerScale, ClassToken, PosEmbedding)) or getattr(step, "bare_parameter", False):
        return nn.Parameter(torch.empty(step.tensors[""]))  # a bare parameter of the unit
    if hasattr(step, "buffer"):  # a buffer of fixed values (Swin's relative position index, its shift mask)
        values, dtype, persistent = step.buffer()
        return nn.Buffer(torch.tensor(values, dtype=getattr(torch, dtype)).view(step.shape), persistent=persistent)
    spec = step.module
    if spec is None:
        return None
    name, kwargs = spec
    if ":" in name:  # a plugin's module by import path (plan/plugins.ModuleStep): it initialises itself
        module = plugin_class(name)(**kwargs)
        module.archspec_plugin = True  # blocks/init.py resets it, seeded
        return module
    cls = getattr(nn, name, None) or getattr(layers, name)
    return layers.fresh(cls, **kwargs) if hasattr(cls, "reset_parameters") else cls(**kwargs)


def plugin_class(ref: str) -> type:
    """The class ``package.module:Class`` names (a plugin step's module), imported when first built."""
    import importlib

    module_name, _, attr = ref.partition(":")
    cls = importlib.import_module(module_name)
    for part in attr.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"{ref} is not a torch.nn.Module class")
    return cls


def build_graph_unit(unit: Unit) -> nn.Module:
    """The unit's module: its graph's steps as submodules at their names, its generated forward."""
    cls = unit_class(unit.block, unit.graph)
    module = cls()
    for node in unit.graph.nodes:
        made = step_module(node.step)
        if made is None:
            continue
        parent, _, leaf = node.name.rpartition(".")
        owner = _container(module, parent, unit.graph) if parent else module
        if isinstance(made, nn.Buffer):
            owner.register_buffer(leaf, made, persistent=made.persistent)
            owner.fixed_buffers = (*getattr(owner, "fixed_buffers", ()), leaf)  # blocks/init.py leaves them
        elif isinstance(made, nn.Parameter):
            owner.register_parameter(leaf, made)
            if isinstance(node.step, LayerScale):
                owner.layer_scale_init = node.step.init  # blocks/init.py fills it with its start value
            else:  # (rule, value) per parameter name, for blocks/init.py
                owner.bare_inits = {**getattr(owner, "bare_inits", {}), leaf: node.step.init}
        else:
            owner.add_module(leaf, made)
    return module


def _container(root: nn.Module, path: str, graph: Graph) -> nn.Module:
    """The :class:`Part` at ``path`` under ``root``, made where missing (``se`` for ``se.fc1``); one
    class per set of step names it holds, so that every instance of a class holds the same names."""
    module, prefix = root, ""
    for part in path.split("."):
        prefix = f"{prefix}{part}."
        child = module._modules.get(part)
        if child is None:
            child = _part_class(tuple(n.name[len(prefix):] for n in graph.nodes if n.name.startswith(prefix)))()
            module.add_module(part, child)
        module = child
    return module


_PARTS: dict[tuple[str, ...], type] = {}


def _part_class(names: tuple[str, ...]) -> type:
    cls = _PARTS.get(names)
    if cls is None:
        digest = hashlib.sha256("/".join(names).encode()).hexdigest()[:6]
        cls = _PARTS[names] = type(f"Part_{digest}", (Part,), {"__module__": __name__, "__doc__": Part.__doc__})
    return cls
