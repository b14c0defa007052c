"""A unit as a graph: named steps in execution order, each reading named earlier values.

The graph is the one description of a unit. The module (``blocks/graph_unit.py``) has one
submodule per step that has a torch module, at the step's name, so the state_dict keys
come from the graph; its forward is generated from the graph, line by line in this order;
the memory model replays the same order (``complexity/memory.py``); counting sums the
steps; diagrams and standalone code read the steps. The input is named ``x``.

Planners build graphs with :class:`GraphBuilder`, which checks every reference and
computes each step's per-sample shape as it goes (the shape-propagation pass of fx, done
once at planning).
"""

from __future__ import annotations

from typing import Any, Iterator

from .ops import Conv, LayerScale, Linear, Norm, Shape, Size

INPUT = "x"


class Node:
    """One step of a graph, the names of the values it reads, and the per-sample shape it makes."""

    __slots__ = ("step", "inputs", "shape")

    def __init__(self, step: Any, inputs: tuple[str, ...], shape: Shape):
        self.step = step
        self.inputs = inputs
        self.shape = shape

    @property
    def name(self) -> str:
        return self.step.path

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Node) and self.step == other.step and self.inputs == other.inputs
                and self.shape == other.shape)

    def __hash__(self) -> int:
        return hash((self.step, self.inputs))

    def __repr__(self) -> str:
        return f"{self.name} = {type(self.step).__name__}({', '.join(self.inputs)}) -> {self.shape}"


class Graph:
    """Nodes in execution order; ``output`` names the unit's result (the last node by default)."""

    __slots__ = ("nodes", "output", "input_shape")

    def __init__(self, nodes: tuple[Node, ...], output: str, input_shape: Shape):
        self.nodes = nodes
        self.output = output
        self.input_shape = input_shape

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Graph) and self.nodes == other.nodes and self.output == other.output
                and self.input_shape == other.input_shape)

    def __hash__(self) -> int:
        return hash((self.nodes, self.output))

    @property
    def weighted(self) -> tuple[Any, ...]:
        """The steps with tensors (the unit's ``ops``), in execution order."""
        return tuple(n.step for n in self.nodes if n.step.tensors)

    def shape_of(self, name: str) -> Shape:
        if name == INPUT:
            return self.input_shape
        for n in self.nodes:
            if n.name == name:
                return n.shape
        raise KeyError(name)

    def with_steps(self, steps: dict[str, Any]) -> "Graph":
        """This graph with some steps replaced by name (same shapes): the network's BN settings applied."""
        nodes = tuple(n if (step := steps.get(n.step.path, n.step)) is n.step else Node(step, n.inputs, n.shape)
                      for n in self.nodes)  # unchanged nodes shared
        return Graph(nodes, self.output, self.input_shape)

    def uses(self) -> dict[str, int]:
        """How many times each value is read (the output once more)."""
        count: dict[str, int] = {INPUT: 0}
        for n in self.nodes:
            count.setdefault(n.name, 0)
            for i in n.inputs:
                count[i] += 1
        count[self.output] += 1
        return count


class GraphError(ValueError):
    """A graph that cannot be built: an unknown input, a repeated name, or shapes that do not meet."""


class GraphBuilder:
    """Appends steps, checking names and shapes; ``build()`` returns the :class:`Graph`.

    ``add(step, *inputs)`` returns the step's name, so planners chain calls:
    ``out = g.add(Norm("bn1", ...), g.add(Conv("conv1", ...), "x"))``.
    """

    def __init__(self, channels: int, size: Size | None = None):
        self.input_shape: Shape = (channels, *size) if size is not None else (channels,)
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape] = {INPUT: self.input_shape}

    @classmethod
    def of_shape(cls, shape: Shape) -> "GraphBuilder":
        """A builder whose input has per-sample ``shape`` (tokens: ``(T, D)``)."""
        g = cls(shape[0])
        g.input_shape = g.shapes[INPUT] = tuple(shape)
        return g

    def add(self, step: Any, *inputs: str) -> str:
        name = step.path
        if name in self.shapes:
            raise GraphError(f"step name {name!r} is used twice")
        try:
            ins = [self.shapes[i] for i in inputs]
        except KeyError as exc:
            raise GraphError(f"step {name!r} reads {exc.args[0]!r}, which no earlier step makes; "
                             f"known: {', '.join(self.shapes)}") from None
        shape = step.out_shape(*ins)
        check_meets(step, ins)
        self.nodes.append(Node(step, tuple(inputs), shape))
        self.shapes[name] = shape
        return name

    def chain(self, x: str, *steps: Any) -> str:
        """Each step reads the one before it; returns the last name."""
        for step in steps:
            x = self.add(step, x)
        return x

    def shape(self, name: str) -> Shape:
        return self.shapes[name]

    def build(self, output: str | None = None) -> Graph:
        if not self.nodes:
            return Graph((), INPUT, self.input_shape)
        return Graph(tuple(self.nodes), output or self.nodes[-1].name, self.input_shape)


def check_meets(step: Any, ins: list[Shape]) -> None:
    """Inputs must agree where a step combines them, and a layer's input width must be its record's."""
    name = type(step).__name__
    if name in ("Add", "Mul") and len(ins) > 1:
        first = ins[0]
        for other in ins[1:]:
            if name == "Add" and other != first:
                raise GraphError(f"step {step.path!r} adds shapes {first} and {other}; an add needs equal shapes")
    elif name == "Concat" and len({s[1:] for s in ins}) > 1:
        raise GraphError(f"step {step.path!r} concatenates maps of sizes {[s[1:] for s in ins]}; they must agree")
    elif isinstance(step, Conv) and ins and ins[0][0] != step.cin:
        raise GraphError(f"step {step.path!r} expects {step.cin} channels, its input has {ins[0][0]}")
    elif isinstance(step, Norm) and ins and step.channels not in (ins[0][0], ins[0][-1]):
        raise GraphError(f"step {step.path!r} normalises {step.channels} channels, its input has {ins[0][0]}")
    elif isinstance(step, Linear) and ins and ins[0][-1] != step.cin:
        raise GraphError(f"step {step.path!r} expects {step.cin} features, its input has {ins[0][-1]}")
    elif isinstance(step, LayerScale) and ins and step.channels not in (ins[0][0], ins[0][-1]):
        raise GraphError(f"step {step.path!r} scales {step.channels} channels, its input has {ins[0][0]}")
