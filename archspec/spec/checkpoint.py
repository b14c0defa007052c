"""``checkpoint:``: how another code's state_dict names this network's layers, declared as data.

A network written from blocks whose step names are already the reference code's module
names (timm's ``conv1``, ``bn1``...) differs from that code's checkpoint only in the frame
around the units: archspec's module paths are ``stem``, ``stages.S.I`` and ``head``, timm's
``conv1``, ``layer{S+1}.I`` and ``fc``. A spec says so in a few ordered prefix rules::

    checkpoint:
      format: timm
      names:
        - {ours: stem.conv, theirs: conv1}
        - {ours: "stages.{s}.{i}", theirs: "layer{s + 1}.{i}"}
        - {ours: head.fc, theirs: fc, reshape: squeeze}   # a 1x1 conv there, a linear layer here

``archspec.convert`` applies them (``--weights-format timm``); nothing here is executed: a
pattern's ``{name}`` matches one whole-number segment, and the braces of ``theirs`` hold safe
integer expressions (spec/expressions.py) over those names and ``unit``, the unit's place
among the body's units (0 for the first), for codes that number their blocks in one flat list.
"""


import re
from functools import lru_cache
from typing import Annotated, Literal, Mapping

from pydantic import Field, ValidationInfo, field_validator

from .base import StrictModel, empty_list
from .expressions import ExprError, evaluate, names as names_in, parse

UNIT_INDEX = "unit"  # the one name ``theirs`` may read that no pattern binds
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|\{([a-z_][a-z0-9_]*)\}")
_BRACES = re.compile(r"\{([^{}]*)\}")
_LITERAL = re.compile(r"[A-Za-z0-9_.]*")
MAX_RULES = 256


@lru_cache(maxsize=1024)
def pattern_segments(pattern: str) -> tuple[tuple[str, bool], ...]:
    """``stages.{s}.0`` -> ((stages, False), (s, True), (0, False)); ValueError naming the bad segment."""
    segments, seen = [], set()
    for position, segment in enumerate(pattern.split(".")):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ValueError(f"segment {position + 1} of {pattern!r}, {segment!r}, is neither a module name "
                             "(letters, digits, _), a number, nor a placeholder such as {s}")
        name = match.group(1)
        if name is not None and (name in seen or name == UNIT_INDEX):
            why = "is bound by the rule itself" if name == UNIT_INDEX else "appears twice"
            raise ValueError(f"placeholder {{{name}}} in {pattern!r} {why}; give each placeholder its own name")
        seen.add(name)
        segments.append((name if name is not None else segment, name is not None))
    return tuple(segments)


@lru_cache(maxsize=1024)
def target_parts(target: str, bound: frozenset[str]) -> tuple[str | object, ...]:
    """``layer{s + 1}`` -> ("layer", <tree of s + 1>): literal text and checked expression trees."""
    parts: list[str | object] = []
    end = 0
    for match in _BRACES.finditer(target):
        parts.append(_literal(target[end:match.start()], target))
        try:
            tree = parse(match.group(1))
        except ExprError as exc:
            raise ValueError(f"{{{match.group(1)}}} in {target!r}: {exc.message}") from None
        unknown = [n for n, _ in names_in(tree) if n not in bound | {UNIT_INDEX}]
        if unknown:
            known = ", ".join(sorted(bound | {UNIT_INDEX}))
            raise ValueError(f"{{{match.group(1)}}} in {target!r} reads {unknown[0]!r}, which the rule does not "
                             f"bind; it may read {known}")
        parts.append(tree)
        end = match.end()
    parts.append(_literal(target[end:], target))
    return tuple(p for p in parts if p != "")


def _literal(text: str, target: str) -> str:
    if not _LITERAL.fullmatch(text):
        raise ValueError(f"{target!r} may hold only module names, digits, dots and {{expressions}}: "
                         f"not {text!r}")
    return text


class NameRule(StrictModel):
    """One prefix rule: archspec's module path (a pattern) -> the checkpoint's."""

    ours: str = Field(min_length=1, max_length=200, description=(
        "A prefix of archspec's module paths, segment by segment: `stem.conv`, `stages.{s}.{i}`; "
        "`{name}` matches one number and binds it."))
    theirs: str = Field(min_length=1, max_length=200, description=(
        "The checkpoint's name for that prefix; `{...}` is an integer expression of the placeholders and "
        "`unit` (the unit's place in the body, from 0): `layer{s + 1}.{i}`, `cells.{unit}`."))
    reshape: Literal["squeeze"] | None = Field(None, description=(
        "`squeeze`: the checkpoint's tensors under this prefix may differ from ours only by dimensions of size 1 "
        "(a 1x1 conv there holding a linear layer's weights here); they are reshaped, nothing else."))

    @field_validator("ours")
    @classmethod
    def _pattern(cls, ours: str) -> str:
        pattern_segments(ours)
        return ours

    @field_validator("theirs")
    @classmethod
    def _target(cls, theirs: str, info: ValidationInfo) -> str:
        ours = info.data.get("ours")
        if ours is not None:  # else ``ours`` has its own error
            target_parts(theirs, frozenset(n for n, bound in pattern_segments(ours) if bound))
        return theirs

    def match(self, path: str) -> tuple[dict[str, int], str] | None:
        """The placeholders' values and the rest of ``path`` when the pattern is a prefix of it."""
        segments, parts = pattern_segments(self.ours), path.split(".")
        if len(parts) < len(segments):
            return None
        bound: dict[str, int] = {}
        for (text, is_name), part in zip(segments, parts):
            if is_name and part.isascii() and part.isdigit():
                bound[text] = int(part)
            elif is_name or text != part:
                return None
        return bound, ".".join(parts[len(segments):])

    def render(self, bound: Mapping[str, int]) -> str:
        """``theirs`` with its expressions evaluated; ValueError for a value that is not a whole number >= 0."""
        out = []
        for part in target_parts(self.theirs, frozenset(n for n, b in pattern_segments(self.ours) if b)):
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                value = evaluate(part, bound)  # type: ignore[arg-type]
            except ExprError as exc:
                raise ValueError(f"rule {self.ours} -> {self.theirs}: {exc.message}") from None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"rule {self.ours} -> {self.theirs} gives {value!r} for {bound}; a name's number "
                                 "must be a whole number >= 0")
            out.append(str(value))
        return "".join(out)


class CheckpointNames(StrictModel):
    """The checkpoint format these rules read, and the rules: the first whose ``ours`` is a prefix
    of a layer's module path renames that prefix; a path no rule matches keeps its name."""

    format: Literal["timm", "xautodl"] = Field(description=(
        "Whose state_dict the rules read: `archspec build --weights FILE --weights-format FORMAT`."))
    names: list[NameRule] = Field(default_factory=empty_list, max_length=MAX_RULES, description=(
        "Ordered prefix rules, archspec's module path -> the checkpoint's; the first that matches applies."))
    ignore: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=empty_list, max_length=64, description=(
        "Checkpoint key prefixes with no place in the network, dropped (any other tensor left over is an error)."))
