"""The one planner of every user block: a block file evaluated in a unit's context, built as a step graph.

The definition (spec/user_blocks.py) was checked when the spec loaded: its expressions
parse and read only names they can see. Here they are evaluated with the unit's context
(``in_channels``, ``width``, ``stride``, ``index``, ``first``, ``stage``, ``drop_path``), its
parameters and its ``let`` values; each step becomes a typed step of plan/steps.py or a
layer record of plan/ops.py, appended to a :class:`GraphBuilder`, which checks every input
name and shape. Whatever goes wrong is a :class:`BlockError` located in the block file
(file, line, column), since that is where the mistake is. Nothing is executed.

Semantics a block file relies on:
- a step reads the previous step's output unless it names its inputs (``in``);
- a step left out by ``when`` stands for its first input (``sum.{i}`` is ``split.{i}`` there);
- ``name.*`` reads every value ``name.0``, ``name.1``... made so far, in order;
- ``shortcut`` is the spec's shortcut policy applied to ``x``, added where it is first read;
- a step ``{name: N, block: {type: T, ...}}`` is block T planned into the same graph (a sub-block):
  its steps are named ``N.<step>``, its ``x`` and declared ``inputs`` are the values of ``in``, and
  its output is the value ``N``. It sees the unit's context but for ``in_channels`` (its input's)
  and what the use sets of ``width``, ``stride`` and ``drop_path``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from typing import Any

from ..spec.errors import FieldPath, Problem
from ..spec.expressions import ExprError, evaluate, names
from ..spec.user_blocks import (CONTEXT, MAX_REPEAT, MAX_STEPS, PLACEHOLDER, SUB_CONTEXT, ActStep, BlockUse,
                                ChunkStep, ConvStep, Definition, DropStep, GroupStep, LinearStep, MergeStep, NormStep,
                                PoolStep,
                                Repeat, ShapeStep, ShuffleStep, SliceStep, SoftmaxStep, ChosenActStep, ACTIVATIONS,
                                UserBlock, find_definition, fits, param_values, unknown_type)
from . import subgraphs as sg
from .context import UnitContext
from .errors import PlanError
from .graph import INPUT, GraphBuilder, GraphError
from .group_steps import GroupSoftmax, GroupSum
from .ops import Conv, Linear, Norm
from .shortcuts import plan_shortcut
from .steps import (Act, AdaptiveAvgPool, Add, Chunk, Concat, DropPath, Dropout, Flatten, Mean, Mul, Pool, RadixSoftmax,
                    Shuffle, Slice, Zero)
from .types import Unit, UnitOptions

STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


class BlockError(PlanError):
    """A planning error located in a block file rather than in the spec."""

    def __init__(self, problem: Problem):
        super().__init__((), problem.message)
        self.problem = problem


def plan_user_block(block: UserBlock, ctx: UnitContext, extra: dict[str, Any] | None = None,
                    vector: bool = False) -> Unit:
    """The unit ``block`` makes in ``ctx``; ``extra``: more context (a head's ``classes``); ``vector``: its
    output is a vector (a head's), not a (C, H, W) map. Planned once per distinct (definition, parameters,
    context): the units of a stage after its first, and a design space's variants, mostly repeat one
    (see :data:`_PLANNED`)."""
    definition = find_definition(block)
    if definition is None:
        raise PlanError(ctx.block_path + ("type",), unknown_type(block.type, ()))
    values = param_values(block, definition)
    try:
        base = (id(definition), block.type, tuple(values.items()), ctx.in_channels, ctx.in_size, ctx.stride,
                ctx.width, ctx.shortcut, ctx.drop_path, tuple(sorted((extra or {}).items())), vector)
        known = _PLANNED.get(_key(base, definition, ctx))
    except TypeError:  # a parameter value that does not hash: planned every time
        return _Planner(definition, block.type, values, ctx, extra=extra, vector=vector).unit()
    if known is not None and known[0] is definition:
        return known[1].at(ctx.name, ctx.stage, ctx.index)
    unit = _Planner(definition, block.type, values, ctx, extra=extra, vector=vector).unit()  # a BlockError is raised each time, naming its unit
    if len(_PLANNED) >= _MAX_PLANNED:
        _PLANNED.clear()
    _PLANNED[_key(base, definition, ctx)] = (definition, unit)  # planning may have parsed a position's name
    return unit


def _key(base: tuple, definition: Definition, ctx: UnitContext) -> tuple:
    return base + ((ctx.stage, ctx.index) if _reads_position(definition) else ())


# Planned units by definition, parameters and context (not the unit's name: planning reads it only
# for errors; its stage and index too unless the definition reads a position). A block file's
# expressions are interpreted step by step, about a millisecond a unit, and a frozen unit can be
# shared. The definition is held beside its unit, so its ``id`` in the key is not reused.
_PLANNED: dict[tuple, tuple[Definition, Unit]] = {}
_MAX_PLANNED = 4096
_POSITION = frozenset({"index", "first", "stage"})
_READS_POSITION: dict[int, tuple[Definition, int, bool]] = {}


def _reads_position(d: Definition) -> bool:
    """Whether any expression of the definition or of a block it uses reads the unit's place. Expressions
    are parsed when the definition is checked or first evaluated, so the answer is kept only while no
    new one has been parsed since (a position can matter only through an expression naming it)."""
    parsed = _parsed(d)
    known = _READS_POSITION.get(id(d))
    if known is None or known[0] is not d or known[1] != parsed:
        known = _READS_POSITION[id(d)] = (d, parsed, _names_position(d))
    return known[2]


def _parsed(d: Definition) -> int:
    return len(d.trees) + sum(_parsed(u) for u in d.uses.values())


def _names_position(d: Definition) -> bool:
    return (any(name in _POSITION for tree in list(d.trees.values()) for name, _ in names(tree))
            or any(_names_position(u) for u in d.uses.values()))


def reads_position(block: UserBlock) -> bool:
    """Whether a user block's units depend on their place in the network (an unknown block: assume so)."""
    d = find_definition(block)
    return True if d is None else _reads_position(d)


class _Planner:
    """One block's walk. A sub-block's planner shares its parent's graph, module paths and step count
    (``root``), and names its steps under ``prefix``."""

    def __init__(self, d: Definition, kind: str, params: dict[str, Any], ctx: UnitContext,
                 parent: "_Planner | None" = None, ins: tuple[str, ...] = (INPUT,), context: dict[str, Any] | None = None,
                 prefix: str = "", extra: dict[str, Any] | None = None, vector: bool = False):
        self.d, self.kind, self.ctx, self.prefix, self.vector = d, kind, ctx, prefix, vector
        self.root: _Planner = parent.root if parent is not None else self
        self.g = parent.g if parent is not None else GraphBuilder(ctx.in_channels, ctx.in_size)
        if parent is None:
            self.env: dict[str, Any] = {"in_channels": ctx.in_channels, "stride": ctx.stride, "index": ctx.index,
                                        "first": ctx.index == 0, "stage": ctx.stage, "drop_path": ctx.drop_path,
                                        **(extra or {})}
            if ctx.width is not None:  # without a widening rule there is none, and reading it is an error
                self.env["width"] = ctx.width
            self.modules: set[str] = set()
            self.containers: set[str] = set()  # every proper prefix of a module's path (``convs`` of ``convs.0``)
            self.visits = 0  # steps walked, left-out ones included: nested repeats cannot spin unbounded
            self.where = f"in unit {ctx.name}"
        else:  # the context its parent sees, its own in_channels, what the use sets
            self.env = {k: v for k, v in parent.env.items() if k in CONTEXT}
            self.env.update(context or {}, in_channels=self.g.shape(ins[0])[0])
            self.where = f"in block `{kind}` as `{prefix[:-1]}` {parent.where}"
        self.env.update(params)
        self.values: dict[str, str] = {INPUT: ins[0]}  # a name the block file uses -> the graph value it stands for
        self.bind(ins[1:], parent is None)
        self.last = ins[0]
        self.shortcut_kind = "none"

    # -- errors and expressions

    def fail(self, path: FieldPath, message: str) -> BlockError:
        where = "" if not self._loop else " (" + ", ".join(f"{k} = {v}" for k, v in self._loop) + ")"
        return BlockError(self.d.problem(path, f"{message}{where}; {self.where}"))

    def bind(self, given: tuple[str, ...], top: bool) -> None:
        """The declared ``inputs`` to the values a use gives after ``x`` (a unit's block is given none)."""
        declared = self.d.model.inputs
        fixed = [name for name in declared if not name.endswith(".*")]
        rest = next((name[:-2] for name in declared if name.endswith(".*")), None)
        if top and fixed:
            raise self.fail(("inputs",), f"block `{self.kind}` reads inputs besides `x` ({', '.join(fixed)}): "
                                         "it is a sub-block, for another block to use with `in: [x, ...]`")
        self.values.update(zip(fixed, given))
        for k, value in enumerate(given[len(fixed):]):
            self.values[f"{rest}.{k}"] = value

    _loop: tuple[tuple[str, int], ...] = ()

    def value(self, path: FieldPath, given: Any, env: dict[str, Any]) -> Any:
        if not isinstance(given, str):
            return given
        try:
            return evaluate(self.d.tree(given), env)
        except ExprError as exc:
            why = exc.message
            if why == "unknown name `width`":
                why += ": the spec gives this unit no width; add `body.widening` or the stage's `width`"
            elif why == "unknown name `classes`":
                why += ": only a head block (`head: {type: block}`) knows the classes"
            raise self.fail(path, f"`{given[:60]}`: {why}") from None

    def whole(self, path: FieldPath, given: Any, env: dict[str, Any], least: int = 1) -> int:
        """An expression that must give a whole number of at least ``least`` (a width, kernel, stride...)."""
        v = self.value(path, given, env)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(path, f"`{given}` gives {v!r}, not a whole number; round it with floor(), ceil(), "
                                  "round() or // (`/` always makes a fraction)")
        if v < least:
            raise self.fail(path, f"`{given}` gives {v}; it must be at least {least}")
        return v

    def name(self, path: FieldPath, text: str, env: dict[str, Any]) -> str:
        if "{" not in text:
            return text

        def sub(match: re.Match) -> str:
            v = self.value(path, match.group(1), env)
            if isinstance(v, bool) or not isinstance(v, int):
                raise self.fail(path, f"`{{{match.group(1)}}}` in `{text}` gives {v!r}, not a whole number")
            return str(v)

        return PLACEHOLDER.sub(sub, text)

    # -- the walk

    def run(self) -> str:
        """Walk the block; the graph value it outputs."""
        m = self.d.model
        for name, given in m.let.items():
            self.env[name] = self.value(("let", name), given, self.env)
        self.walk(m.steps, ("steps",), self.env)
        return self.last if m.output is None else self.resolve(("output",), m.output, self.env)

    def unit(self) -> Unit:
        m = self.d.model
        output = self.run()
        graph = self.g.build(output)
        shape = graph.shape_of(output)
        if len(shape) != (1 if self.vector else 3):
            want = "a head block outputs a vector of `classes` values" if self.vector else \
                "a body unit outputs a (C, H, W) map"
            raise self.fail(("output",) if m.output else ("steps",), f"the block's output has shape {shape}; {want}")
        return Unit(name=self.ctx.name, stage=self.ctx.stage, index=self.ctx.index, block=self.kind,
                    in_channels=self.ctx.in_channels, out_channels=shape[0], in_size=self.ctx.in_size,
                    out_size=(1, 1) if self.vector else shape[1:], stride=self.ctx.stride, shortcut=self.shortcut_kind,
                    merge="add" if self.shortcut_kind != "none" else "none", ops=graph.weighted,
                    width=self.ctx.width, options=UnitOptions(), graph=graph)

    def walk(self, steps: list[Any], path: FieldPath, env: dict[str, Any]) -> None:
        for k, step in enumerate(steps):
            here = path + (k,)
            if isinstance(step, Repeat):
                count = self.whole(here + ("count",), step.count, env, least=0)
                if count > MAX_REPEAT:
                    raise self.fail(here + ("count",), f"{count} repetitions exceed the limit of {MAX_REPEAT}")
                outer = self._loop
                for i in range(count):
                    self._loop = outer + ((step.repeat, i),)
                    self.walk(step.steps, here + ("steps",), {**env, step.repeat: i})
                self._loop = outer
                continue
            self.step(step, here, env)

    def step(self, step: Any, path: FieldPath, env: dict[str, Any]) -> None:
        self.root.visits += 1
        if self.root.visits > MAX_STEPS:
            raise self.fail(path, f"the block walks more than {MAX_STEPS} steps per unit, the limit of one "
                                  "unit's graph (left-out steps count)")
        name = self.name(path + ("name",), step.name, env)
        if not STEP_NAME.match(name):
            raise self.fail(path + ("name",), f"`{name}` is not a step name: dotted parts of letters, digits and _, "
                                              "starting with a letter (it becomes a module path)")
        if name in self.values or name in ("x", "shortcut"):
            raise self.fail(path + ("name",), f"the name `{name}` is used twice; every value needs its own name")
        inputs = self.inputs(step, path, env)
        if step.when is not None and not self.value(path + ("when",), step.when, env):
            self.values[name] = inputs[0]  # left out: its name stands for its first input
            self.last = inputs[0]
            return
        if isinstance(step, BlockUse):
            self.values[name] = self.last = self.use(step, name, path, env, tuple(inputs))
            return
        full = self.prefix + name  # its module path and graph value
        made = self.make(step, full, path, env, [self.g.shape(i) for i in inputs])
        if made is None:  # identity, or a drop path at rate 0
            self.values[name] = self.last = inputs[0]
            return
        if getattr(made, "module", None) is not None or made.tensors:
            self.check_module_path(full, path)
        try:
            self.g.add(made, *inputs)
        except GraphError as exc:
            raise self.fail(path + ("in",), str(exc)) from None
        self.values[name] = self.last = full

    def use(self, step: BlockUse, name: str, path: FieldPath, env: dict[str, Any], ins: tuple[str, ...]) -> str:
        """A sub-block: its parameters evaluated here and checked against its definition, then planned
        into this graph under ``<prefix><name>.``; the value it outputs."""
        sub = self.d.uses.get(step.type)
        if sub is None:  # resolve_uses attached every use's definition when the spec loaded
            raise self.fail(path + ("block", "type"), f"block `{step.type}` was not found when the spec loaded")
        params: dict[str, Any] = {}
        for key, p in sub.model.params.items():
            given = step.args.get(key, p.default)
            value = given
            if isinstance(given, str) and not (p.type == "choice" and given in (p.choices or ())):
                value = self.value(path + ("block", key), given, env)
            ok, why = fits(p, value)
            if not ok:
                raise self.fail(path + ("block", key), f"`{given}` {why} (parameter `{key}` of block `{sub.name}`)")
            params[key] = value
        context: dict[str, Any] = {}
        for key in SUB_CONTEXT:
            if key in step.args:
                at = path + ("block", key)
                context[key] = self.whole(at, step.args[key], env) if key != "drop_path" else \
                    self.value(at, step.args[key], env)
        declared = sub.model.inputs
        least, variadic = 1 + len([n for n in declared if not n.endswith(".*")]), any(n.endswith(".*") for n in declared)
        if len(ins) < least or (not variadic and len(ins) > least):
            takes = f"{least} input{'s' if least > 1 else ''}{' or more' if variadic else ''}"
            raise self.fail(path + ("in",), f"block `{sub.name}` takes {takes} (`x`{''.join(', ' + n for n in declared)}),"
                                            f" and `in` gives {len(ins)}")
        child = _Planner(sub, step.type, params, self.ctx, self, ins, context, f"{self.prefix}{name}.")
        child._loop = self._loop
        return child.run()

    def check_module_path(self, name: str, path: FieldPath) -> None:
        """``conv1`` and ``conv1.x`` cannot both be modules: one would hold the other."""
        parts = name.split(".")
        outer = [".".join(parts[:k]) for k in range(1, len(parts))]
        modules, containers = self.root.modules, self.root.containers
        other = next((o for o in outer if o in modules), None)
        if other is None and name in containers:
            other = next(m for m in modules if m.startswith(name + "."))
        if other is not None:
            raise self.fail(path + ("name",), f"modules `{name}` and `{other}` clash: one path lies inside "
                                              "the other; rename one")
        modules.add(name)
        containers.update(outer)

    def may_make(self, stem: str) -> bool:
        """Whether some step of the block, or its last declared input, makes values ``stem.0``, ``stem.1``...:
        then ``stem.*`` may read none (a repeat of count 0, a `.*` input given nothing)."""
        if f"{stem}.*" in self.d.model.inputs:
            return True

        def names(steps: list[Any]) -> Any:
            for step in steps:
                yield from names(step.steps) if isinstance(step, Repeat) else (step.name,)

        return any(n.startswith(stem + ".") for n in names(self.d.model.steps))

    def inputs(self, step: Any, path: FieldPath, env: dict[str, Any]) -> list[str]:
        given = step.in_
        if getattr(step, "else_", None) is not None and not self.value(path + ("when",), step.when, env):
            return [self.resolve(path + ("else",), step.else_, env)]  # stands for `else`: its inputs are not read
        if given is None:
            if isinstance(step, MergeStep):
                raise self.fail(path, f"`{step.op}` needs its inputs: `in: [a, b]`")
            return [self.last]
        many = isinstance(step, (MergeStep, BlockUse))
        texts = [given] if isinstance(given, str) else given
        where = (lambda j: path + ("in",)) if isinstance(given, str) else (lambda j: path + ("in", j))
        skipped = step.when is not None and not self.value(path + ("when",), step.when, env)
        out: list[str] = []
        for j, text in enumerate(texts):
            if skipped and j > 0:
                break  # a left-out step stands for its first input; the others need not exist
            out += self.resolve(where(j), text, env, many=True)
        if not out:
            raise self.fail(path + ("in",), "no inputs")
        if not many and len(out) > 1:
            raise self.fail(path + ("in",), f"`{step.op}` reads one input, not {len(out)}")
        if isinstance(step, MergeStep) and len(out) < 2 and not skipped:
            raise self.fail(path + ("in",), f"`{step.op}` combines two or more inputs, got {len(out)}")
        return out

    def resolve(self, path: FieldPath, text: str, env: dict[str, Any], many: bool = False) -> Any:
        name = self.name(path, text, env)
        if name == "shortcut":
            found = [self.shortcut(path)]
        elif "*" in name and many:
            pattern = re.compile(re.escape(name).replace(r"\*", r"\d+") + "$")
            found = [v for k, v in self.values.items() if pattern.match(k)]
            if not found and not (name.endswith(".*") and self.may_make(name[:-2])):
                raise self.fail(path, f"`{name}` matches no value made so far")
        elif name in self.values:
            found = [self.values[name]]
        else:
            known = [k for k in self.values if k != INPUT] + [INPUT, "shortcut"]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise self.fail(path, f"unknown input {name!r}: no earlier step makes it{hint} (known here: "
                                  f"{', '.join(known[-12:])})")
        return found if many else found[0]

    def shortcut(self, path: FieldPath) -> str:
        """The spec's shortcut policy on the unit's input, added once, where it is first read."""
        if "shortcut" in self.values:
            return self.values["shortcut"]
        use = self.d.model.shortcut
        if self.root is not self:
            raise self.fail(path, f"block `{self.kind}` is a sub-block here, and only the unit's block has the "
                                  "spec's `shortcut`: read `x`, or take the residual as an input")
        if use is None:
            raise self.fail(path, "`shortcut` is read but the block declares no `shortcut:` (its `out` channels)")
        ctx = self.ctx
        out = self.whole(("shortcut", "out"), use.out, self.env)
        kind, records = plan_shortcut(ctx.shortcut, ctx.in_channels, out, ctx.stride, ctx.in_size, ctx.shortcut_path)
        records = tuple(replace(r, path=use.names.get(r.path, r.path)) for r in records)
        for r in records:
            self.check_module_path(r.path, ("shortcut", "names"))
        try:
            value = sg.shortcut(self.g, INPUT, kind, ctx.stride, out - ctx.in_channels, records)
        except GraphError as exc:
            raise self.fail(("shortcut",), str(exc)) from None
        self.shortcut_kind = kind
        self.values["shortcut"] = value
        return value

    # -- steps

    def make(self, step: Any, name: str, path: FieldPath, env: dict[str, Any], ins: list[tuple]) -> Any:
        shape = ins[0]
        whole = lambda field, least=1: self.whole(path + (field,), getattr(step, field), env, least)  # noqa: E731
        if isinstance(step, (ConvStep, PoolStep, NormStep, ChunkStep, ShuffleStep, SliceStep, SoftmaxStep)) and \
                len(shape) != 3 and \
                not (isinstance(step, NormStep) and step.op == "ln"):
            raise self.fail(path + ("in",), f"`{step.op}` reads a (C, H, W) map, and its input has shape {shape}")
        if isinstance(step, ConvStep):
            cin, size = shape[0], shape[1:]
            out, groups = whole("out"), whole("groups")
            if cin % groups or out % groups:
                raise self.fail(path + ("groups",), f"groups={groups} must divide the input channels {cin} and the "
                                                    f"output channels {out}")
            padding = None if step.padding is None else whole("padding", 0)
            return Conv(name, cin, out, whole("kernel"), size, stride=whole("stride"), groups=groups,
                        bias=step.bias, padding=padding, dilation=whole("dilation"))
        if isinstance(step, NormStep):
            if step.op == "bn":
                return Norm(name, shape[0], shape[1:], eps=step.eps)
            size = shape[1:] if len(shape) == 3 else (1, 1)
            return Norm(name, shape[0], size, eps=step.eps or 1e-6, kind="layer")
        if isinstance(step, LinearStep):
            if len(shape) != 1:
                raise self.fail(path + ("in",), f"`linear` reads a vector, and its input has shape {shape}; "
                                                "`flatten` (after `global_avgpool`) first")
            return Linear(name, shape[0], whole("out"), bias=step.bias)
        if isinstance(step, ActStep):
            return Act(name, step.op, inplace=step.inplace)
        if isinstance(step, PoolStep):
            kernel = whole("kernel")
            stride = kernel if step.stride is None else whole("stride")
            padding = whole("padding", 0)
            if padding * 2 > kernel:
                raise self.fail(path + ("padding",), f"padding {padding} is more than half the kernel {kernel}")
            return Pool(name, step.op[:3], kernel, stride, padding, step.ceil, step.count_include_pad)
        if isinstance(step, MergeStep):
            if step.op == "mul" and len(ins) != 2:
                raise self.fail(path + ("in",), "`mul` multiplies two inputs")
            if step.op == "mul" and (ins[1][0] != ins[0][0] or ins[1][1:] not in (ins[0][1:], (1,) * (len(ins[0]) - 1))):
                raise self.fail(path + ("in",), f"`mul` multiplies shape {ins[0]} by {ins[1]}: the second must have "
                                                "the first's shape, or its channels with a 1x1 map (a gate)")
            if step.op == "concat" and len({s[1:] for s in ins}) > 1:
                raise self.fail(path + ("in",), f"`concat` joins maps of sizes {[s[1:] for s in ins]}; they must agree")
            return {"add": Add, "mul": Mul, "concat": Concat}[step.op](name)
        if isinstance(step, ChunkStep):
            parts, index = whole("parts"), whole("index", 0)
            if shape[0] % parts:
                raise self.fail(path + ("parts",), f"{shape[0]} channels do not split into {parts} equal parts")
            if index >= parts:
                raise self.fail(path + ("index",), f"index {index} is past the last of {parts} parts")
            return Chunk(name, parts, index)
        if isinstance(step, ShuffleStep):
            groups = whole("groups")
            if shape[0] % groups:
                raise self.fail(path + ("groups",), f"{shape[0]} channels do not shuffle in {groups} groups")
            return Shuffle(name, groups)
        if isinstance(step, DropStep):
            rate = self.ctx.drop_path if step.rate is None and step.op == "drop_path" else \
                self.value(path + ("rate",), step.rate if step.rate is not None else 0.0, env)
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
                raise self.fail(path + ("rate",), f"a rate is a number in [0, 1), got {rate!r}")
            if rate == 0:
                return None
            return Dropout(name, float(rate)) if step.op == "dropout" else DropPath(name, float(rate))
        if isinstance(step, ShapeStep):
            if step.op == "identity":
                return None
            if step.op == "flatten":
                return Flatten(name)
            if step.op == "zero":
                return Zero(name)
            if len(shape) != 3:
                raise self.fail(path + ("in",), f"`{step.op}` reads a (C, H, W) map, and its input has shape {shape}")
            return Mean(name) if step.op == "mean" else AdaptiveAvgPool(name)
        if isinstance(step, GroupStep):
            return self.group_step(step, name, path, env, shape)
        if isinstance(step, (SliceStep, SoftmaxStep)):
            return self.channel_step(step, name, path, env, shape)
        if isinstance(step, ChosenActStep):
            fn = step.fn if step.fn in ACTIVATIONS else self.value(path + ("fn",), step.fn, env)
            if fn not in ACTIVATIONS:
                raise self.fail(path + ("fn",), f"`{step.fn}` gives {fn!r}, not an activation; one of "
                                                f"{', '.join(ACTIVATIONS)}")
            return Act(name, fn, inplace=step.inplace)
        raise self.fail(path, f"unknown step {step!r}")  # the language's union admits nothing else

    def channel_step(self, step: Any, name: str, path: FieldPath, env: dict[str, Any], shape: tuple) -> Any:
        """A slice of the channels, or a softmax across radix groups of them: the counts must fit the input's."""
        whole = lambda field, least=1: self.whole(path + (field,), getattr(step, field), env, least)  # noqa: E731
        if isinstance(step, SliceStep):
            start, size = whole("start", 0), whole("size")
            if start + size > shape[0]:
                raise self.fail(path + ("size",), f"channels {start} to {start + size} run past the input's "
                                                  f"{shape[0]} channels")
            return Slice(name, start, size)
        radix, cardinality = whole("radix", 2), whole("cardinality")
        if shape[0] % (radix * cardinality):
            raise self.fail(path + ("radix",), f"{shape[0]} channels do not split into radix {radix} x cardinality "
                                               f"{cardinality} equal groups")
        return RadixSoftmax(name, radix, cardinality)

    def group_step(self, step: GroupStep, name: str, path: FieldPath, env: dict[str, Any], shape: tuple) -> Any:
        groups = self.whole(path + ("groups",), step.groups, env)
        if len(shape) != 3:
            raise self.fail(path + ("in",), f"`{step.op}` reads a (C, H, W) map, and its input has shape {shape}")
        if shape[0] % groups:
            raise self.fail(path + ("groups",), f"{shape[0]} channels do not split into {groups} equal groups")
        return GroupSum(name, groups) if step.op == "group_sum" else GroupSoftmax(name, groups)
