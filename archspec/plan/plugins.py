"""What a Python plugin uses: :func:`register_block` and :class:`ModuleStep` (docs/custom-blocks.md#python-plugins).

A plugin block is a spec model (Pydantic, ``type: Literal["name"]``) and a planner
``(block, UnitContext) -> Graph | Unit`` that wires steps of the vocabulary (plan/steps.py,
plan/ops.py) with a :class:`GraphBuilder`; everything else derives from the graph as for a
built-in block. Where the vocabulary lacks something, a plugin defines a :class:`ModuleStep`:
a step whose torch module is named by import path (so planning never imports torch or the
module) and whose parameters, MACs and saved-for-backward tensors are *declared*;
``report --verify`` builds the module and checks each declaration against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, ClassVar

from pydantic import ValidationError

from ..registry import Registry
from ..spec.plugins import MODELS, origin, register_model
from .context import UnitContext
from .errors import PlanError
from .graph import Graph
from .ops import Shape, module_ref
from .types import Unit, UnitOptions

PluginPlanner = Callable[[Any, UnitContext], "Graph | Unit"]
PLANNERS: Registry[PluginPlanner] = Registry("plugin planner")


def register_block(model: type, planner: PluginPlanner) -> str:
    """Register a plugin block type: its spec model and its planner (call it when the module is imported).
    Returns the type; a clash with a built-in, bundled or other plugin's type raises (the loader reports it)."""
    kind = register_model(model)
    PLANNERS.add(kind, planner)
    return kind


def plan_plugin_block(block: Any, ctx: UnitContext) -> Unit:
    """Plan a plugin's block: its planner gets the block as its own model validated it; a returned graph is
    made a unit (its input is the unit's input, its output the unit's)."""
    kind = block.type
    where = f"the planner of plugin block `{kind}` (module {origin(kind) or '?'}), in unit {ctx.name}"
    model = getattr(block, "plugin", None)
    if model is None:  # a spec validated without the loader (Spec.model_validate): its plugin's model checks it now
        try:
            model = MODELS[kind].model_validate({"type": kind, **getattr(block, "params", {})})
        except ValidationError as exc:
            raise PlanError(ctx.block_path, f"plugin block `{kind}`: {exc.errors(include_url=False)[0]['msg']} "
                                            f"at {exc.errors()[0]['loc']}") from None
    try:
        made = PLANNERS[kind](model, ctx)
    except PlanError:
        raise  # the plugin's own located refusal
    except Exception as exc:  # a graph that does not meet, or the plugin's own bug: one paragraph, located
        raise PlanError(ctx.block_path, f"{where}: {type(exc).__name__}: {exc}") from exc
    if isinstance(made, Unit):
        return made
    if not isinstance(made, Graph):
        raise PlanError(ctx.block_path, f"{where} returned {type(made).__name__}, not a Graph or a Unit")
    out = made.shape_of(made.output)
    if len(out) != 3:
        raise PlanError(ctx.block_path, f"{where} makes a {out} value; a body unit makes a (C, H, W) map")
    return Unit(name=ctx.name, stage=ctx.stage, index=ctx.index, block=kind, in_channels=ctx.in_channels,
                out_channels=out[0], in_size=ctx.in_size, out_size=out[1:], stride=ctx.stride,
                merge="add" if any(type(n.step).__name__ == "Add" for n in made.nodes) else "none",
                ops=made.weighted, width=ctx.width, options=UnitOptions(), graph=made)


@dataclass(frozen=True)
class Saves:
    """What a module step keeps for backward: some of its inputs (their storages: one an earlier step
    saved already costs nothing more), its output, and ``extra`` elements per sample of new tensors
    of the activation dtype that only it makes (a mask, a normalised copy)."""

    inputs: tuple[int, ...] = ()
    output: bool = False
    extra: int = 0


@dataclass(frozen=True)
class ModuleStep:
    """A plugin's own step: a torch module by import path, with its counts declared.

    A subclass (a frozen dataclass) sets ``module_class`` (``"package.module:Class"``) and declares:

    - ``module_kwargs()``: the module's constructor arguments (plain values);
    - ``out_shape(*inputs)``: the per-sample shape it makes (default: its first input's);
    - ``tensors``: its parameters, state_dict suffix -> shape (``params`` is their size);
    - ``macs``: multiply-accumulates per sample (what FlopCounterMode counts / 2);
    - ``saves(inputs, out)``: a :class:`Saves`, what autograd keeps for its backward.

    ``report --verify`` checks every declaration against the built module, step by step. The
    module initialises itself (its ``reset_parameters``, seeded per step by archspec); ONNX export
    of a network with such a step goes through torch.onnx unless the subclass adds ``onnx()``.
    """

    path: str
    module_class: ClassVar[str] = ""
    elementwise: ClassVar[dict[str, int]] = {}

    def module_kwargs(self) -> dict[str, Any]:
        return {}

    def out_shape(self, *shapes: Shape) -> Shape:
        return shapes[0]

    @property
    def tensors(self) -> dict[str, Shape]:
        return {}

    @property
    def params(self) -> int:
        return sum(prod(shape) for shape in self.tensors.values())

    @property
    def macs(self) -> int:
        return 0

    def saves(self, ins: list[Shape], out: Shape) -> Saves:
        return Saves()

    @property
    def module(self) -> tuple[str, dict[str, Any]]:
        if ":" not in self.module_class:
            raise TypeError(f"{type(self).__name__}.module_class must be 'package.module:Class', "
                            f"not {self.module_class!r}")
        return self.module_class, self.module_kwargs()

    def expr(self, args: list[str]) -> str:
        return f"{module_ref(self.path)}({', '.join(args)})"

    def counted(self, out: Shape) -> dict[str, int]:
        return {}

    def flow(self, flow: Any, xs: list[int], ins: list[Shape], out: Shape) -> int:
        """A new output tensor; the declared inputs, output and extra tensors saved."""
        declared = self.saves(ins, out)
        if declared.extra and flow.training:
            flow.save(flow.new(declared.extra))
        saved = tuple(xs[i] for i in declared.inputs) + ((-1,) if declared.output else ())
        return flow.op(tuple(xs), prod(out), saves=saved)

    @property
    def label(self) -> str:
        return self.module_class.rpartition(":")[2]
