"""The ``archspec`` command: thin wrappers over the library, one module per command."""

from __future__ import annotations

from .._startup import collector_paused, freeze_imported

with collector_paused():
    from . import common
    from .common import fail


def __getattr__(name: str) -> object:
    """``app``: the typer app with every command registered (for ``CliRunner`` and other callers
    that run commands in process); the console script registers only the one it runs (:func:`main`)."""
    if name == "app":
        _register(None)
        return common.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_name(command: object) -> str:
    return getattr(command, "name", None) or getattr(command, "callback").__name__.lower().replace("_", "-")


def _register(name: str | None) -> None:
    """Import the modules that register commands: only the named command's when one is named and its
    module is named after it (``report`` is cli/report.py), else every module of this package
    (discovered, not listed). Then register only that command, when one is named: typer turns every
    registered command's signature into click parameters before it parses, and each module costs its
    imports, together a sixth of a light command's start. Help, errors and the command's own behaviour
    are unchanged (the command runs alone)."""
    import importlib
    import pkgutil

    from ..registry import discover

    with collector_paused():
        modules = {info.name for info in pkgutil.iter_modules(__path__)}
        module = name.replace("-", "_") if name is not None else None
        if module in modules:
            importlib.import_module(f"{__name__}.{module}")
        if name is None or not any(_command_name(c) == name for c in common.app.registered_commands):
            discover(__name__)
    chosen = [c for c in common.app.registered_commands if name is not None and _command_name(c) == name]
    if len(chosen) == 1:
        common.app.registered_commands = chosen


_VALUE_OPTIONS = frozenset({"--max-params", "--max-macs", "--max-bytes", "--max-memory", "--allow-root"})


def _named_command(argv: list[str]) -> str | None:
    """The command ``argv`` names (the first word that is neither a global option nor its value)."""
    words = iter(argv)
    for word in words:
        if word in _VALUE_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main() -> None:
    """The console script. Paths that cannot be read or written (a file where a directory
    belongs, a read-only place) end with one message and status 2, like a bad spec."""
    import sys

    _register(_named_command(sys.argv[1:]))
    freeze_imported()
    try:
        common.app()
    except ImportError as exc:  # an optional module a command needs: name the extra (archspec/extras.py)
        from ..extras import missing_extra

        missing = missing_extra(exc)
        if missing is None:
            raise
        raise SystemExit(fail(str(missing)).exit_code) from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise SystemExit(fail(f"cannot use{where}: {exc.strerror or exc}").exit_code) from None
