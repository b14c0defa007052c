"""Located problems: what the loader, the composer and the planner report to a user.

A :class:`SourceMap` maps a field path (``("body", "stages", 1, "stride")``) to the
file, line and column that wrote it. With ``extends`` a spec's fields come from
several files, so every mark carries its own file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

FieldPath = tuple[Any, ...]

# What a message may echo of the input: user text reaches terminals and CI logs.
MAX_ECHO = 80  # characters of one echoed value (a name, a key, a value)
MAX_MESSAGE = 2_000  # characters of one problem's message, a safety net behind MAX_ECHO
MAX_FIELD = 200  # characters of a field path (its keys are user text too)
MAX_PROBLEMS = 20  # problems listed per error; the rest are counted
# C0/C1 controls (ESC starts terminal escape sequences, BEL rings), DEL, and the Unicode
# bidirectional overrides that reorder how a line reads ("Trojan source").
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``), so that
    echoing input can never drive the terminal."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def capped(text: str, limit: int) -> str:
    """At most ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def shown(value: Any, limit: int = MAX_ECHO) -> str:
    """An input value as messages echo it: in backticks, escaped, and at most ``limit`` characters."""
    return f"`{capped(printable(str(value)), limit)}`"


@dataclass(frozen=True)
class Loc:
    """Where a field was written: a file and 1-based line/column, or a ``--set`` note."""

    file: str
    line: int | None = None
    column: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located as precisely as we can."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        """``FILE:LINE:COL: field: message``, escaped and capped (see :func:`printable`)."""
        where = self.where
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        return f"{where}: {self.detail}"

    @property
    def where(self) -> str:
        """The file's name, escaped and capped."""
        return capped(printable(self.file), MAX_FIELD)

    @property
    def detail(self) -> str:
        """``field: message``, escaped and capped."""
        field = f"{capped(printable(self.path), MAX_FIELD)}: " if self.path else ""
        return field + capped(printable(self.message), MAX_MESSAGE)


class SpecError(ValueError):
    """A spec that cannot be loaded or planned; carries every problem found.

    ``str()`` lists the first :data:`MAX_PROBLEMS` and counts the rest; ``problems`` has them all.
    """

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(listed(self.problems)))


def listed(problems: list[Problem], limit: int = MAX_PROBLEMS) -> list[str]:
    """The first ``limit`` problems as lines, then one line saying how many more there are."""
    lines = [str(p) for p in problems[:limit]]
    if len(problems) > limit:
        files = dict.fromkeys(p.file for p in problems[limit:])
        where = capped(printable(", ".join(files)), MAX_FIELD)
        lines.append(f"... and {len(problems) - limit:,} more problems in {where} (fix these first)")
    return lines


def problem(file: str, message: str, line: int | None = None, column: int | None = None, path: str = "") -> SpecError:
    """A one-problem :class:`SpecError` (for whole-file troubles: unreadable, not YAML...)."""
    return SpecError([Problem(file, line, column, path, message)])


class SourceMap:
    """Field path -> :class:`Loc` of the key (for mappings) or item that holds it."""

    def __init__(self, file: str, marks: dict[FieldPath, Loc] | None = None):
        self.file = file
        self.marks = marks or {}

    def locate(self, path: FieldPath) -> Loc:
        """The mark of the longest prefix of ``path`` that a file spells out."""
        for cut in range(len(path), -1, -1):
            mark = self.marks.get(tuple(path[:cut]))
            if mark is not None:
                return mark
        return Loc(self.file)

    def problem(self, path: FieldPath, message: str) -> Problem:
        loc = self.locate(path)
        if loc.note:
            message += f" (value from {loc.note})"
        return Problem(loc.file, loc.line, loc.column, dotted(path), message)


def dotted(path: FieldPath) -> str:
    """``("body", "stages", 1, "stride")`` -> ``body.stages[1].stride``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
