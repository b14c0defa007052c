"""The ``archspec`` command: thin wrappers over the library, one module per command."""

from __future__ import annotations

from .._startup import collector_paused, freeze_imported

with collector_paused():
    import typer

    from .common import fail, global_options

app = typer.Typer(
    name="archspec",
    help="Compile architecture specs (YAML) into PyTorch; count, draw and export them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


app.callback()(global_options)


with collector_paused():
    from . import analyze, build, diagram, diff, expand, fit, report, sample, schema, sweep, validate  # noqa: E402,F401


def main() -> None:
    """The console script. Paths that cannot be read or written (a file where a directory
    belongs, a read-only place) end with one message and status 2, like a bad spec."""
    freeze_imported()
    try:
        app()
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise SystemExit(fail(f"cannot use{where}: {exc.strerror or exc}").exit_code) from None
