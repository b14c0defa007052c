"""YAML -> Spec, with every validation error mapped back to its file, line and column.

PyYAML's safe loader composes a node tree whose nodes carry source marks; we index
those marks by field path so a Pydantic error at ``body.block.groups`` points at the
line the user wrote it on. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from .models import Spec

FieldPath = tuple[Any, ...]
Mark = tuple[int, int]  # 1-based line and column


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located as precisely as we can."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class SpecError(ValueError):
    """A spec that cannot be loaded or planned; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceMap:
    """Field path -> (line, column) of the key (for mappings) or item that holds it."""

    def __init__(self, file: str, marks: dict[FieldPath, Mark] | None = None):
        self.file = file
        self.marks = marks or {}

    @classmethod
    def from_node(cls, file: str, node: yaml.Node | None) -> "SourceMap":
        marks: dict[FieldPath, Mark] = {}
        if node is not None:
            _index(node, (), marks, node.start_mark)
        return cls(file, marks)

    def locate(self, path: FieldPath) -> Mark | None:
        """The mark of the longest prefix of ``path`` that the YAML spells out."""
        for cut in range(len(path), -1, -1):
            mark = self.marks.get(tuple(path[:cut]))
            if mark is not None:
                return mark
        return None

    def problem(self, path: FieldPath, message: str) -> Problem:
        mark = self.locate(path)
        line, col = mark if mark else (None, None)
        return Problem(self.file, line, col, dotted(path), message)


def _index(node: yaml.Node, path: FieldPath, marks: dict[FieldPath, Mark], at: yaml.Mark) -> None:
    marks.setdefault(path, (at.line + 1, at.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _index(value, path + (key.value,), marks, key.start_mark)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), marks, item.start_mark)


def dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load(path: str | Path, overrides: Iterable[str] = ()) -> Spec:
    """Read and validate a spec file; raise :class:`SpecError` naming every problem.

    ``overrides`` are ``dotted.path=value`` strings (the CLI's ``--set``), applied to
    the YAML data before validation; values are parsed as YAML scalars or flow nodes.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(file, None, None, "", f"cannot read the spec: {exc}")]) from None
    return load_text(text, file, overrides)


def load_text(text: str, file: str = "<string>", overrides: Iterable[str] = ()) -> Spec:
    """Validate a spec given as YAML text."""
    data, source = parse_yaml(text, file)
    for override in overrides:
        apply_override(data, override, file)
    return validate(data, source)


def apply_override(data: dict, override: str, file: str) -> None:
    """Set ``a.b.0.c=value`` in the loaded data (creating mappings on the way)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise SpecError([Problem(file, None, None, "", f"--set {override!r}: expected PATH=VALUE, e.g. body.depth=56")])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    parts = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            where = dotted(tuple(parts[: i + 1]))
            raise SpecError([Problem(file, None, None, where, f"--set {override!r}: cannot descend into {where}")])
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise SpecError([Problem(file, None, None, key, f"--set {override!r}: no such place in the spec")])


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([Problem(file, line, col, "", f"not valid YAML: {reason}")]) from None
    if not isinstance(data, dict):
        kind = "an empty document" if data is None else f"a {type(data).__name__}"
        raise SpecError([Problem(file, 1, 1, "", f"a spec is a YAML mapping of fields, got {kind}")])
    return data, SourceMap.from_node(file, node)


def validate(data: dict, source: SourceMap) -> Spec:
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_problems(exc, data, source)) from None
    object.__setattr__(spec, "_source", source)
    return spec


def source_of(spec: Spec) -> SourceMap:
    """The source map a spec was loaded with (an empty one for specs built in Python)."""
    return getattr(spec, "_source", None) or SourceMap("<spec>")


def _problems(exc: ValidationError, data: dict, source: SourceMap) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data)
        problems.append(source.problem(path, _message(err, path, data)))
    return problems


def _data_path(loc: tuple, data: Any) -> FieldPath:
    """Drop the union-tag segments Pydantic inserts (``basic``, ``function-after``...)."""
    path: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part not in node and part == loc[-1]:
            path.append(part)
    return tuple(path)


def _message(err: dict, path: FieldPath, data: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"])
        hint = _closest(str(path[-1]), allowed)
        msg = f"unknown field `{path[-1]}`"
        if hint:
            msg += f"; did you mean `{hint}`?"
        if allowed:
            msg += " Allowed here: " + ", ".join(sorted(allowed)) + "."
        return msg
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        expected = ctx.get("expected_tags", "")
        tag = ctx.get("tag", "")
        options = [t.strip().strip("'") for t in expected.split(",")]
        hint = _closest(str(tag), options)
        msg = f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} `{tag}`; registered: {', '.join(options)}"
        return msg + (f"; did you mean `{hint}`?" if hint else ".")
    if kind == "union_tag_not_found":
        return f"missing `{err['ctx']['discriminator'].strip(chr(39))}`: {err['msg']}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [t.strip().strip("'") for t in expected.replace(" or ", ",").split(",") if t.strip()]
        given = err.get("input")
        hint = _closest(str(given), options)
        msg = f"`{given}` is not allowed; use one of {', '.join(options)}"
        return msg + (f" (did you mean `{hint}`?)" if hint else "")
    if kind == "missing":
        return "required field is missing"
    return err["msg"].replace("Value error, ", "")


def _allowed_keys(loc: tuple) -> list[str]:
    """Field names of the model that rejected an unknown key, found by walking the schema."""
    model: Any = Spec
    for part in loc[:-1]:
        model = _step(model, part)
        if model is None:
            return []
    return list(model.model_fields) if _is_model(model) else []


def _step(model: Any, part: Any) -> Any:
    from typing import get_args

    if isinstance(part, int):  # a list index: the list itself was unwrapped already
        return model
    if _is_model(model):
        field = model.model_fields.get(part)
        return _unwrap(field.annotation) if field else None
    for arg in get_args(model) or ():
        arg = _unwrap(arg)
        if _is_model(arg):
            tag = arg.model_fields.get("type") or arg.model_fields.get("rule")
            if tag is not None and part in get_args(tag.annotation):
                return arg
        if isinstance(part, int) and arg is not None:
            return arg
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated/Optional/list wrappers down to a model or a union of models."""
    from typing import Annotated, Union, get_args, get_origin

    seen = 0
    while seen < 8:
        seen += 1
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (list, tuple):
            annotation = get_args(annotation)[0]
        elif origin is Union or str(origin) == "<class 'types.UnionType'>":
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
            else:
                return Union[tuple(args)]  # type: ignore[return-value]
        else:
            return annotation
    return annotation


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _closest(word: str, options: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return match[0] if match else None
