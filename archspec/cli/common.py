"""What every command shares: consoles, the exit status for bad input, error printing."""

from __future__ import annotations

import traceback
from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console

from ..spec import SpecError

EXIT_INVALID = 2  # bad input: an invalid spec, a missing file, a bad option value

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


SET_HELP = "Override a spec field before validation: PATH=VALUE, e.g. body.depth=56 (repeatable)."


def set_option() -> list[str]:
    """The ``--set`` option every command that reads specs takes."""
    return typer.Option([], "--set", "-s", help=SET_HELP, metavar="PATH=VALUE")


class State:
    debug = False


def report_problems(exc: SpecError) -> None:
    for problem in exc.problems:
        errors.print(f"[bold red]error[/]: {problem}", soft_wrap=True, markup=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a bad spec into a located message and exit status 2, never a traceback."""
    try:
        yield
    except SpecError as exc:
        if State.debug:
            errors.print(traceback.format_exc(), markup=False)
        report_problems(exc)
        raise typer.Exit(EXIT_INVALID) from None


def fail(message: str, code: int = EXIT_INVALID) -> "typer.Exit":
    errors.print(f"[bold red]error[/]: {message}", soft_wrap=True)
    return typer.Exit(code)
