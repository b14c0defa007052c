"""Composition: ``extends: base.yaml`` and ``--set path=value``, with marks kept per file.

``extends`` follows JSON Merge Patch (RFC 7386) with one addition: mappings merge
key by key, ``null`` deletes a key, lists and scalars replace, and a mapping whose
``type`` or ``rule`` changes replaces the base mapping (its other options belonged
to the old type). Errors point into whichever file wrote the offending value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import FieldPath, Loc, dotted, problem
from .limits import Limits, current
from .yaml_safety import Loader, parse_yaml, read_spec_text, spec_file_name

DISCRIMINATORS = ("type", "rule")
Marks = dict[FieldPath, Loc]


def load_document(path: str | Path, limits: Limits | None = None) -> tuple[dict, Marks]:
    """Read a spec file (``-``: standard input) and everything it extends: merged data and marks.

    ``extends`` in a spec read from standard input is relative to the working directory.
    """
    limits = limits or current()
    return _resolve(read_spec_text(path, limits), spec_file_name(path), limits, ())


def load_text_document(text: str, file: str, limits: Limits | None = None) -> tuple[dict, Marks]:
    return _resolve(text, file, limits or current(), ())


def _resolve(text: str, file: str, limits: Limits, chain: tuple[Path, ...]) -> tuple[dict, Marks]:
    data, marks = parse_yaml(text, file, limits)
    if "extends" not in data:
        return data, marks
    where = marks[("extends",)]
    base_name = data.pop("extends")
    if not isinstance(base_name, str) or not base_name.strip():
        raise problem(file, "`extends` names one spec file, relative to this one, e.g. `extends: resnet-56.yaml`",
                      where.line, where.column, "extends")
    base_path = (Path(file).parent / base_name).resolve()
    here = Path(file).resolve()
    if base_path in chain + (here,):
        cycle = " -> ".join(p.name for p in chain + (here, base_path))
        raise problem(file, f"`extends` makes a cycle: {cycle}", where.line, where.column, "extends")
    if not base_path.is_file():
        raise problem(file, f"`extends: {base_name}`: no such file ({base_path})", where.line, where.column, "extends")
    base_file = _display(base_path, file, base_name)
    base, base_marks = _resolve(read_spec_text(base_path, limits), base_file, limits, chain + (here,))
    replaced: list[FieldPath] = []
    merged = merge(base, data, (), replaced)
    kept = {p: m for p, m in base_marks.items() if not any(p[: len(r)] == r for r in replaced)}
    del marks[("extends",)]
    return merged, {**kept, **marks}


def _display(base_path: Path, file: str, base_name: str) -> str:
    """Name the base file the way the user would: relative to the extending file's directory."""
    parent = Path(file).parent
    return str(parent / base_name) if str(parent) != "." else base_name


def merge(base: Any, patch: Any, path: FieldPath = (), replaced: list[FieldPath] | None = None) -> Any:
    """Deep-merge ``patch`` over ``base``; record in ``replaced`` every path the patch replaced."""
    replaced = [] if replaced is None else replaced
    if not (isinstance(base, dict) and isinstance(patch, dict)) or _retyped(base, patch):
        replaced.append(path)
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
            replaced.append(path + (key,))
        elif key in out:
            out[key] = merge(out[key], value, path + (key,), replaced)
        else:
            out[key] = value
    return out


def _retyped(base: dict, patch: dict) -> bool:
    return any(k in patch and k in base and patch[k] != base[k] for k in DISCRIMINATORS)


def apply_overrides(data: dict, marks: Marks, overrides: Iterable[str], file: str) -> None:
    """Apply ``--set a.b.0.c=value`` strings in order.

    Values are YAML (``[1, 2]``, ``{type: basic}``); ``null`` or nothing removes the field.
    """
    for override in overrides:
        path, value = parse_override(override, file)
        set_path(data, path, value, override, file)
        for p in [p for p in marks if p[: len(path)] == path]:
            del marks[p]
        marks[path] = Loc(file, note=f"--set {override}")


def parse_override(override: str, file: str) -> tuple[FieldPath, Any]:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise problem(file, f"--set {override!r}: expected PATH=VALUE, e.g. body.depth=56")
    path = override_path(key.strip())
    text = f"v: {raw}"
    try:
        yaml.compose(text, Loader=Loader)
    except yaml.YAMLError:
        return path, raw  # not YAML: take the text as a string
    value, _ = parse_yaml(text, f"--set {override}")
    return path, value["v"]


INDEXED = re.compile(r"([^\[\]]*)((?:\[\d+\])*)")


def override_path(key: str) -> FieldPath:
    """``body.stages.0.stride``, or ``body.stages[0].stride`` as error messages print it."""
    path: list[str | int] = []
    for piece in key.split("."):
        match = INDEXED.fullmatch(piece)
        if match is None:  # stray brackets: kept as written, so validation names the field
            path.append(piece)
            continue
        name, indices = match.groups()
        if name:
            path.append(int(name) if name.isdigit() else name)
        path += [int(i) for i in re.findall(r"\d+", indices)]
    return tuple(path)


def set_path(data: dict, path: FieldPath, value: Any, override: str, file: str) -> None:
    """Set ``path`` in ``data``, creating mappings on the way; lists are indexed, not grown."""
    node: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            if last:
                node[part] = value
            else:
                node = node[part]
        elif isinstance(node, dict) and not isinstance(part, int):
            if last and value is None:
                node.pop(part, None)
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            where = dotted(path[: i + 1])
            size = f" (it has {len(node)} items)" if isinstance(node, list) else ""
            raise problem(file, f"--set {override!r}: there is no {where} to set{size}", path=where)
