"""The ``archspec`` command: thin wrappers over the library, one module per command."""

from __future__ import annotations

from .._startup import collector_paused, freeze_imported

with collector_paused():
    import typer

    from .common import App, fail, global_options

app = App(
    name="archspec",
    help="Compile architecture specs (YAML) into PyTorch; count, draw and export them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


app.callback()(global_options)


with collector_paused():
    from . import (analyze, bench, build, diagram, diff, expand, fit, listing, nb201, plot, report, sample,  # noqa: E402,F401
                   schema, sweep, validate)  # each registers its command


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


def _only_the_named_command(argv: list[str]) -> None:
    """Register only the command ``argv`` names, when it names one: typer turns every registered
    command's signature into click parameters before it parses, a tenth of a light command's
    start. Help, errors and the command's own behaviour are unchanged (the command runs alone)."""
    name = _named_command(argv)
    chosen = [c for c in app.registered_commands
              if name is not None and (c.name or getattr(c.callback, "__name__", "").lower().replace("_", "-")) == name]
    if len(chosen) == 1:
        app.registered_commands = chosen


def main() -> None:
    """The console script. Paths that cannot be read or written (a file where a directory
    belongs, a read-only place) end with one message and status 2, like a bad spec."""
    import sys

    freeze_imported()
    _only_the_named_command(sys.argv[1:])
    try:
        app()
    except ImportError as exc:  # an optional module a command needs: name the extra (archspec/extras.py)
        from ..extras import missing_extra

        missing = missing_extra(exc)
        if missing is None:
            raise
        raise SystemExit(fail(str(missing)).exit_code) from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise SystemExit(fail(f"cannot use{where}: {exc.strerror or exc}").exit_code) from None
