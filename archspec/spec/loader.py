"""YAML -> Spec, with every validation error mapped back to its file, line and column.

Reading is in :mod:`.yaml_safety` (untrusted text -> plain data and source marks),
composition in :mod:`.compose` (``extends``, ``--set``); this module validates the
data with Pydantic and turns each error into a :class:`Problem` that names the file,
line, column and field, says what is allowed and suggests the closest valid name.
All problems of a file are reported together. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from .arguments import checked_limits, checked_overrides, checked_path, checked_roots, checked_text
from .compose import apply_overrides, load_document, load_text_document
from .yaml_safety import spec_file_name
from .errors import FieldPath, Loc, Problem, SourceMap, SpecError, dotted, shown
from .limits import Limits
from .numbers import FLOAT
from .models import Spec
from .kinds import BLOCK_KINDS as _BUILT_IN
from .plugins import plugins_in
from .user_blocks import attach_definitions, unknown_types_in

__all__ = ["Loc", "Problem", "SourceMap", "SpecError", "dotted", "load", "load_text", "source_of", "validate"]


def load(path: str | Path, overrides: Iterable[str] = (), limits: Limits | None = None,
         allow_roots: Iterable[str | Path] = ()) -> Spec:
    """Read and validate a spec file; raise :class:`SpecError` naming every problem.

    ``overrides`` are ``dotted.path=value`` strings (the CLI's ``--set``), applied after
    ``extends`` and before validation. ``extends`` reads bases only from the spec's own
    directory tree and from ``allow_roots`` (the CLI's ``--allow-root``).
    """
    path, overrides = checked_path(path), checked_overrides(overrides)
    roots = checked_roots(allow_roots)
    data, marks = load_document(path, checked_limits(limits), roots)
    return _finish(data, marks, spec_file_name(path), overrides, roots)


def load_text(text: str, file: str = "<string>", overrides: Iterable[str] = (), limits: Limits | None = None,
              allow_roots: Iterable[str | Path] = ()) -> Spec:
    """Validate a spec given as YAML text (``extends`` is relative to ``file``'s directory)."""
    text, file, overrides = checked_text(text), str(checked_path(file, "file")), checked_overrides(overrides)
    roots = checked_roots(allow_roots)
    data, marks = load_text_document(text, file, checked_limits(limits), roots)
    return _finish(data, marks, file, overrides, roots)


def _finish(data: dict, marks: dict[FieldPath, Loc], file: str, overrides: Iterable[str],
            allow_roots: Iterable[str | Path] = ()) -> Spec:
    apply_overrides(data, marks, overrides, file)
    return validate(data, SourceMap(file, marks), allow_roots)


def validate(data: dict, source: SourceMap, allow_roots: Iterable[str | Path] = ()) -> Spec:
    """Validate spec data; then find, check and attach the definitions of its user blocks
    (spec/user_blocks.py: block files confined to the spec's tree and ``allow_roots``). The Python
    plugins it names under ``plugins:`` are loaded first, so that their block types are known."""
    plugins_in(data, source)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        found = _problems(exc, data, source)
        seen = {p.path for p in found}
        raise SpecError(found + [p for p in unknown_types_in(data, source) if p.path not in seen]) from None
    if spec.blocks or any(not b.type or b.type not in _BUILT_IN for b in _blocks_of(spec)):
        attach_definitions(spec, source, allow_roots)
    object.__setattr__(spec, "_source", source)
    return spec


def _blocks_of(spec: Spec) -> list[Any]:
    return [spec.body.block, *(s.block for s in spec.body.stages if s.block is not None)]


def source_of(spec: Spec) -> SourceMap:
    """The source map a spec was loaded with (an empty one for specs built in Python)."""
    return getattr(spec, "_source", None) or SourceMap("<spec>")


def _tag_key(ctx: dict) -> str:
    """The field a union is told apart by: its discriminator, or ``type`` where a function reads it
    (``_aux_kind()``: aux heads, whose ``type`` may be left out)."""
    key = ctx.get("discriminator", "'type'").strip("'")
    return "type" if key.endswith("()") else key


def _problems(exc: ValidationError, data: dict, source: SourceMap, root: Any = None) -> list[Problem]:
    """One problem per field path: a union's alternatives are merged into one message. ``root``: the
    model validated (default :class:`Spec`; a block file's is spec/user_blocks.BlockDefinition)."""
    root = Spec if root is None else root
    by_path: dict[FieldPath, list[str]] = {}
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data)
        if err["type"] == "union_tag_invalid" and isinstance(_at(data, path), dict):
            path += (_tag_key(err["ctx"]),)
        message = _message(err, path, root)
        if message not in by_path.setdefault(path, []):
            by_path[path].append(message)
    problems = []
    for path, messages in by_path.items():
        given = _at(data, path)
        text = "; or ".join(messages)
        if isinstance(given, bool):
            text += f" (got the boolean `{str(given).lower()}`: YAML reads yes/no/on/off/true/false as booleans)"
        elif isinstance(given, str) and _is_number(given) and "`" not in text:
            text += f' (got the quoted string `"{given}"`: quotes make YAML read text; write {given} without them)'
        elif isinstance(given, str) and YAML11_NUMBER.fullmatch(given) and "`" not in text:
            text += (f" (got {shown(given)}: YAML 1.2 reads underscores, 0b and colons in a number as text; "
                     "write the plain decimal number)")
        elif given is not _ABSENT and not isinstance(given, (dict, list)) and "`" not in text:
            text += f" (got {shown(given)})"
        problems.append(source.problem(path, text))
    return problems


_ABSENT = object()


# What YAML 1.1 (PyYAML) reads as a number and YAML 1.2 as text: 1_000, 0b101, 1:30.
YAML11_NUMBER = re.compile(r"[-+]?(?:[0-9][0-9_]*_[0-9_]*|0b[01_]+|[0-9]+(?::[0-5]?[0-9])+)(?:\.[0-9_]*)?")


def _is_number(text: str) -> bool:
    """``"56"``, ``"0.5"``, ``"1e-5"``: a string YAML would have read as a number without its quotes."""
    return bool(FLOAT.fullmatch(text))


def _at(data: Any, path: FieldPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _ABSENT
    return data


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


def _message(err: dict, path: FieldPath, root: Any = None) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"], root)
        hint = _closest(str(path[-1]), allowed)
        msg = f"unknown field {shown(path[-1])}"
        if hint:
            msg += f"; did you mean `{hint}`?"
        if allowed:
            msg += " Allowed here: " + ", ".join(sorted(allowed)) + "."
        return msg
    if kind == "union_tag_invalid":
        options = _options(ctx.get("expected_tags", ""))
        return _choice(f"unknown {_tag_key(ctx)}", ctx.get("tag", ""), options)
    if kind == "union_tag_not_found":
        key = ctx["discriminator"].strip("'")
        tags = _tags_at(err["loc"], root)
        return f"missing `{key}`" + (f": one of {', '.join(tags)}" if tags else "")
    if kind == "literal_error":
        return _choice("", err.get("input"), _options(ctx.get("expected", "")))
    if kind == "missing":
        size = _tuple_size(err["loc"], root) if isinstance(err["loc"][-1], int) else None
        return f"a list of exactly {size} items" if size else "required field is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        tags = _tags_at(err["loc"], root)
        like = f" like {{type: {tags[0]}}}" if tags else ""
        return f"expected a mapping{like}, got {_kind(err.get('input'))}"
    if kind == "string_pattern_mismatch" and path == ("name",):
        return (f"{shown(err.get('input'))} cannot name output files: use letters, digits and . _ + -, "
                "starting with a letter or digit")
    msg = err["msg"].replace("Value error, ", "")
    return msg.replace("Input should be", "must be").replace("Field required", "required field is missing")


def _choice(what: str, given: Any, options: list[str]) -> str:
    hint = _closest(str(given), options)
    head = f"{what} {shown(given)}" if what else f"{shown(given)} is not allowed"
    return f"{head}; use one of {', '.join(options)}" + (f"; did you mean `{hint}`?" if hint else "")


def _options(expected: str) -> list[str]:
    return [t.strip().strip("'") for t in expected.replace(" or ", ",").split(",") if t.strip()]


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {shown(value)}"
    return {list: "a list", type(None): "nothing"}.get(type(value), shown(value))


def _tags_at(loc: tuple, root: Any = None) -> list[str]:
    """The registered ``type``/``rule``/``op`` names of the union at ``loc`` (empty if none)."""
    from typing import get_args

    model: Any = root or Spec
    for part in loc:
        model = _walk(model, part)
        if model is None:
            return []
    tags = []
    for arg in map(_unwrap, get_args(model)):
        tag = _is_model(arg) and _tag_field(arg)
        if tag:
            tags += [str(t) for t in get_args(tag.annotation)]
    return tags


def _tuple_size(loc: tuple, root: Any = None) -> int | None:
    """How many items the fixed-length list (``size: [h, w]``, ``widths: [a, b, c]``) at ``loc`` takes."""
    from typing import get_args, get_origin

    model: Any = root or Spec
    annotation = None
    for part in loc:
        if _is_model(model) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        model = _step(model, part)
        if model is None:
            break
    pending = [annotation]
    while pending:
        current = pending.pop()
        if get_origin(current) is tuple and Ellipsis not in get_args(current):
            return len(get_args(current))
        pending += list(get_args(current))
    return None


def _allowed_keys(loc: tuple, root: Any = None) -> list[str]:
    """Field names of the model that rejected an unknown key, found by walking the schema."""
    model: Any = root or Spec
    for part in loc[:-1]:
        model = _walk(model, part)
        if model is None:
            return []
    return [f.alias or name for name, f in model.model_fields.items()] if _is_model(model) else []


def _walk(model: Any, part: Any) -> Any:
    """``_step``, passing over the segments a function-discriminated union adds to a location
    (``user`` for a user block, ``step``/``repeat`` in block files): the union itself."""
    found = _step(model, part)
    if found is None and isinstance(part, str) and model is not None and not _is_model(model):
        return model
    return found


def _step(model: Any, part: Any) -> Any:
    from typing import get_args

    if _is_model(model):
        if isinstance(part, int):  # an item of a list already unwrapped to its model
            return model
        field = model.model_fields.get(part)
        return _unwrap(field.annotation) if field else None
    for arg in get_args(model) or ():
        arg = _unwrap(arg)
        if _is_model(arg):
            tag = _tag_field(arg)
            if tag is not None and part in get_args(tag.annotation):
                return arg
        if isinstance(part, int) and arg is not None:
            return arg
    return None


def _tag_field(model: Any) -> Any:
    """The field a model's union tells it apart by: ``type``, ``rule`` or a block step's ``op``."""
    fields = model.model_fields
    return fields.get("type") or fields.get("rule") or fields.get("op")


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
    cutoff = 0.5 if len(word) <= 4 else 0.6  # one wrong letter of "bn" is half the word
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return match[0] if match else None
