"""Block types users write as data: the block language, and finding each block's definition.

A spec's block whose ``type`` is not built in is a :class:`UserBlock`: its type and its
parameters. Its definition is a *block file* (:class:`BlockDefinition`): typed parameters,
``let`` values derived by safe expressions (spec/expressions.py), and steps from the step
vocabulary wired by name, repeated over ranges and made optional with ``when``. Nothing in
it is executed: the planner (plan/user_block.py) evaluates the expressions and builds the
unit's step graph, from which the module, counts, memory, exports and pictures all derive.

A definition is found, in this order, in the spec's ``blocks:`` map (a path relative to the
file that wrote it, confined to the spec's tree as ``extends`` is, or a definition written
inline), or among the bundled block files by name (``archspec/blocks_lib``, the repository's
``blocks/``). :func:`attach_definitions` runs after the spec validates: it loads and checks
each definition (expressions parsed and their names known, with file, line and column),
checks each use's parameters against it, and attaches it to the block.
"""


import ast
import difflib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, StrictBool, StrictFloat, StrictInt, \
    Tag, ValidationError, field_validator

from . import expressions, plugins
from .base import EachKindOnFirstUse, NonNegativeInt, PositiveInt, StrictModel, attribute, empty_dict, empty_list
from .errors import FieldPath, Problem, SourceMap, SpecError, dotted, shown
from .limits import Limits, current

BLOCKS_DIR = Path(__file__).resolve().parent.parent / "blocks_lib"
NAME = r"^[a-z][a-z0-9_]*$"
CONTEXT = {  # what the planner tells every block about its unit, by name
    "in_channels": "the unit's input channels",
    "width": "the width the body's widening rule (or the stage's `width`) gives the unit",
    "stride": "the unit's stride (the stage's stride at its first unit, else 1)",
    "index": "the unit's index in its stage (0 for the first)",
    "first": "true at the first unit of a stage",
    "stage": "the stage's index",
    "drop_path": "the unit's stochastic-depth rate (already decayed)",
    "classes": "the network's classes (a head block's only: `head: {type: block}`)",
}
RESERVED_VALUES = ("x", "shortcut")  # the unit's input, and the value the shortcut policy makes of it
# Parameter names the planner reads off any block (so a user parameter cannot take their place).
RESERVED_PARAMS = frozenset({"type", "modules", "layers", "fixed_units", "fixed_layers", "layers_per_unit", "growth",
                             "bottleneck", "se", "hidden", "stride_on", "expansion_rule"})
MAX_REPEAT = 256  # iterations of one `repeat`
MAX_STEPS = 2_000  # steps of one unit's graph

Expr = Annotated[Union[StrictBool, StrictInt, StrictFloat, str], Field(
    description="A number, or a safe expression over the parameters, `let` values and the unit's context.")]
Channels = Annotated[Union[StrictInt, str], Field(description="A whole number, or an expression giving one.")]


class Param(StrictModel):
    """One parameter of a block: its type, its default (none: a spec must give it) and its range."""

    type: Literal["int", "float", "bool", "choice"]
    default: Union[StrictBool, StrictInt, StrictFloat, str, None] = Field(
        None, description="The value when a spec leaves it out; none: a spec must give it.")
    min: Union[StrictInt, StrictFloat, None] = Field(None, description="Smallest allowed value (int, float).")
    max: Union[StrictInt, StrictFloat, None] = Field(None, description="Largest allowed value (int, float).")
    choices: list[str] | None = Field(None, description="The allowed strings of a `choice` parameter.")
    description: str = ""


class _Step(StrictModel):
    """What every step has: its name (its module path, `{expr}` substituted), its inputs and a condition."""

    model_config = ConfigDict(populate_by_name=True)
    name: str = Field(min_length=1, max_length=120, description="The step's name and module path (`convs.{i}`).")
    in_: Union[str, list[str], None] = Field(
        None, alias="in", description="The value(s) it reads: step names, `x` (the unit's input), `shortcut`; "
        "`name.*` is every value `name.0`, `name.1`...; default: the previous step's output.")
    when: Union[StrictBool, str, None] = Field(
        None, description="A condition; when false the step is left out and its name stands for its first input.")
    else_: Union[str, None] = Field(
        None, alias="else", description="What a left-out step's name stands for instead of its first input (a value "
        "name): its inputs are then not read at all, so a merge of `name.*` may match nothing.")


class ConvStep(_Step):
    """A 2-d convolution of its input (no bias unless asked): ``nn.Conv2d``."""

    op: Literal["conv"]
    out: Channels
    kernel: Channels
    stride: Channels = 1
    groups: Channels = 1
    padding: Union[Channels, None] = Field(None, description="Default: kernel // 2 x dilation ('same').")
    dilation: Channels = 1
    bias: bool = False


class NormStep(_Step):
    """``bn``: BatchNorm2d (the network's eps unless given); ``ln``: a layer norm over the channels."""

    op: Literal["bn", "ln"]
    eps: Union[StrictFloat, None] = Field(None, gt=0, description="Epsilon; default: the network's (bn), 1e-6 (ln).")


class LinearStep(_Step):
    """A fully connected layer on a vector (after `flatten` or `global_avgpool` + `flatten`)."""

    op: Literal["linear"]
    out: Channels
    bias: bool = True


class ActStep(_Step):
    """An activation, a module (in place where torch can)."""

    op: Literal["relu", "relu6", "silu", "gelu", "hardswish", "sigmoid", "hardsigmoid", "leaky_relu"]
    inplace: bool = True


class PoolStep(_Step):
    """A max or average pooling window."""

    op: Literal["maxpool", "avgpool"]
    kernel: Channels
    stride: Union[Channels, None] = Field(None, description="Default: the kernel.")
    padding: Channels = 0
    ceil: bool = False
    count_include_pad: bool = True


class MergeStep(_Step):
    """``add`` (equal shapes), ``mul`` (a gate broadcast over H and W) or ``concat`` (channels) of its inputs."""

    op: Literal["add", "mul", "concat"]


class ChunkStep(_Step):
    """Part ``index`` of ``parts`` equal channel chunks: a view."""

    op: Literal["chunk"]
    parts: Channels
    index: Channels


class ShuffleStep(_Step):
    """ShuffleNet's channel shuffle over ``groups``."""

    op: Literal["shuffle"]
    groups: Channels


class DropStep(_Step):
    """``dropout`` at ``rate``; ``drop_path``: stochastic depth at ``rate`` (default the unit's rate; 0 leaves it out)."""

    op: Literal["dropout", "drop_path"]
    rate: Union[Expr, None] = None


class ShapeStep(_Step):
    """``mean``: the global mean kept 4-d (SE's squeeze); ``global_avgpool``: AdaptiveAvgPool2d(1);
    ``flatten``: to a vector; ``identity``: the input itself (a name for it); ``zero``: zeros of the
    input's shape, ``x.mul(0.0)`` (a NAS cell's ``none`` edge)."""

    op: Literal["mean", "global_avgpool", "flatten", "identity", "zero"]


class GroupStep(_Step):
    """Its input's channels as ``groups`` equal groups (branches side by side, as `concat` makes them):
    ``group_sum`` adds the groups (channels / groups out); ``group_softmax`` is a softmax across them,
    channel by channel (Selective Kernel's attention over its paths)."""

    op: Literal["group_sum", "group_softmax"]
    groups: Channels


class SliceStep(_Step):
    """Channels ``start`` to ``start + size`` of its input: a view. Uneven splits (a mixed conv's
    groups of channels) and narrowing (``out[:, :C]`` after a concat) are slices."""

    op: Literal["slice"]
    start: Channels = Field(0, description="The first channel taken (0-based).")
    size: Channels = Field(description="How many channels it takes.")


class SoftmaxStep(_Step):
    """A softmax across ``radix`` groups of channels (split attention's ``rSoftMax``): the input's
    channels, laid out (cardinality, radix, C'), come out laid out (radix, cardinality, C'), each
    normalised over the radix; ``chunk`` it into ``radix`` parts to weigh each group's branch."""

    op: Literal["softmax"]
    radix: Channels = Field(description="The groups normalised against each other (at least 2).")
    cardinality: Channels = Field(1, description="Independent sets of groups (the grouped convs' cardinality).")


ACTIVATIONS = ("relu", "relu6", "silu", "gelu", "hardswish", "sigmoid", "hardsigmoid")


class ChosenActStep(_Step):
    """An activation chosen by a parameter: ``fn`` is an activation's name or an expression giving
    one (a `choice` parameter: ``{op: act, fn: act}``), so one block file serves ReLU and SiLU variants."""

    op: Literal["act"]
    fn: str = Field(description=f"One of {', '.join(ACTIVATIONS)}, or an expression giving one.")
    inplace: bool = True


StepSpec = Annotated[Union[ConvStep, NormStep, LinearStep, ActStep, PoolStep, MergeStep, ChunkStep, ShuffleStep,
                           DropStep, ShapeStep, GroupStep, SliceStep, SoftmaxStep, ChosenActStep],
                   EachKindOnFirstUse("op")]


class Repeat(StrictModel):
    """Its steps once per value of ``repeat`` (an index name) from 0 to ``count`` - 1."""

    repeat: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", description="The index's name, e.g. `i`.")
    count: Channels = Field(description=f"How many times (at most {MAX_REPEAT}).")
    steps: list["StepOrRepeat"] = Field(min_length=1)


def _step_kind(value: Any) -> str:
    if (isinstance(value, dict) and "repeat" in value) or isinstance(value, Repeat):
        return "repeat"
    if (isinstance(value, dict) and "block" in value and "op" not in value) or isinstance(value, BlockUse):
        return "use"
    return "step"


StepOrRepeat = Annotated[Union[Annotated[StepSpec, Tag("step")], Annotated[Repeat, Tag("repeat")],
                               Annotated["BlockUse", Tag("use")]], Discriminator(_step_kind)]
# No Repeat.model_rebuild() here: the models build on first validation (StrictModel's defer_build), when
# StepOrRepeat, Repeat's forward reference, is defined; rebuilding now would compile every step model at import.


# -- sub-blocks: a step that is another block ----------------------------------------------------------------

MAX_DEPTH = 8  # blocks inside blocks inside ... the unit's block
SUB_CONTEXT = ("width", "stride", "drop_path")  # context values a use may set for its sub-block
UseValue = Union[StrictBool, StrictInt, StrictFloat, str]


class BlockUse(StrictModel):
    """Another block (bundled, or declared in the spec's ``blocks:``) as one step: its steps become module
    paths under this step's name (``conv1.paths.0.conv``). ``in`` gives its input ``x`` first, then the
    inputs its file declares (``inputs:``); ``block`` its ``type`` and parameters, each a value or an
    expression over this block's names, and optionally the ``width``, ``stride`` or ``drop_path`` it sees
    (otherwise the unit's; its ``in_channels`` are its input's)."""

    model_config = ConfigDict(populate_by_name=True)
    name: str = Field(min_length=1, max_length=120, description="The step's name: the sub-block's module path.")
    in_: Union[str, list[str], None] = Field(
        None, alias="in", description="Its input `x`, then its declared `inputs`; default: the previous step's output.")
    when: Union[StrictBool, str, None] = Field(
        None, description="A condition; when false the step is left out and its name stands for its first input.")
    block: dict[Annotated[str, Field(pattern=NAME)], UseValue] = Field(
        description="`type: NAME` and the block's parameters: values, or expressions over this block's names.")

    @field_validator("block")
    @classmethod
    def _has_a_type(cls, block: dict[str, Any]) -> dict[str, Any]:
        kind = block.get("type")
        if not isinstance(kind, str) or not NAME_RE.match(kind):
            raise ValueError("a sub-block names its `type` (a block name: lowercase letters, digits and _)")
        return block

    @property
    def type(self) -> str:
        return self.block["type"]

    @property
    def args(self) -> dict[str, Any]:
        """What the use gives: parameters and context values, not its type."""
        return {k: v for k, v in self.block.items() if k != "type"}


class ShortcutUse(StrictModel):
    """The spec's shortcut policy applied to the unit's input, read as the value `shortcut`: identity
    where the shape is kept, else what the policy makes (a 1x1 projection and its BN...)."""

    out: Channels = Field(description="The channels it must produce (the block's output channels).")
    names: dict[str, str] = Field(default_factory=empty_dict, description="Renamed steps: `{shortcut.conv: downsample.0}`.")


class BlockDefinition(StrictModel):
    """A block file: a new block type written as data."""

    block: str | None = Field(None, pattern=NAME, description="The type name it is meant for (checked when given).")
    description: str = ""
    params: dict[Annotated[str, Field(pattern=NAME)], Param] = Field(default_factory=empty_dict)
    let: dict[Annotated[str, Field(pattern=NAME)], Expr] = Field(
        default_factory=empty_dict, description="Derived values, in order; each may read the ones before it.")
    layers_per_unit: PositiveInt = Field(1, description="Weighted layers per unit, as papers count depth.")
    inputs: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.\*)?$")]] = Field(
        default_factory=empty_list, description="Inputs besides `x` when used as a sub-block, in the order a use's `in` "
        "gives them; the last may end in `.*` (`children.*`): all the remaining ones, none or more.")
    steps: list[StepOrRepeat] = Field(min_length=1)
    shortcut: ShortcutUse | None = None
    output: str | None = Field(None, description="The value the unit returns; default: the last step's.")


def _not_built_in(schema: dict[str, Any]) -> None:
    """In the JSON schema a user block's type is any name but a built-in one (so `oneOf` picks one model)."""
    schema["not"] = {"properties": {"type": {"enum": list(_built_in())}}, "required": ["type"]}


class UserBlock(BaseModel):
    """A block whose type is not built in: its ``type`` and its parameters, checked against its definition."""

    model_config = ConfigDict(extra="allow", frozen=True, json_schema_extra=_not_built_in, defer_build=True)
    type: str = Field(pattern=NAME, max_length=64)
    _definition: Any = PrivateAttr(None)
    _plugin: Any = PrivateAttr(None)  # a plugin's type: its spec model, validated (spec/plugins.py)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.__pydantic_extra__ or {})

    @property
    def plugin(self) -> Any:
        """The block as its plugin's spec model validated it (None: not a registered plugin's type, or
        fields its model refuses). The loader validates it; a spec made otherwise is validated here."""
        if self._plugin is None and self.type in plugins.MODELS:
            try:
                self._plugin = plugins.MODELS[self.type].model_validate({"type": self.type, **self.params})
            except ValidationError:
                return None
        return self._plugin

    @property
    def definition(self) -> "Definition | None":
        return self._definition

    @property
    def layers_per_unit(self) -> int:
        if self.plugin is not None:
            return getattr(self.plugin, "layers_per_unit", 1)
        return self._definition.model.layers_per_unit if self._definition is not None else 1


@dataclass
class Definition:
    """A checked block definition, where it was written, and its expressions parsed once."""

    name: str
    model: BlockDefinition
    source: SourceMap
    prefix: FieldPath  # its path in ``source`` (``("blocks", name)`` inline, ``()`` in its own file)
    trees: dict[str, Any] = field(default_factory=empty_dict)
    # Its sub-blocks: every use (path in its steps, the use, the names it can read there) and, once
    # resolved for a spec (resolve_uses), each used type's definition. A cached file's Definition is
    # copied per spec before its uses are resolved, since a spec's `blocks:` map may name them otherwise.
    sites: list[tuple[FieldPath, "BlockUse", frozenset[str]]] = field(default_factory=empty_list)
    uses: dict[str, "Definition"] = field(default_factory=empty_dict)

    def problem(self, path: FieldPath, message: str) -> Problem:
        return self.source.problem(self.prefix + tuple(path), message)

    def tree(self, text: str) -> Any:
        tree = self.trees.get(text)
        if tree is None:
            tree = self.trees[text] = expressions.parse(text)
        return tree

    def data(self) -> dict[str, Any]:
        """The definition as plain data (what ``expand`` writes inline, so the spec's sha256 covers it)."""
        data = self.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not data["inputs"]:  # left out where unused, so a block that says nothing of it keeps its sha256
            del data["inputs"]
        return data

    def closure(self) -> dict[str, "Definition"]:
        """Every block it uses, directly or through others, by type name (``expand`` writes them all)."""
        found: dict[str, Definition] = {}
        todo = list(self.uses.values())
        while todo:
            d = todo.pop()
            if d.name not in found:
                found[d.name] = d
                todo += d.uses.values()
        return found


def bundled_block_names() -> list[str]:
    return sorted(p.stem for p in BLOCKS_DIR.glob("*.yaml") if NAME_RE.match(p.stem))


NAME_RE = re.compile(NAME)
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def user_blocks(spec: Any) -> list[tuple[FieldPath, UserBlock]]:
    """Every user block of a spec with its field path."""
    found = [(("body", "block"), spec.body.block)]
    found += [(("body", "stages", s, "block"), st.block) for s, st in enumerate(spec.body.stages) if st.block]
    # a block stem/head; `attribute`: other stems and heads have no `block`, and a miss costs Pydantic two raises
    found += [((part, "block"), attribute(getattr(spec, part), "block", None)) for part in ("stem", "head")]
    return [(path, b) for path, b in found if isinstance(b, UserBlock)]


def attach_definitions(spec: Any, source: SourceMap, allow_roots: Iterable[str | Path] = (),
                       limits: Limits | None = None) -> None:
    """Find, check and attach the definition of every user block of ``spec``; SpecError naming every problem."""
    uses = user_blocks(spec)
    declared = dict(spec.blocks or {})
    problems: list[Problem] = []
    built_in = _built_in()
    for name in declared:
        if name in built_in:
            problems.append(source.problem(("blocks", name), f"`{name}` is a built-in block type; name yours otherwise"))
        elif name in plugins.MODELS:
            problems.append(source.problem(("blocks", name), f"`{name}` is the block type of plugin "
                                                             f"`{plugins.origin(name)}`; name yours otherwise"))
    if problems:
        raise SpecError(problems)
    definitions: dict[str, Definition | None] = {}
    loaded: dict[str, Definition | None] = {}

    def lookup(kind: str) -> Definition | None:  # a sub-block: declared in the spec, else bundled
        if kind not in loaded:
            known = kind in declared or kind in bundled_block_names()
            loaded[kind] = _definition(kind, (), declared, source, allow_roots, limits) if known else None
        return loaded[kind]

    for path, block in uses:
        if block.type not in declared and _is_plugin_type(block.type, path, source):
            problems += plugins.check_block(block, path, lambda p, m, path=path: source.problem(path + p, m))
            continue
        if block.type not in definitions:
            try:
                definition, found = resolve_uses(_definition(block.type, path, declared, source, allow_roots, limits),
                                                 lookup, declared=tuple(declared))
                problems += found
                definitions[block.type] = None if found else definition
            except SpecError as exc:
                problems += exc.problems
                definitions[block.type] = None
        definition = definitions[block.type]
        if definition is not None:
            found = check_params(block, definition, lambda p, m, path=path: source.problem(path + p, m))
            problems += found
            if not found:
                block._definition = definition
    for name in declared:  # declared but not used: checked all the same, so `validate` sees its mistakes
        if name not in definitions and name not in loaded:
            try:
                problems += resolve_uses(_definition(name, (), declared, source, allow_roots, limits), lookup,
                                         declared=tuple(declared))[1]
            except SpecError as exc:
                problems += exc.problems
    if problems:  # a block file that several blocks use is found (and its mistakes reported) once
        raise SpecError(list(dict.fromkeys(problems)))


def unknown_types_in(data: Any, source: SourceMap) -> list[Problem]:
    """Blocks of raw spec data whose type is neither built in, declared nor bundled: reported with the
    spec's other problems when it does not validate (a valid spec gets them from attach_definitions)."""
    if not isinstance(data, dict) or not isinstance(data.get("body"), dict):
        return []
    body = data["body"]
    declared = data.get("blocks") if isinstance(data.get("blocks"), dict) else {}
    found = [(("body", "block"), body.get("block"))]
    stages = body.get("stages") if isinstance(body.get("stages"), list) else []
    found += [(("body", "stages", s, "block"), st.get("block")) for s, st in enumerate(stages) if isinstance(st, dict)]
    found += [((part, "block"), data[part].get("block")) for part in ("stem", "head")
              if isinstance(data.get(part), dict) and data[part].get("type") == "block"]
    known = {*_built_in(), *declared, *bundled_block_names()}
    unknown = [(path, b["type"]) for path, b in found
               if isinstance(b, dict) and isinstance(b.get("type"), str) and b["type"] not in known]
    problems = []
    for path, kind in unknown:
        try:
            if not _is_plugin_type(kind, path, source):
                problems.append(source.problem(path + ("type",), unknown_type(kind, declared)))
        except SpecError as exc:
            problems += exc.problems
    return problems


def _is_plugin_type(kind: str, path: FieldPath, source: SourceMap) -> bool:
    """A plugin's type, registered or (not bundled) found through its installed entry point."""
    if kind in plugins.MODELS:
        return True
    if kind in bundled_block_names():
        return False
    return plugins.known_type(kind, lambda m: source.problem(path + ("type",), m))


def inherit_definitions(spec: Any, base: Any) -> list[Problem]:
    """A variant of ``base`` (a design space's, spec/space) made by changing its blocks' fields: its
    user blocks take the definitions ``base``'s blocks of the same type were found with, and their
    parameters are checked against them (the problems, by field path; none: all attached)."""
    known = {b.type: b.definition for _, b in user_blocks(base) if b.definition is not None}
    found: list[Problem] = []
    for path, block in user_blocks(spec):
        if block.type in plugins.MODELS:
            found += plugins.check_block(block, path, lambda p, m, path=path: Problem("<variant>", None, None,
                                                                                     dotted(path + p), m))
            continue
        d = block.definition or known.get(block.type)
        if d is None:
            continue  # planning finds a bundled one, or refuses the type
        problems = check_params(block, d, lambda p, m, path=path: Problem("<variant>", None, None,
                                                                           dotted(path + p), m))
        found += problems
        if not problems:
            block._definition = d
    return found


def _built_in() -> tuple[str, ...]:
    from .kinds import BLOCK_KINDS

    return BLOCK_KINDS


def unknown_type(kind: str, declared: Iterable[str]) -> str:
    options = [*_built_in(), *declared, *bundled_block_names(), *plugins.registered_types()]
    close = difflib.get_close_matches(kind, options, n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else "."
    loaded = plugins.registered_types()
    return (f"unknown type {shown(kind)}{hint} Built in: {', '.join(_built_in())}; bundled block files: "
            f"{', '.join(bundled_block_names()) or 'none'}"
            + (f"; plugins' types: {', '.join(loaded)}" if loaded else "")
            + "; or declare it under `blocks:` (docs/custom-blocks.md), or load the Python plugin that defines it "
            "with `--plugin MODULE` or `plugins: [MODULE]` (docs/custom-blocks.md#python-plugins)")


def _definition(kind: str, path: FieldPath, declared: dict[str, Any], source: SourceMap,
                allow_roots: Iterable[str | Path], limits: Limits | None) -> Definition:
    limits = limits or current()
    if kind in declared:
        given = declared[kind]
        if isinstance(given, dict):
            return check_definition(kind, given, source, ("blocks", kind))
        where = source.locate(("blocks", kind))
        file = _confined(given, where.file, source, kind, allow_roots, limits)
        return load_block_file(kind, file, _display(where.file, given))
    bundled = BLOCKS_DIR / f"{kind}.yaml"
    if kind in bundled_block_names():
        return load_block_file(kind, bundled, f"<bundled>/{kind}.yaml")
    raise SpecError([source.problem(path + ("type",), unknown_type(kind, declared))])


def _display(spec_file: str, name: str) -> str:
    parent = Path(spec_file).parent
    return str(parent / name) if str(parent) != "." else name


def _confined(name: Any, spec_file: str, source: SourceMap, kind: str, allow_roots: Iterable[str | Path],
              limits: Limits) -> Path:
    """The block file's real path, confined as ``extends`` bases are (compose._base_path)."""
    from .compose import _base_path, extends_roots

    where = source.locate(("blocks", kind))

    def refuse(why: str) -> SpecError:  # the confinement's words are about `extends`: say `blocks.NAME`
        why = why.replace("`extends: ", f"`blocks.{kind}: ", 1).replace("a base is a spec file", "a block file is")
        return SpecError([Problem(where.file, where.line, where.column, f"blocks.{kind}", why)])

    return _base_path(name, spec_file, extends_roots(spec_file, allow_roots, limits), refuse)


_FILES: dict[tuple[str, int, int], Definition] = {}  # (real path, mtime, size) -> checked definition


def load_block_file(kind: str, path: Path, display: str) -> Definition:
    """Read a block file safely (as specs are read), validate it, keep it for its next use."""
    from .yaml_safety import parse_yaml, read_spec_text

    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key is not None and key in _FILES and _FILES[key].name == kind:
        return _FILES[key]
    data, marks = parse_yaml(read_spec_text(path), display)
    foreign = [k for k in data if k not in BlockDefinition.model_fields]
    if foreign and len(foreign) * 2 > len(data):  # not a block file: say so without echoing its content
        raise SpecError([Problem(display, None, None, "", f"not a block file: {len(foreign)} of its {len(data)} "
                                 "top-level keys are not block-file fields (block, params, let, steps, shortcut...); "
                                 "its content is not shown")])
    definition = check_definition(kind, data, SourceMap(display, marks), ())
    if key is not None:
        _FILES[key] = definition
    return definition


def check_definition(kind: str, data: dict, source: SourceMap, prefix: FieldPath) -> Definition:
    """Validate definition data (Pydantic, then its expressions and names); located problems."""
    from .loader import _problems

    try:
        model = BlockDefinition.model_validate(data)
    except ValidationError as exc:
        inner = SourceMap(source.file, {p[len(prefix):]: m for p, m in source.marks.items() if p[:len(prefix)] == prefix})
        found = _problems(exc, data, inner, root=BlockDefinition)
        head = dotted(prefix)
        raise SpecError([replace(p, path=f"{head}.{p.path}" if head and p.path else head or p.path)
                         for p in found]) from None
    definition = Definition(kind, model, source, prefix)
    problems = _check_names(definition)
    if problems:
        raise SpecError(problems)
    return definition


def _check_names(d: Definition) -> list[Problem]:
    """Every expression parses, reads only names it can see, and every parameter default fits its type."""
    m, problems = d.model, []
    if m.block is not None and m.block != d.name:
        problems.append(d.problem(("block",), f"this file defines `{m.block}`, but the spec uses it as `{d.name}`"))
    for name, param in m.params.items():
        problems += [d.problem(("params", name) + p, msg) for p, msg in _param_problems(name, param)]
    known = set(CONTEXT) | set(m.params)
    for name in m.params:
        if name in CONTEXT or name in RESERVED_PARAMS or name.startswith("model_"):
            problems.append(d.problem(("params", name), f"`{name}` is reserved (the unit's context or a block field); "
                                                         "name the parameter otherwise"))
    for name, value in m.let.items():
        problems += _expr_problems(d, ("let", name), value, known)
        if name in known:
            problems.append(d.problem(("let", name), f"`{name}` is already a parameter or context value"))
        known.add(name)
    for k, name in enumerate(m.inputs):
        bare = name.removesuffix(".*")
        if bare in RESERVED_VALUES or m.inputs.index(name) != k or (name.endswith(".*") and k != len(m.inputs) - 1):
            problems.append(d.problem(("inputs", k), f"`{name}`: inputs are distinct names, not `x` or `shortcut`, "
                                                     "and only the last may take the rest (`name.*`)"))
    problems += _steps_problems(d, m.steps, ("steps",), known)
    if m.shortcut is not None:
        problems += _expr_problems(d, ("shortcut", "out"), m.shortcut.out, known)
    return problems


def _param_problems(name: str, p: Param) -> list[tuple[FieldPath, str]]:
    if p.type == "choice" and not p.choices:
        return [((), "a `choice` parameter lists its `choices`")]
    if p.default is not None:
        ok, why = _fits(p, p.default)
        if not ok:
            return [(("default",), why)]
    return []


def _fits(p: Param, value: Any) -> tuple[bool, str]:
    kinds = {"int": (int,), "float": (int, float), "bool": (bool,), "choice": (str,)}[p.type]
    if not isinstance(value, kinds) or (p.type != "bool" and isinstance(value, bool)):
        return False, f"must be {'a whole number' if p.type == 'int' else 'a number' if p.type == 'float' else 'true or false' if p.type == 'bool' else 'one of ' + ', '.join(p.choices or ())} (got {shown(value)})"
    if p.type == "choice" and value not in (p.choices or ()):
        return False, f"{shown(value)} is not one of {', '.join(p.choices or ())}"
    if p.min is not None and value < p.min:
        return False, f"must be at least {p.min} (got {value})"
    if p.max is not None and value > p.max:
        return False, f"must be at most {p.max} (got {value})"
    return True, ""


def _expr_problems(d: Definition, path: FieldPath, value: Any, known: set[str]) -> list[Problem]:
    """A problem if ``value`` is an expression that does not parse or reads a name it cannot see."""
    if not isinstance(value, str):
        return []
    try:
        tree = d.tree(value)
    except expressions.ExprError as exc:
        return [d.problem(path, f"{exc.message} (at column {exc.column + 1} of `{value[:60]}`)")]
    for name, col in expressions.names(tree):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            return [d.problem(path, f"unknown name {shown(name)} in `{value[:60]}`{hint} (known here: "
                                    f"{', '.join(sorted(known))})")]
    return _text_comparisons(d, path, tree, value)


def _text_comparisons(d: Definition, path: FieldPath, tree: ast.expr, value: str) -> list[Problem]:
    """Text compared with a parameter must be one of that `choice` parameter's choices: a misspelt
    op (`e1_0 == 'nor_conv3x3'`) would make a `when:` silently false, and a number never equals text."""
    params = d.model.params
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for a, b in zip(operands, operands[1:]):
            for name, text in ((a, b), (b, a)):
                if not (isinstance(name, ast.Name) and name.id in params and isinstance(text, ast.Constant)
                        and isinstance(text.value, str)):
                    continue
                param = params[name.id]
                if param.type != "choice":
                    return [d.problem(path, f"`{value[:60]}` compares the {param.type} parameter `{name.id}` with "
                                            f"text {shown(text.value)}; only a `choice` parameter is text")]
                if text.value not in (param.choices or ()):
                    close = difflib.get_close_matches(text.value, param.choices or [], n=1, cutoff=0.6)
                    hint = f"; did you mean {shown(close[0])}?" if close else ""
                    return [d.problem(path, f"`{value[:60]}` compares `{name.id}` with {shown(text.value)}, which is "
                                            f"not one of its choices{hint} (choices: {', '.join(param.choices or ())})")]
    return []


_EXPR_FIELDS = ("out", "kernel", "stride", "groups", "padding", "dilation", "parts", "index", "rate", "when",
                "start", "size", "radix", "cardinality")


def _steps_problems(d: Definition, steps: list[Any], path: FieldPath, known: set[str]) -> list[Problem]:
    problems = []
    for k, step in enumerate(steps):
        here = path + (k,)
        if isinstance(step, Repeat):
            problems += _expr_problems(d, here + ("count",), step.count, known)
            inner = known | {step.repeat}
            if step.repeat in known:
                problems.append(d.problem(here + ("repeat",), f"`{step.repeat}` is already a name here"))
            problems += _steps_problems(d, step.steps, here + ("steps",), inner)
            continue
        if isinstance(step, BlockUse):
            d.sites.append((here, step, frozenset(known)))
            problems += _expr_problems(d, here + ("when",), step.when, known)
        for name in _EXPR_FIELDS if not isinstance(step, BlockUse) else ():
            problems += _expr_problems(d, here + (name,), getattr(step, name, None), known)
        if isinstance(step, ChosenActStep) and step.fn not in ACTIVATIONS:
            problems += _expr_problems(d, here + ("fn",), step.fn, known)
        texts = [("name", step.name)] + ([("in", step.in_)] if isinstance(step.in_, str) else
                                         [(("in", j), v) for j, v in enumerate(step.in_ or [])])
        if getattr(step, "else_", None) is not None:  # a sub-block use has no `else`
            texts.append(("else", step.else_))
            if step.when is None:
                problems.append(d.problem(here + ("else",), "`else` names what the step stands for when its `when` is "
                                                            "false; give the step a `when`"))
        for where, text in texts:
            at = here + (where if isinstance(where, tuple) else (where,))
            for inner_text in PLACEHOLDER.findall(text):
                problems += _expr_problems(d, at, inner_text, known)
        if PLACEHOLDER.sub("0", step.name) in RESERVED_VALUES:
            problems.append(d.problem(here + ("name",), f"`{step.name}` is reserved: `x` is the unit's input, "
                                                         "`shortcut` what the shortcut policy makes of it"))
    return problems


def check_params(block: UserBlock, d: Definition, problem: Any) -> list[Problem]:
    """The block's parameters against the definition's: known names, types, ranges, required ones given."""
    found = []
    params = d.model.params
    for name, value in block.params.items():
        if name not in params:
            close = difflib.get_close_matches(name, list(params), n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            allowed = ", ".join(["type", *params])
            found.append(problem((name,), f"unknown field {shown(name)}{hint} Allowed here: {allowed} "
                                          f"(the parameters of block `{d.name}`)."))
            continue
        ok, why = _fits(params[name], value)
        if not ok:
            found.append(problem((name,), why))
    for name, p in params.items():
        if p.default is None and name not in block.params:
            found.append(problem((), f"block `{d.name}` needs `{name}` ({p.type}{': ' + p.description if p.description else ''})"))
    return found


def param_values(block: UserBlock, d: Definition) -> dict[str, Any]:
    """The block's parameter values, defaults filled in."""
    return {name: block.params.get(name, p.default) for name, p in d.model.params.items()}


def find_definition(block: UserBlock) -> Definition | None:
    """The attached definition, or (a spec built in Python, not loaded) the bundled block file of its name."""
    if block.definition is not None:
        return block.definition
    if block.type in bundled_block_names():
        d, problems = resolve_uses(bundled_lookup(block.type), bundled_lookup)  # type: ignore[arg-type]
        if not problems and not check_params(block, d, lambda p, m: Problem("", None, None, "", m)):
            block._definition = d
            return d
    return None


# -- sub-blocks: the blocks a block uses, found and checked ------------------------------------------------------

Lookup = Callable[[str], "Definition | None"]  # a type name -> its checked definition; None: no such block


def bundled_lookup(kind: str) -> Definition | None:
    """Bundled block files only (a spec built in Python, with no ``blocks:`` map)."""
    if kind not in bundled_block_names():
        return None
    return load_block_file(kind, BLOCKS_DIR / f"{kind}.yaml", f"<bundled>/{kind}.yaml")


def resolve_uses(d: Definition, lookup: Lookup, chain: tuple[str, ...] = (),
                 declared: tuple[str, ...] = ()) -> tuple[Definition, list[Problem]]:
    """``d`` with the definition of every block it uses attached, recursively, and each use checked
    against it; problems at the use (its file, line and column): an unknown type, a block that
    contains itself (directly or through others), nesting past MAX_DEPTH, parameters that do not fit."""
    if not d.sites:
        return d, []
    chain = (*chain, d.name)
    d = replace(d, uses={})
    problems: list[Problem] = []
    for path, use, known in d.sites:
        kind, where = use.type, path + ("block", "type")
        if kind in chain:
            loop = " -> ".join((*chain[chain.index(kind):], kind))
            problems.append(d.problem(where, f"block `{kind}` is used inside itself ({loop}); a block cannot "
                                             "contain itself: write each level as a block of its own"))
            continue
        if len(chain) >= MAX_DEPTH:
            problems.append(d.problem(where, f"blocks nest more than {MAX_DEPTH} deep ({' -> '.join((*chain, kind))}),"
                                             " the limit"))
            continue
        sub = d.uses.get(kind)
        if sub is None:
            try:
                found = lookup(kind)
            except SpecError as exc:
                problems += exc.problems
                continue
            if found is None:
                problems.append(d.problem(where, _unknown_sub_block(kind, declared)))
                continue
            sub, inner = resolve_uses(found, lookup, chain, declared)
            problems += inner
            d.uses[kind] = sub
        problems += _use_problems(d, path, use, known, sub)
    return d, problems


def fits(param: Param, value: Any) -> tuple[bool, str]:
    """Whether ``value`` is allowed for ``param`` (and why not): a use's evaluated parameter, when planned."""
    return _fits(param, value)


def _unknown_sub_block(kind: str, declared: tuple[str, ...]) -> str:
    options = bundled_block_names()
    close = difflib.get_close_matches(kind, [*declared, *options], n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else "."
    built_in = " A built-in type is no block file and cannot be a sub-block." if kind in _built_in() else ""
    return (f"unknown sub-block type {shown(kind)}{hint}{built_in} A sub-block is a bundled block file "
            f"({', '.join(options) or 'none'}) or one the spec declares under `blocks:` (docs/custom-blocks.md)")


def _use_problems(d: Definition, path: FieldPath, use: BlockUse, known: frozenset[str],
                  sub: Definition) -> list[Problem]:
    """A use's parameters against the used block's: known names, required ones given, values that fit
    (expressions parse and read names the use can see; they are evaluated and checked when planned)."""
    found: list[Problem] = []
    params = sub.model.params
    for name, value in use.args.items():
        at = path + ("block", name)
        param = params.get(name)
        if param is None and name not in SUB_CONTEXT:
            close = difflib.get_close_matches(name, [*params, *SUB_CONTEXT], n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            found.append(d.problem(at, f"unknown field {shown(name)}{hint} Allowed here: "
                                       f"{', '.join(['type', *params, *SUB_CONTEXT])} (the parameters of block "
                                       f"`{sub.name}` and the context it may be given)."))
        elif isinstance(value, str) and not (param is not None and param.type == "choice" and value in (param.choices or ())):
            found += _expr_problems(d, at, value, set(known))
        elif param is not None:
            ok, why = _fits(param, value)
            if not ok:
                found.append(d.problem(at, f"{why} (parameter `{name}` of block `{sub.name}`)"))
    for name, p in params.items():
        if p.default is None and name not in use.args:
            found.append(d.problem(path + ("block",), f"block `{sub.name}` needs `{name}` "
                                                      f"({p.type}{': ' + p.description if p.description else ''})"))
    return found
