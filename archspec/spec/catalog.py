"""Every block type a spec can name, where it comes from and what it takes (``archspec list --blocks``).

Three sources, in this order: the built-in kinds (a spec model each, spec/blocks.py), the
bundled block files (archspec/blocks_lib, read and checked as a spec's use of them would), and
Python plugins: those imported (``--plugin``, a spec's ``plugins:``) with their spec model's
fields, and those installed under the ``archspec.blocks`` entry point group, listed by name
without importing them (a listing runs no plugin code; a spec that names one imports it).
"""

import inspect
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


@dataclass(frozen=True)
class BlockType:
    """One block type: its name, its source (``built-in``, ``block file`` or ``plugin``), where it is
    defined, its parameters (``name=default``, or ``name`` where a spec must give it) and what it does."""

    name: str
    source: str
    where: str
    params: tuple[str, ...]
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.name, "source": self.source, "where": self.where, "params": list(self.params),
                "description": self.description}


_SENTENCE_END = re.compile(r"(?<!\bal)(?<!e\.g)(?<!i\.e)\.\s+(?=[A-Z`(])")  # not "et al. 2016", "e.g. x"


def first_sentence(text: str | None) -> str:
    """The first sentence of a docstring or description, on one line."""
    words = " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())
    end = _SENTENCE_END.search(words)
    return words if end is None else words[:end.start() + 1]


def model_params(model: type[BaseModel]) -> tuple[str, ...]:
    """A spec model's fields but ``type``: ``name=default`` (JSON-like), or ``name`` when required."""
    out = []
    for name, field in model.model_fields.items():
        if name == "type":
            continue
        key = field.alias or name
        if field.is_required():
            out.append(key)
        elif field.default_factory is not None:
            out.append(f"{key}={_shown(field.default_factory())}")  # type: ignore[call-arg]
        elif field.default is not PydanticUndefined:
            out.append(f"{key}={_shown(field.default)}")
    return tuple(out)


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        return "{...}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def block_types() -> list[BlockType]:
    """Every block type: built-in kinds, bundled block files, then plugins (see the module)."""
    from .blocks import BUILT_IN_BLOCKS
    from .plugins import MODELS, entry_point_types, origin
    from .user_blocks import BLOCKS_DIR, bundled_block_names, load_block_file

    found = [BlockType(model.model_fields["type"].annotation.__args__[0], "built-in",
                       f"{model.__module__}.{model.__name__}", model_params(model), first_sentence(model.__doc__))
             for model in BUILT_IN_BLOCKS]
    for name in bundled_block_names():
        definition = load_block_file(name, BLOCKS_DIR / f"{name}.yaml", f"archspec/blocks_lib/{name}.yaml").model
        params = tuple(key if p.default is None else f"{key}={_shown(p.default)}" for key, p in definition.params.items())
        found.append(BlockType(name, "block file", f"archspec/blocks_lib/{name}.yaml", params,
                               first_sentence(definition.description)))
    for name in MODELS.names():
        model = MODELS[name]
        found.append(BlockType(name, "plugin", origin(name) or model.__module__, model_params(model),
                               first_sentence(model.__doc__)))
    for name, target in entry_point_types():
        if name not in MODELS.names():
            found.append(BlockType(name, "plugin", target, (),
                                   "Installed (entry point); imported when a spec names it, or with --plugin."))
    return found
