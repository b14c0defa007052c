"""Python plugins: block types defined by a user's module, found by name only when a spec needs them.

A plugin is an ordinary Python module that, when imported, registers a block type: its spec
model (a Pydantic class whose ``type`` is a ``Literal``) here, and its planner, which returns a
step graph, in plan/ (``archspec.plan.plugins.register_block`` does both). From then on the
type validates, plans, counts, builds and exports like a built-in one.

A plugin module is imported only when it is named:

- ``--plugin MODULE`` on the command line, or :func:`load_plugins` in Python;
- a spec's ``plugins: [MODULE, ...]``, read before the spec validates;
- an installed distribution's entry point in the group ``archspec.blocks`` whose *name* is the
  block type (``eca = eca_plugin``): looked up only when a spec uses a type that is neither
  built in, declared, bundled nor registered, so importing archspec scans nothing.

A module that fails to import, or registers a type that clashes with a built-in type, a bundled
block file or another plugin's type, is one located problem (exit status 2 from the CLI), not a
traceback. A spec naming a plugin runs that module's code, as ``--plugin`` does: only installed
modules (or those on ``PYTHONPATH``) can be named, never a path.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable, Iterable, get_args

from pydantic import BaseModel, ValidationError

from ..registry import Registry
from .errors import FieldPath, Problem, SourceMap, SpecError, shown

ENTRY_POINT_GROUP = "archspec.blocks"
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_PLUGINS = 32  # modules one spec may name

MODELS: Registry[type[BaseModel]] = Registry("plugin block type")
_ORIGIN: dict[str, str] = {}  # block type -> the module that registered it
_LOADED: set[str] = set()  # modules imported as plugins
_importing: list[str] = []  # the plugin module being imported (registrations name it)


class PluginClash(ValueError):
    """A plugin registers a type that is already taken: a built-in, a bundled block file, another plugin's."""


def model_type(model: Any) -> str:
    """The block type a plugin's spec model declares: its ``type: Literal["name"]``."""
    field = getattr(model, "model_fields", {}).get("type") if isinstance(model, type) else None
    literal = get_args(field.annotation) if field is not None else ()
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or len(literal) != 1 \
            or not isinstance(literal[0], str):
        raise TypeError(f"{model!r} is not a block spec model: a Pydantic model with `type: Literal[\"name\"]`")
    return literal[0]


def register_model(model: type[BaseModel]) -> str:
    """Register a plugin's block spec model; its type. Registering the same class again is a no-op."""
    from .kinds import BLOCK_KINDS
    from .user_blocks import NAME_RE, bundled_block_names

    kind = model_type(model)
    by = _importing[-1] if _importing else getattr(model, "__module__", "?")
    if not NAME_RE.match(kind):
        raise PluginClash(f"block type {shown(kind)} is not a valid name (lower-case letters, digits and _, "
                          "starting with a letter)")
    if kind in BLOCK_KINDS:
        raise PluginClash(f"block type `{kind}` is built into archspec; name the plugin's type otherwise")
    if kind in bundled_block_names():
        raise PluginClash(f"block type `{kind}` is a bundled block file's (archspec/blocks_lib/{kind}.yaml); "
                          "name the plugin's type otherwise")
    known = MODELS.get(kind)
    if known is not None and known is not model:
        raise PluginClash(f"block type `{kind}` is already registered by plugin `{_ORIGIN.get(kind, '?')}`; "
                          "two plugins cannot define one type")
    MODELS.add(kind, model)
    _ORIGIN[kind] = by
    return kind


def registered_types() -> list[str]:
    return MODELS.names()


def origin(kind: str) -> str | None:
    """The module that registered plugin type ``kind`` (what ``expand`` writes under ``plugins:``)."""
    return _ORIGIN.get(kind)


def load_plugins(names: Iterable[str], where: Callable[[int, str], Problem] | None = None) -> list[str]:
    """Import each plugin module once; SpecError naming every one that could not be loaded.

    ``where(i, message)`` locates the problem of the ``i``-th name (a spec's ``plugins[i]``); by
    default the name is reported as given with ``--plugin``.
    """
    problems = []
    loaded = []
    for i, name in enumerate(names):
        try:
            import_plugin(name)
            loaded.append(name)
        except PluginError as exc:
            problems.append(where(i, exc.message) if where is not None else Problem("--plugin", None, None, "",
                                                                                     exc.message))
    if problems:
        raise SpecError(problems)
    return loaded


class PluginError(Exception):
    """A plugin that could not be loaded: ``message`` is the one paragraph a user sees."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def import_plugin(name: str, how: str = "") -> None:
    """Import the plugin module ``name`` (once); PluginError with one paragraph saying why it failed."""
    if not isinstance(name, str) or not MODULE_NAME.match(name) or len(name) > 200:
        raise PluginError(f"plugin {shown(name)} is not a module name (dotted Python identifiers, such as "
                          "`eca_plugin` or `mylab.blocks`; never a path)")
    if name in _LOADED:
        return
    _importing.append(name)
    try:
        importlib.import_module(name)
    except PluginClash as exc:
        raise PluginError(f"plugin `{name}` cannot register its block: {exc}") from None
    except ModuleNotFoundError as exc:
        missing = exc.name or name
        hint = ("; install its package (pip install ...) or put its directory on PYTHONPATH"
                if missing == name.split(".")[0] or missing == name else f" (it needs `{missing}`)")
        raise PluginError(f"plugin `{name}`{how} could not be imported: no module named `{missing}`{hint}") from None
    except (Exception, SystemExit) as exc:  # a plugin's own error, whatever it is: one paragraph, no traceback
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise PluginError(f"plugin `{name}`{how} could not be imported: {shown(what, 300)} "
                          "(run with --debug for the traceback)") from exc
    finally:
        _importing.pop()
    _LOADED.add(name)


def entry_point_types() -> list[tuple[str, str]]:
    """The installed plugins' block types and targets (``module:attr``), by their ``archspec.blocks``
    entry points, sorted; nothing is imported."""
    from importlib.metadata import entry_points

    return sorted({(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)})


def from_entry_point(kind: str) -> bool:
    """Load the installed plugin whose ``archspec.blocks`` entry point is named ``kind``; whether it now
    registers that type. Entry points are read only here, when a spec uses a type nobody knows."""
    if kind in MODELS:
        return True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            import_plugin(ep.module, how=f" (entry point `{kind}` of {ep.dist.name if ep.dist else 'a package'})")
            if kind not in MODELS:
                raise PluginError(f"plugin `{ep.module}` (entry point `{kind}` in group {ENTRY_POINT_GROUP}) was "
                                  f"imported but registers no block type `{kind}`; it registers: "
                                  f"{', '.join(t for t, m in _ORIGIN.items() if m == ep.module) or 'none'}")
            return True
    return False


def plugins_in(data: Any, source: SourceMap) -> None:
    """Load the plugins a spec's raw data names under ``plugins:`` (before it validates, so that its
    blocks of plugin types are known); malformed entries are left to the spec's validation."""
    names = data.get("plugins") if isinstance(data, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) > MAX_PLUGINS:
        return
    load_plugins(names, lambda i, m: source.problem(("plugins", i), m))


def known_type(kind: str, located: Callable[[str], Problem]) -> bool:
    """Whether ``kind`` is (or, through its entry point, now is) a plugin's type; a plugin that
    failed to load is raised as a located SpecError."""
    try:
        return from_entry_point(kind)
    except PluginError as exc:
        raise SpecError([located(exc.message)]) from None


def check_block(block: Any, path: FieldPath, problem: Callable[[FieldPath, str], Problem]) -> list[Problem]:
    """Validate a plugin block's fields (a UserBlock's ``type`` and parameters) with its plugin's model,
    attaching the validated model to the block; the problems, located under ``path``."""
    from .loader import _problems

    model = MODELS[block.type]
    data = {"type": block.type, **block.params}
    try:
        block._plugin = model.model_validate(data)
    except ValidationError as exc:
        found = _problems(exc, data, SourceMap("<plugin>"), root=model)
        return [problem(_split(p.path), p.message) for p in found]
    return []


def _split(dotted_path: str) -> FieldPath:
    """``a.b[1]`` -> ``("a", "b", 1)``: a problem's field path, relocated under the block's."""
    parts: list[Any] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", dotted_path):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return tuple(parts)
