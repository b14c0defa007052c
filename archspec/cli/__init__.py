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


def main() -> None:
    """The console script. Paths that cannot be read or written (a file where a directory
    belongs, a read-only place) end with one message and status 2, like a bad spec."""
    freeze_imported()
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
