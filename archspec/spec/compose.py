"""Composition: ``extends: base.yaml`` and ``--set path=value``, with marks kept per file.

``extends`` follows JSON Merge Patch (RFC 7386) with one addition: mappings merge
key by key, ``null`` deletes a key, lists and scalars replace, and a mapping whose
``type`` or ``rule`` changes replaces the base mapping (its other options belonged
to the old type). Errors point into whichever file wrote the offending value.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from .errors import MAX_ECHO, FieldPath, Loc, SpecError, capped, dotted, printable, problem
from .limits import Limits, current
from .yaml_safety import Loader, loader_for, parse_yaml, read_spec_text, spec_file_name

DISCRIMINATORS = ("type", "rule")
Marks = dict[FieldPath, Loc]


def load_document(path: str | Path, limits: Limits | None = None,
                  allow_roots: Iterable[str | Path] = ()) -> tuple[dict, Marks]:
    """Read a spec file (``-``: standard input) and everything it extends: merged data and marks.

    ``extends`` in a spec read from standard input is relative to the working directory.
    Bases are read only from the spec's own directory tree and from ``allow_roots``.
    """
    limits = limits or current()
    file = spec_file_name(path)
    return _resolve(read_spec_text(path, limits), file, limits, (), extends_roots(file, allow_roots, limits))


def load_text_document(text: str, file: str, limits: Limits | None = None,
                       allow_roots: Iterable[str | Path] = ()) -> tuple[dict, Marks]:
    limits = limits or current()
    return _resolve(text, file, limits, (), extends_roots(file, allow_roots, limits))


def extends_roots(file: str, allow_roots: Iterable[str | Path], limits: Limits) -> tuple[Path, ...]:
    """Where ``extends`` may read: the directory of the spec (the working directory for standard
    input and text), then ``--allow-root`` directories (``Limits.extends_roots``) and ``allow_roots``.

    A spec is untrusted input: confined, ``extends: /etc/shadow`` cannot make archspec read
    (and echo in its errors) a file the spec's author could not see.
    """
    roots = []
    for root in (Path(file).parent, *limits.extends_roots, *allow_roots):
        try:
            roots.append(Path(root).resolve())
        except (OSError, RuntimeError, ValueError):
            continue  # an unusable root allows nothing
    return tuple(roots)


SPEC_SUFFIXES = (".yaml", ".yml")


Refuse = Callable[[str], SpecError]


def _resolve(text: str, file: str, limits: Limits, chain: tuple[Path, ...], roots: tuple[Path, ...],
             refuse_base: Refuse | None = None) -> tuple[dict, Marks]:
    """``refuse_base``, for a base: the extending file's located refusal (its ``extends`` line)."""
    if refuse_base is not None:  # before reading it: even a duplicate-key error would quote a line
        _require_spec_keys(_top_level_keys(text, file, limits), refuse_base)
    data, marks = parse_yaml(text, file, limits)
    if refuse_base is not None:  # again, with what `<<` merges in
        _require_spec_keys(list(data), refuse_base)
    if "extends" not in data:
        return data, marks
    where = marks[("extends",)]
    base_name = data.pop("extends")
    here = Path(file).resolve()

    def refuse(why: str) -> SpecError:
        return problem(file, why, where.line, where.column, "extends")

    base_path = _base_path(base_name, file, roots, refuse)

    def refuse_base(why: str) -> SpecError:
        return refuse(f"{_named(base_name)}: {why}")

    if base_path in chain + (here,):
        cycle = " -> ".join(p.name for p in chain + (here, base_path))
        raise problem(file, f"`extends` makes a cycle: {cycle}", where.line, where.column, "extends")
    base_file = _display(base_path, file, base_name)
    base, base_marks = _resolve(read_spec_text(base_path, limits), base_file, limits, chain + (here,), roots,
                                refuse_base)
    replaced: list[FieldPath] = []
    merged = merge(base, data, (), replaced)
    kept = {p: m for p, m in base_marks.items() if not any(p[: len(r)] == r for r in replaced)}
    del marks[("extends",)]
    return merged, {**kept, **marks}


def _base_path(base_name: Any, file: str, roots: tuple[Path, ...], refuse: Refuse) -> Path:
    """The real path of an ``extends`` base, or a located refusal saying why it cannot be one."""
    if not isinstance(base_name, str) or not base_name.strip():
        raise refuse("`extends` names one spec file, relative to this one, e.g. `extends: resnet-56.yaml`")
    named = _named(base_name)
    if "\x00" in base_name:
        raise refuse(f"{named}: a file name cannot contain a NUL byte")
    if Path(base_name).suffix not in SPEC_SUFFIXES:
        raise refuse(f"{named}: a base is a spec file, named *.yaml or *.yml")
    try:
        base_path = (Path(file).parent / base_name).resolve()
        if not any(base_path.is_relative_to(root) for root in roots):
            raise refuse(f"{named} is outside the directory of the spec ({_echo(roots[0])}), so it is not "
                         "read; allow another directory with --allow-root DIR (API: allow_roots=[DIR])")
        if not stat.S_ISREG(os.stat(base_path).st_mode):
            raise refuse(f"{named}: not a regular file ({_echo(base_path)})")
    except RuntimeError:  # Python 3.11's Path.resolve on a symlink loop
        raise refuse(f"{named}: a loop of symbolic links") from None
    except OSError as exc:
        why = {errno.ENOENT: "no such file", errno.ELOOP: "a loop of symbolic links",
               errno.ENAMETOOLONG: "the name is too long"}.get(exc.errno, exc.strerror or str(exc))
        raise refuse(f"{named}: {why}") from None
    return base_path


def _named(base_name: str) -> str:
    return f"`extends: {capped(printable(base_name), MAX_ECHO)}`"


def _echo(path: Path) -> str:
    return capped(printable(str(path)), MAX_ECHO)


def _top_level_keys(text: str, file: str, limits: Limits) -> list[Any]:
    """The keys of a YAML mapping as written (``<<`` included), without building anything;
    empty when the text is not a mapping (reading it will then say what it is)."""
    try:
        node = yaml.compose(text, Loader=loader_for(text, file, limits))
    except (yaml.YAMLError, RecursionError, SpecError):
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    return [key.value if isinstance(key, yaml.ScalarNode) else None for key, _ in node.value]


def _require_spec_keys(keys: list[Any], refuse: Refuse) -> None:
    """A base whose top-level keys are not spec fields is not a spec: refuse it without
    echoing any of its content (its keys could be a credential file's lines)."""
    from .models import Spec

    known = {*Spec.model_fields, "extends", "<<"}
    foreign = [k for k in keys if k not in known]
    if foreign:
        raise refuse(f"not a spec: {len(foreign)} of its {len(keys)} top-level keys are not spec "
                     "fields; its content is not shown (check it on its own with archspec validate)")


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
        raise problem(file, f"--set {_quoted(override)}: expected PATH=VALUE, e.g. body.depth=56")
    path = override_path(key.strip())
    if not path or "" in path:
        raise problem(file, f"--set {_quoted(override)}: the path has an empty part; name the field with "
                            "names and indices joined by single dots, e.g. body.depth=56 or body.stages[1].stride=2")
    text = f"v: {raw}"
    try:
        yaml.compose(text, Loader=Loader)
    except yaml.YAMLError:
        return path, raw  # not YAML: take the text as a string
    try:
        value, _ = parse_yaml(text, f"--set {override}")
    except SpecError as exc:  # e.g. `!!int ""`: name the option and the field, not the scratch document
        raise problem(file, f"--set {_quoted(override)}: {exc.problems[0].message}", path=dotted(path)) from None
    return path, value["v"]


def _quoted(override: str) -> str:
    return repr(capped(override, MAX_ECHO))


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
        if name or not indices:  # an empty name alone (`a..b`, `.x`) is kept, and refused
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
