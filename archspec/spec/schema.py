"""The spec language's JSON Schema (for editors) and its Markdown reference (for people).

Both derive from the Pydantic models, so they cannot drift from what the loader
accepts; two things the models accept that Pydantic's schema does not show are
added here: the ``extends`` key (handled by :mod:`.compose`) and a shortcut
given as a bare name (``shortcut: zero_pad``).

Regenerate the checked-in copies after changing the models (a test fails when
they are stale)::

    PYTHONPATH=$PWD python scripts/gen_spec_reference.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Iterable, Literal, Union, get_args, get_origin

from .models import Spec

SCHEMA_FILE = "archspec.schema.json"
REFERENCE_FILE = "spec-reference.md"
LANGUAGE_FILE = "spec-language.md"  # its tables' fields columns are generated
# Models that also accept a plain string, and the field it fills: `shortcut: zero_pad`, `init: msra`.
BARE_NAME_MODELS = {"ShortcutSpec": "type", "InitSpec": "preset"}
EXTENDS = {
    "type": "string",
    "description": "A spec file (relative to this one) or a bundled spec's name (`pyramidnet`) to start from; "
    "this file's fields are deep-merged "
    "over it: mappings merge, lists and scalars replace, `null` removes a field.",
}


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "archspec spec"}
    schema["properties"] = {"extends": EXTENDS, **schema["properties"]}
    for name, field in BARE_NAME_MODELS.items():
        model = schema["$defs"][name]
        prop = model["properties"][field]
        enum = prop.get("enum") or next(s["enum"] for s in prop["anyOf"] if "enum" in s)
        bare = {"type": "string", "enum": enum}
        description = model.pop("description", "")
        schema["$defs"][name] = {"description": description, "anyOf": [bare, model]}
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def markdown_reference(schema: dict[str, Any] | None = None) -> str:
    """One section per model, reached from the top in reading order, one table row per field."""
    schema = schema or json_schema()
    defs = schema["$defs"]
    out = [
        "# Spec reference",
        "",
        "<!-- Generated from the JSON Schema by scripts/gen_spec_reference.py; do not edit. -->",
        "",
        "Every mapping forbids unknown keys. `type` and `rule` pick a member of a union; "
        "each member lists its own fields. The machine-readable schema is "
        f"[{SCHEMA_FILE}]({SCHEMA_FILE}); see [authoring.md](authoring.md) for the workflow.",
        "",
    ]
    for name, model in _in_reading_order(schema, defs):
        out += _section(name, model)
    return "\n".join(out).rstrip() + "\n"


BLOCK_REFERENCE_FILE = "block-reference.md"


def block_reference() -> str:
    """The block language's reference (block files, spec/user_blocks.py), made as the spec's is."""
    from .user_blocks import BlockDefinition

    schema = BlockDefinition.model_json_schema()
    out = [
        "# Block file reference",
        "",
        "<!-- Generated from the JSON Schema by scripts/gen_spec_reference.py; do not edit. -->",
        "",
        "A block file defines a block type as data ([custom-blocks.md](custom-blocks.md) is the tutorial). "
        "Every mapping forbids unknown keys; a step's `op` picks its kind. Fields marked as expressions take "
        "a number or a safe expression: numbers, names (parameters, `let` values and the unit's context: "
        "`in_channels`, `width`, `stride`, `index`, `first`, `stage`, `drop_path`), `+ - * / // %`, "
        "comparisons, `and or not`, `a if c else b`, and `round floor ceil min max make_divisible`; "
        "every value stays within 2**31, and widths must be whole numbers.",
        "",
    ]
    for name, model in _in_reading_order(schema, schema["$defs"], "BlockDefinition"):
        out += _section(name, model)
    return "\n".join(out).rstrip() + "\n"


def write_docs(folder: Path) -> list[Path]:
    """Write the schema and the references into ``folder`` (atomically); return the paths."""
    from ..files import write_text

    return [write_text(folder / SCHEMA_FILE, schema_text()), write_text(folder / REFERENCE_FILE, markdown_reference()),
            write_text(folder / BLOCK_REFERENCE_FILE, block_reference())]


def _in_reading_order(schema: dict, defs: dict, root: str = "Spec") -> list[tuple[str, dict]]:
    order, queue = [(root, schema)], [schema]
    seen = {root}
    while queue:
        for ref in _refs(queue.pop(0)):
            if ref not in seen:
                seen.add(ref)
                order.append((ref, defs[ref]))
                queue.append(defs[ref])
    return order


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else []
        return own + [r for k, v in node.items() if k != "$defs" for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _section(name: str, model: dict) -> list[str]:
    lines = [f"## {name}", ""]
    if model.get("description"):
        lines += [_prose(model["description"]), ""]
    variants = [m for m in model.get("anyOf", []) if m.get("type") == "object"]
    if "anyOf" in model and not model.get("properties"):
        lines += ["Either " + " or ".join(_type(m) for m in model["anyOf"]) + ".", ""]
    body = variants[0] if variants else model
    props = body.get("properties", {})
    if props:
        required = set(body.get("required", ()))
        lines += ["| field | type | default | description |", "|---|---|---|---|"]
        for field, spec in props.items():
            default = "required" if field in required else _code(spec.get("default"))
            lines.append(f"| `{field}` | {_type(spec)} | {default} | {_cell(spec.get('description', ''))} |")
        lines.append("")
    return lines


def _type(spec: dict) -> str:
    if "$ref" in spec:
        target = spec["$ref"].rsplit("/", 1)[-1]
        return f"[{target}](#{target.lower()})"
    if "discriminator" in spec:
        key = spec["discriminator"]["propertyName"]
        mapping = spec["discriminator"]["mapping"]
        links = [f"[`{tag}`](#{ref.rsplit('/', 1)[-1].lower()})" for tag, ref in mapping.items()]
        return f"`{key}`: " + ", ".join(links)
    if "oneOf" in spec:  # a union told apart by a function (aux heads: `type` may be left out)
        return " or ".join(_type(s) for s in spec["oneOf"])
    if "anyOf" in spec:
        kinds = [_type(s) for s in spec["anyOf"] if s.get("type") != "null"]
        nullable = any(s.get("type") == "null" for s in spec["anyOf"])
        return " or ".join(kinds) + (" (optional)" if nullable else "")
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type", "any")
    if kind == "array":
        if "prefixItems" in spec:
            return "[" + ", ".join(_type(s) for s in spec["prefixItems"]) + "]"
        text = f"list of {_type(spec.get('items', {}))}"
        return text + (f" (at least {spec['minItems']})" if spec.get("minItems") else "")
    return kind + _bounds(spec)


def _bounds(spec: dict) -> str:
    marks = [("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="),
             ("minLength", "length >=")]
    found = [f"{op} {spec[key]}" for key, op in marks if key in spec]
    return f" ({', '.join(found)})" if found else ""


def _code(value: Any) -> str:
    return "" if value is None else _cell(f"`{json.dumps(value)}`")


def _prose(text: str) -> str:
    return " ".join(text.replace("``", "`").split())


def _cell(text: str) -> str:
    return _prose(text).replace("|", "\\|")


# --- the tables of docs/spec-language.md ---------------------------------------------------
# Each table there starts with a marker naming the spec field whose union it lists and the
# column that holds each member's fields; that column is regenerated from the models, the
# others (layout, prose) are written by hand. `shortcut` lists policies: its rows are checked.
TABLE_MARK = re.compile(r"<!-- fields of (?P<field>[\w.]+), column (?P<column>\d+)(?:, without (?P<skip>[\w, ]+))? "
                        r"\(scripts/gen_spec_reference\.py\) -->\n\n(?P<table>(?:\|.*\n)+)")


def union_members(path: str) -> dict[str, type]:
    """The models a spec field's union holds, by their tag (``type`` or ``rule``): ``body.block`` -> blocks."""
    from .models import BodySpec

    owner = {"stem": Spec, "head": Spec, "body": BodySpec}[path.split(".")[0]]
    annotation = owner.model_fields[path.split(".")[-1]].annotation
    members: dict[str, type] = {}
    for model in _models_in(annotation):
        key = "rule" if "rule" in model.model_fields else "type"
        for tag in get_args(model.model_fields[key].annotation) or ():
            members[tag] = model
    return members


def field_summary(model: type, skip: Iterable[str] = ()) -> str:
    """A model's fields as the language tables write them: `name` (required), `name` (default),
    `name` (optional), and a choice's values with the default first."""
    parts = []
    for name, info in model.model_fields.items():
        if name in ("type", "rule", *skip):
            continue
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        choices = [a for a in _literal_values(info.annotation)]
        if choices and not _models_in(info.annotation):
            ordered = sorted(choices, key=lambda c: c != default)
            parts.append(f"`{name}`: " + "\\|".join(f"`{_yaml(c)}`" for c in ordered))
        elif info.is_required():
            parts.append(f"`{name}`")
        elif default is None:
            parts.append(f"`{name}` (optional)")
        else:
            parts.append(f"`{name}` ({_yaml(default)})")
    return ", ".join(parts)


def updated_language_tables(text: str) -> str:
    """``text`` (docs/spec-language.md) with every marked table's fields column regenerated; a row
    whose tag is no member of the union, or a union member without a row, is an error."""
    def table(match: re.Match) -> str:
        members = union_members(match["field"])
        column = int(match["column"])
        skip = [s.strip() for s in (match["skip"] or "").split(",") if s.strip()]
        rows, seen = [], []
        for number, line in enumerate(match["table"].splitlines()):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]  # `\|` in a cell stays
            tag = cells[0].strip("`")
            if number < 2:  # the header and the rule under it
                pass
            elif tag in members:
                seen.append(tag)
                cells[column - 1] = field_summary(members[tag], skip) or "-"
                line = "| " + " | ".join(cells) + " |"
            elif line.startswith("| `"):
                raise ValueError(f"{match['field']}: the table has a row `{tag}`, which is not one of its types")
            rows.append(line)
        missing = sorted(set(members) - set(seen) - set(LISTED_ELSEWHERE.get(match["field"], ())))
        if missing:
            raise ValueError(f"{match['field']}: the table has no row for {', '.join(missing)}")
        head = match.group(0)[: match.start("table") - match.start(0)]
        return head + "\n".join(rows) + "\n"

    return TABLE_MARK.sub(table, text)


# Members of a union that docs/families.md describes instead (the torchvision families' parts).
LISTED_ELSEWHERE = {
    "stem": ("layers", "none", "patchify", "patch_embed", "swin_patch_embed"),
    "body.block": ("dense", "inception", "inception_v3", "fire", "mbconv", "fused_mbconv", "bneck", "shuffle",
                   "regnet", "plain", "convnext", "vit", "maxvit", "swin"),
    "body.widening": ("regnet",),
}


def _models_in(annotation: Any) -> list[type]:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _literal_values(annotation: Any) -> list[Any]:
    """A choice's values: a Literal, possibly optional or annotated (not one inside a list or tuple)."""
    origin = get_origin(annotation)
    if origin is Literal:
        return list(get_args(annotation))
    if origin in (Union, UnionType, Annotated):
        return [v for arg in get_args(annotation) for v in _literal_values(arg)]
    return []


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)
