"""What every command shares: consoles, global limits, exit status 2 for bad input, error printing."""

from __future__ import annotations

import inspect
import os
import traceback
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from ..spec import Problem, SpecError
from ..spec.errors import MAX_MESSAGE, MAX_PROBLEMS, capped, listed, printable
from ..spec.limits import configure

EXIT_INVALID = 2  # bad input: an invalid spec, a missing file, a bad option value
MAX_COLUMNS = 10_000  # wider than any terminal; a larger COLUMNS is garbage


def terminal_size(name: str) -> Optional[int]:
    """``COLUMNS`` or ``LINES`` read by the one number reader; None when unset or not a sensible
    size (``²``, 5,000 digits, 0): rich reads them with ``str.isdigit()`` and ``int()`` and crashes."""
    from ..spec.numbers import NumberError, parse_int

    try:
        value = parse_int(os.environ.get(name, ""))
    except NumberError:
        return None
    return value if 0 < value <= MAX_COLUMNS else None


for _name in ("COLUMNS", "LINES"):  # before rich reads them: a size it cannot read is unset
    if _name in os.environ and terminal_size(_name) is None:
        del os.environ[_name]

class LazyConsole:
    """A rich ``Console``, made on first use: everything asked of it is asked of that console.

    Importing rich is a fifteenth of a light command's start, and the commonest runs print no
    rich text: ``report -f json`` writes to stdout directly, and a piped ``validate`` prints
    plain lines (:func:`say`).
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    @property
    def made(self) -> Any:
        """The rich Console itself (for code that needs the object, not its attributes)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made, name)


console = LazyConsole(highlight=False, soft_wrap=True, emoji=False)  # ":name:" in user text stays as written
errors = LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def escape(text: str) -> str:
    """rich's markup escape (``[`` in user text is not a style), importing rich only when text is escaped."""
    from rich.markup import escape as escaped

    return escaped(text)


_COLOUR_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")


def plain_stdout() -> bool:
    """Whether stdout is a pipe or file that rich would print to without colour or styles: not a
    terminal, and no variable asks rich to treat it as one. Lines then go out as plain text."""
    import sys

    isatty = getattr(sys.stdout, "isatty", None)
    return (isatty is not None and not isatty() and type(sys.stdout).__module__ in ("_io", "io")
            and not any(os.environ.get(name) for name in _COLOUR_VARIABLES))


def say(line: Callable[[bool], str]) -> None:
    """One line on stdout, made by ``line(markup)``: plain text where it would come out unstyled anyway
    (:func:`plain_stdout`), without importing rich; else rich markup, printed by rich."""
    if plain_stdout():
        import sys

        sys.stdout.write(line(False) + "\n")
    else:
        console.print(line(True))


SET_HELP = "Override a spec field before validation: PATH=VALUE, e.g. body.depth=56; PATH=null removes it (repeatable)."


def set_option() -> list[str]:
    """The ``--set`` option every command that reads specs takes."""
    return typer.Option([], "--set", "-s", help=SET_HELP, metavar="PATH=VALUE")


LARGEST_CLI_INT = 2**63 - 1  # what every consumer takes (itertools.islice, torch seeds, process counts)


class _FlagsTakeNoValue:
    """Help without a ``<bool>`` placeholder beside flags (typer's rich help prints one, as if
    ``--verify`` took a value): a flag's metavar is empty. An integer option without a maximum
    gets :data:`LARGEST_CLI_INT` (``--max-draws 10**30`` raised deep in ``itertools.islice``);
    typer reads the digits (ASCII only) and refuses what is out of range with one message."""

    def get_params(self, ctx: typer.Context) -> list:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
            described = getattr(param, "type_descriptor", None)
            info = getattr(described, "parameter_info", None)
            if getattr(described, "annotation", None) is int and info is not None and getattr(info, "max", 0) is None:
                info.max = LARGEST_CLI_INT
        return params


def unwrapped(text: Optional[str]) -> Optional[str]:
    """Help paragraphs as single lines, so that rich wraps them to the terminal instead of
    keeping the docstring's line breaks mid-sentence (a paragraph starting with ``\b`` keeps them)."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
                       for p in paragraphs)


PLUGIN_HELP = ("Import this Python module first: a plugin registering block types (docs/custom-blocks.md#python-plugins); "
               "repeatable. Installed plugins are found by their entry point without it.")


def reads_specs(command: Any) -> bool:
    """Whether a command loads specs (it takes ``--set``, samples a space or lists specs and block types):
    those take ``--plugin``."""
    return command.name in ("sample", "list") or any(p.name == "sets" for p in command.params)


_PLUGIN_PARAM: list[Any] = []


def _plugin_param() -> Any:
    """The ``--plugin`` option as typer makes options (taken from a one-option probe command, made once)."""
    if not _PLUGIN_PARAM:
        probe = typer.Typer()

        @probe.command()
        def _probe(plugin: list[str] = typer.Option([], "--plugin", metavar="MODULE", help=PLUGIN_HELP)) -> None:
            """Never run."""

        _PLUGIN_PARAM.append(typer.main.get_command(probe).params[0])
    return _PLUGIN_PARAM[0]


class Command(_FlagsTakeNoValue, TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = unwrapped(self.help)
        if reads_specs(self):  # one place gives every command that loads specs the plugin option
            self.params.append(_plugin_param())

    def invoke(self, ctx: typer.Context) -> Any:
        """Every command: a file that cannot be written or read (a full disk, a read-only place,
        a link or FIFO where an output goes) ends with one message naming it and status 2. The
        ``--plugin`` modules are imported first; one that fails is one paragraph and status 2."""
        plugins = ctx.params.pop("plugin", ())
        if plugins:
            from ..spec.plugins import load_plugins

            with user_errors():
                load_plugins(plugins)
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise  # a closed stdout: the commands that print tables handle it themselves
        except OSError as exc:
            show_traceback()
            raise file_error(exc) from None


class Group(_FlagsTakeNoValue, TyperGroup):
    pass


class App(typer.Typer):
    """The ``archspec`` app: every command, whoever adds it, gets help without ``<bool>``."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cls=Group, **kwargs)  # type: ignore[arg-type]

    def command(self, *args: object, **kwargs: object):  # type: ignore[override]
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)  # type: ignore[arg-type]


class State:
    debug = False


def _count(text: str) -> int:
    """A count given as ``10000000000``, ``1e10`` or ``10G`` (:func:`archspec.spec.numbers.parse_count`)."""
    from ..spec.numbers import NumberError, parse_count

    try:
        value = parse_count(text, "a whole number such as 10000000000 or 1e10")
    except NumberError as exc:
        raise typer.BadParameter(str(exc)) from None
    if value < 1:
        raise typer.BadParameter("must be at least 1")
    return value


def _memory(text: str) -> int:
    from ..plan.memory_budget import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _limit(flag: str, env: str, what: str) -> Optional[int]:
    return typer.Option(None, flag, parser=_count, envvar=env, help=what, metavar="N")


def _print_version(asked: bool) -> None:
    if asked:
        from .. import __version__
        from ..extras import DISTRIBUTION

        console.print(f"archspec {__version__} (distribution {DISTRIBUTION})", markup=False)
        raise typer.Exit()


def global_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks behind errors."),
    max_params: Optional[int] = _limit("--max-params", "ARCHSPEC_MAX_PARAMS",
                                       "Refuse specs with more parameters (default 1e10)."),
    max_macs: Optional[int] = _limit("--max-macs", "ARCHSPEC_MAX_MACS",
                                     "Refuse specs with more MACs per image (default 1e13)."),
    max_bytes: Optional[int] = _limit("--max-bytes", "ARCHSPEC_MAX_BYTES",
                                      "Refuse spec files larger than this (default 1 MiB)."),
    max_memory: Optional[int] = typer.Option(
        None, "--max-memory", parser=_memory, envvar="ARCHSPEC_MAX_MEMORY", metavar="SIZE",
        help="Refuse builds estimated to need more memory, e.g. 8GiB (default: half of this machine's)."),
    allow_roots: list[Path] = typer.Option(
        [], "--allow-root", metavar="DIR", file_okay=False,
        help="Let `extends` read specs under DIR too (default: only the spec's own directory tree; repeatable)."),
) -> None:
    """Options before the command name, e.g. ``archspec --debug --max-params 1e11 build ...``."""
    State.debug = debug
    configure(max_params=max_params, max_macs=max_macs, max_bytes=max_bytes, max_memory=max_memory,
              extends_roots=tuple(allow_roots) or None)


class ErrorFormat(str, Enum):
    text = "text"
    github = "github"
    gitlab = "gitlab"  # a code-quality JSON report on stdout (ci_formats.py), written by validate


def report_problems(exc: SpecError, fmt: ErrorFormat = ErrorFormat.text) -> None:
    """Every problem of ``exc`` up to ``MAX_PROBLEMS``, then how many more: input with 9,000
    unknown keys gives a screenful, not megabytes."""
    shown = exc.problems[:MAX_PROBLEMS]
    for problem in shown:
        if fmt == ErrorFormat.github:
            console.print(github_annotation(problem), markup=False, soft_wrap=True)
        else:
            errors.print(f"[bold red]error[/]: {escape(str(problem))}", soft_wrap=True)
    if len(exc.problems) > len(shown):
        more = listed(exc.problems)[-1]
        if fmt == ErrorFormat.github:
            console.print(f"::error::{_escape_data(more)}", markup=False, soft_wrap=True)
        else:
            errors.print(f"[bold red]error[/]: {escape(more)}", soft_wrap=True)


def github_annotation(problem: Problem) -> str:
    """A GitHub Actions workflow command: ``::error file=F,line=L,col=C::message``."""
    props = [f"file={_escape_property(problem.where)}"]
    if problem.line is not None:
        props += [f"line={problem.line}", f"col={problem.column}"]
    return f"::error {','.join(props)}::{_escape_data(problem.detail)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def show_traceback() -> None:
    """Inside an ``except``: print the traceback when ``--debug`` asked for it."""
    if State.debug:
        errors.print(traceback.format_exc(), markup=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a bad spec into a located message and exit status 2, never a traceback."""
    try:
        yield
    except SpecError as exc:
        show_traceback()
        report_problems(exc)
        raise typer.Exit(EXIT_INVALID) from None


def untrusted(text: object, markup: bool = True) -> str:
    """Text that came from outside (a file name, a path given with -o, a command's stderr) made
    safe to print: control characters escaped (no terminal escape sequences), capped, and,
    for a rich print with markup on (the default), markup escaped. The one helper for every
    such echo; ``markup=False`` for prints that take the text as written."""
    text = capped(printable(str(text)), MAX_MESSAGE)
    return escape(text) if markup else text


def file_error(exc: OSError) -> "typer.Exit":
    """The message for a file that could not be used: outputs (:class:`archspec.files.OutputError`)
    say nothing was written, since the atomic writers left the target as it was."""
    from ..files import OutputError

    what = exc.filename if exc.filename is not None else ""
    why = exc.strerror or str(exc)
    if isinstance(exc, OutputError):
        return fail(f"cannot use {what}: {why}; nothing was written")
    return fail(f"cannot use {what}: {why}" if what else f"cannot use a file: {why}")


def fail(message: str, code: int = EXIT_INVALID) -> "typer.Exit":
    """Print one error (escaped: it may quote a checkpoint's tensor names or a path) and exit."""
    errors.print(f"[bold red]error[/]: {untrusted(message)}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def writing(target: object) -> Iterator[None]:
    """An output that cannot be written (a full disk, a link or FIFO in its place, no permission)
    ends with one message naming the file and status 2; the atomic writers left nothing behind."""
    try:
        yield
    except OSError as exc:
        show_traceback()
        if exc.filename is None:
            exc.filename = str(target)
        from ..files import OutputError

        raise file_error(exc if isinstance(exc, OutputError) else OutputError(exc.errno, exc.strerror or str(exc),
                                                                               exc.filename)) from None


app = App(
    name="archspec",
    help="Compile architecture specs (YAML) into PyTorch; count, draw and export them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(global_options)
