"""Plainer words for PyYAML's syntax errors: a tab is named as a tab, indentation trouble as such.

PyYAML (and libyaml, whose messages differ) report a tab as "found character that cannot
start any token", and a mis-indented line as "did not find expected key" or "mapping values
are not allowed in this context". Both usually mean the indentation is off.
"""

from __future__ import annotations

# messages (PyYAML's and libyaml's) that a wrongly indented line produces
INDENTATION = (
    "did not find expected key", "mapping values are not allowed", "could not find expected ':'",
    "expected <block end>", "did not find expected '-' indicator", "block sequence entries are not allowed",
)
INDENT_HINT = ("; check this line's indentation against the lines above: the fields of one mapping start in the "
               "same column, a nested mapping's further right, with spaces")


def explain(reason: str, text: str, line: int | None, column: int | None) -> str:
    """``reason`` (PyYAML's problem text) with the tab or the indentation named, when either is the cause."""
    here = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    char = here[column - 1] if column and column <= len(here) else ""
    indent = here[:len(here) - len(here.lstrip(" \t"))]
    if char == "\t" or "\\t" in reason or "tab character" in reason or ("cannot start any token" in reason
                                                                        and "\t" in indent):
        return (f"a tab character at line {line}, column {column}: YAML indents with spaces only; "
                "replace the tab with spaces")
    if any(message in reason for message in INDENTATION):
        return reason + INDENT_HINT
    return reason
