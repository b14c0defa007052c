"""Write a diagram: DOT text, or SVG/PNG/PDF rendered by Graphviz's ``dot``, atomically.

``dot`` is a real run-time dependency of the rendered formats. When it is missing the
DOT source is still written (next to the requested file) so nothing is lost, and
:class:`DotMissing` says how to install it.
"""

from __future__ import annotations

from pathlib import Path

import graphviz

from ..files import write_bytes, write_text
from .formats import suffix_format

FORMATS = ("svg", "png", "pdf", "dot")

INSTALL_HINT = (
    "Graphviz's `dot` program was not found on PATH; install it with "
    "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) "
    "or `conda install graphviz`, then run the command again"
)


class DotMissing(RuntimeError):
    """``dot`` is not installed; ``dot_file`` holds the DOT source written instead, unless a file
    was already there (``written`` False): a fallback never replaces a file the user did not name."""

    def __init__(self, dot_file: Path, written: bool = True):
        where = (f"the DOT source was written to {dot_file}" if written else
                 f"the DOT source was not written: {dot_file} exists and is left as it was; "
                 "ask for it by name (-o FILE.dot) to replace it")
        super().__init__(f"{INSTALL_HINT}; {where}")
        self.dot_file = dot_file
        self.written = written


class RenderError(RuntimeError):
    """``dot`` ran and failed; the message carries what it said."""


def output_format(target: Path) -> str:
    """The format named by ``target``'s suffix; ``ValueError`` names the allowed ones."""
    return suffix_format(target, FORMATS, "diagram")


def write_diagram(graph: graphviz.Digraph, target: str | Path, dpi: int | None = None) -> Path:
    """Write ``graph`` to ``target`` in the format its suffix names; return the path written.

    ``dpi``: the resolution of a PNG (None: Graphviz's default, 96 with cairo); other formats are vector.
    """
    target = Path(target)
    fmt = output_format(target)
    if dpi is not None and fmt == "png":
        graph = graph.copy()
        graph.attr(dpi=str(dpi))
    if fmt == "dot":
        return write_text(target, graph.source)
    try:
        data = graph.pipe(format=fmt, quiet=True)
    except graphviz.ExecutableNotFound:
        dot_file = target.with_suffix(".dot")
        try:
            write_text(dot_file, graph.source, replace=False)
        except FileExistsError:
            raise DotMissing(dot_file, written=False) from None
        raise DotMissing(dot_file) from None
    except graphviz.CalledProcessError as exc:  # dot's messages are not always UTF-8
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip()
        raise RenderError(f"dot failed to render {target.name}: {detail}") from None
    return write_bytes(target, data)
