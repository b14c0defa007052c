"""Located problems: what the loader, the composer and the planner report to a user.

A :class:`SourceMap` maps a field path (``("body", "stages", 1, "stride")``) to the
file, line and column that wrote it. With ``extends`` a spec's fields come from
several files, so every mark carries its own file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

FieldPath = tuple[Any, ...]


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
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class SpecError(ValueError):
    """A spec that cannot be loaded or planned; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


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
