"""The bundled specs, shipped inside the package, and reading a spec from any source.

In a checkout ``archspec/specs`` is a link to the repository's ``specs/`` folder;
wheels and sdists carry the files themselves (pyproject.toml's package-data). A
bundled spec's name (its file name without ``.yaml``, as ``archspec list`` prints it)
works wherever a spec path does; a path that exists always wins over a name.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .arguments import checked_overrides, checked_path
from .compose import apply_overrides, load_text_document
from .errors import SourceMap, SpecError, problem
from .limits import Limits
from .loader import load, load_text, validate
from .models import Spec
from .yaml_safety import STDIN

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "specs"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "archspec.schema.json"
SUFFIXES = (".yaml", ".yml")
DICT_FILE = "<dict>"  # how errors name a spec given as a mapping


def bundled_names() -> list[str]:
    """Names of the bundled specs, sorted (partial bases, named ``_*``, are left out)."""
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml") if not p.name.startswith(("_", ".")))


def bundled_path(name: str) -> Path | None:
    """The bundled file called ``name`` (``resnet-50`` or ``resnet-50.yaml``), or None."""
    if not name or "/" in name or "\\" in name or name.startswith((".", "_")):
        return None
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in SUFFIXES else name
    return BUNDLED_DIR / f"{stem}.yaml" if stem in bundled_names() else None


def spec_path(path: str | Path) -> Path:
    """``path`` itself when it exists (or is ``-``, standard input), else the bundled spec it names.

    A bare name that is neither is a :class:`SpecError` suggesting the closest bundled names.
    """
    text = str(path)
    if text == STDIN or Path(path).exists():
        return Path(path)
    found = bundled_path(text)
    if found is not None:
        return found
    if not is_bare_name(text):
        return Path(path)  # a path: the loader says it cannot be read
    raise unknown_name(text)


def is_bare_name(text: str) -> bool:
    """``resnet-50``, not ``specs/resnet-50`` or ``resnet-50.yaml``: meant as a bundled spec's name."""
    return bool(text) and "/" not in text and "\\" not in text and Path(text).suffix not in SUFFIXES


def unknown_name(text: str) -> SpecError:
    """The error for a name that is neither a file nor a bundled spec, with the closest names."""
    close = difflib.get_close_matches(text, bundled_names(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    return problem(text, f"no such file, and no bundled spec of that name{hint} (`archspec list` shows them)")


def load_any(source: Spec | Mapping[str, Any] | str | Path, overrides: Iterable[str] = (),
             limits: Limits | None = None) -> Spec:
    """A :class:`Spec` from a Spec, a mapping, YAML text, a file path or a bundled spec's name.

    A ``str`` holding a newline or starting with ``{`` is YAML text; any other ``str`` is a
    path or a name. A mapping is checked like a file (the same limits; ``extends`` relative
    to the working directory) and is not modified. A Spec given with ``overrides`` is
    re-validated from its data with them applied.
    """
    overrides = list(checked_overrides(overrides))
    if isinstance(source, Spec):
        return load_any(source.model_dump(mode="json"), overrides, limits) if overrides else source
    if isinstance(source, Mapping):
        return _load_mapping(source, overrides, limits)
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        return load_text(source, overrides=overrides, limits=limits)
    return load(spec_path(checked_path(source, "spec")), overrides, limits)


def _load_mapping(data: Mapping[str, Any], overrides: list[str], limits: Limits | None) -> Spec:
    """Through YAML text, so that a mapping meets the same node, depth and tag checks as a file."""
    try:
        text = yaml.safe_dump(copy.deepcopy(dict(data)), sort_keys=False)
    except yaml.YAMLError as exc:  # RepresenterError(message, the value)
        what = type(exc.args[-1]).__name__ if len(exc.args) > 1 else "a value"
        raise problem(DICT_FILE, f"a spec mapping holds only plain data (str, int, float, bool, None, lists "
                                 f"and dicts), not {what}") from None
    try:
        merged, _ = load_text_document(text, DICT_FILE, limits)
    except SpecError as exc:  # its lines and columns are the dumped text's, which the user never saw
        raise SpecError([replace(p, line=None, column=None) if p.file == DICT_FILE else p
                         for p in exc.problems]) from None
    marks: dict = {}  # no lines: a mapping's problems are named by field path only
    apply_overrides(merged, marks, overrides, DICT_FILE)
    return validate(merged, SourceMap(DICT_FILE, marks))
