"""Read untrusted YAML as plain data, with a source mark for every field.

PyYAML's safe loader already refuses object-constructing tags, but it shares
aliased nodes, so a "billion laughs" document loads in microseconds and explodes
later, in whatever walks the data. We compose the node tree (libyaml when
available) and build the data ourselves, counting every node we visit, alias
expansions included, so such a document fails after ``max_nodes`` visits. The
same walk records where each field was written, refuses tags that are not plain
data, and reports duplicate keys (PyYAML silently keeps the last).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from .errors import FieldPath, Loc, Problem, SpecError, dotted, problem, shown
from .yaml_hints import explain
from .limits import Limits, current
from .numbers import NumberError, yaml12_number

INT, FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


def yaml12(loader: type) -> type:
    """``loader`` (or a dumper) resolving plain numbers as YAML 1.2's core schema does (what
    editors' YAML servers use): ``010`` is the integer 10, ``1e-5`` a float; ``1_000``, ``0b101``
    and ``1:30`` are text. Numbers are then read by :func:`archspec.spec.numbers.yaml12_number`;
    a dumper quotes a string such as ``"1e5"`` that YAML 1.2 would read as a number."""
    cls = type(f"{loader.__name__}12", (loader,), {})
    cls.yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag not in (INT, FLOAT)]
                                   for first, resolvers in loader.yaml_implicit_resolvers.items()}
    cls.add_implicit_resolver(INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
    cls.add_implicit_resolver(
        FLOAT, re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                          r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+.0123456789"))
    return cls


Loader = yaml12(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
PythonLoader = yaml12(yaml.SafeLoader)  # for nesting libyaml's C stack cannot take
C_SAFE_NESTING = 1000  # libyaml recurses in C and crashes near 30k levels; stay far below
_TAG = "tag:yaml.org,2002:"
PLAIN_SCALARS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
MERGE = _TAG + "merge"


STDIN = "-"  # the path that means standard input
STDIN_NAME = "<stdin>"  # how errors name it


def spec_file_name(path: str | Path) -> str:
    """The name errors and source marks use for ``path``."""
    return STDIN_NAME if str(path) == STDIN else str(path)


def read_spec_text(path: str | Path, limits: Limits | None = None) -> str:
    """The file's (or, for ``-``, standard input's) text, refusing what is too big, binary,
    not UTF-8, or not a regular file: a FIFO or device could block or never end."""
    limits = limits or current()
    file = spec_file_name(path)
    if str(path) == STDIN:
        data = _read_stdin(file, limits.max_bytes + 1)
    else:
        data = _read_regular_file(path, file, limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise problem(file, f"the file is larger than {limits.max_bytes:,} bytes; specs are small "
                            "text files (raise the cap with --max-bytes if this one is real)")
    if b"\x00" in data:
        raise problem(file, "this is a binary file (it contains NUL bytes), not a YAML spec")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        raise problem(file, f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded; "
                            "save the spec as UTF-8", line, col) from None


IS_A_DIRECTORY = "is a directory; give a spec file (validate also takes directories)"
NOT_A_FILE = "is not a regular file (a pipe, socket or device); give a spec file, or - to read the spec from standard input"


def _read_stdin(file: str, size: int) -> bytes:
    """Standard input's bytes; a closed one (``archspec validate - <&-``) is a located refusal."""
    stream = getattr(sys.stdin, "buffer", None)
    try:
        if stream is None:
            raise OSError("it is closed")
        return stream.read(size)
    except (OSError, ValueError) as exc:  # ValueError: reading a closed file
        why = "it is closed" if isinstance(exc, ValueError) else (getattr(exc, "strerror", None) or str(exc))
        raise problem(file, f"cannot read the spec from standard input: {why}; pipe a spec into it "
                            "(archspec validate - < spec.yaml) or give a file") from None


def _read_regular_file(path: str | Path, file: str, size: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO nobody writes to must not wait
    except IsADirectoryError:
        raise problem(file, IS_A_DIRECTORY) from None
    except OSError as exc:
        raise problem(file, f"cannot read the spec: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise problem(file, IS_A_DIRECTORY if stat.S_ISDIR(mode) else NOT_A_FILE)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(size)
    except OSError as exc:
        raise problem(file, f"cannot read the spec: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    return before.count(b"\n") + 1, offset - (before.rfind(b"\n") + 1) + 1


def _text_line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def parse_yaml(text: str, file: str, limits: Limits | None = None) -> tuple[dict, dict[FieldPath, Loc]]:
    """YAML text -> (a mapping of plain data, field path -> Loc); raise SpecError otherwise."""
    limits = limits or current()
    if len(text) > limits.max_bytes:
        raise problem(file, f"the text is larger than {limits.max_bytes:,} characters; specs are small")
    try:
        node = yaml.compose(text, Loader=loader_for(text, file, limits))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        reason = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: locate it, name it by code
            line, col = _text_line_col(text, exc.position)
            reason = f"character U+{exc.character:04X} is not allowed in YAML (a control character); remove it"
        if "but found another document" in str(exc):
            reason = "a spec is one YAML document; this file has several (remove the `---` separators)"
        reason = explain(reason, text, line, col)  # a tab named as a tab, indentation as such
        raise problem(file, f"not valid YAML: {reason}", line, col) from None
    except RecursionError:
        raise problem(file, _too_deep(limits)) from None
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null"):
        raise problem(file, "the file is an empty document; a spec is a mapping with name, input, classes, stem and body", 1, 1)
    builder = _Builder(file, limits)
    data = builder.build(node, (), 0)
    if builder.problems:
        raise SpecError(builder.problems)
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string"}.get(type(data), f"a {type(data).__name__}")
        raise problem(file, f"a spec is a YAML mapping of fields (name, input, classes, stem, body), got {kind}",
                      node.start_mark.line + 1, node.start_mark.column + 1)
    return data, builder.marks


def loader_for(text: str, file: str, limits: Limits) -> type:
    """libyaml when the nesting is certainly shallow, else the pure-Python loader.

    libyaml overflows the C stack on very deep nesting (a crash, not an exception);
    the Python loader raises RecursionError, which we report. The bound over-counts
    (every indent column, dash and bracket is taken as a level) and costs O(n) in C.
    """
    brackets = text.count("[") + text.count("{")
    if brackets > limits.max_nesting and _flow_depth(text) > limits.max_nesting:
        raise problem(file, _too_deep(limits))  # PyYAML would take seconds to say so
    lines = text.splitlines() or [""]
    indent = max(len(line) - len(line.lstrip(" ")) for line in lines)
    dashes = max(line.count("-") for line in lines)
    return Loader if indent + dashes + brackets < C_SAFE_NESTING else PythonLoader


def _too_deep(limits: Limits) -> str:
    return f"the YAML is nested too deeply (more than {limits.max_nesting} levels) to be a spec"


def _flow_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting, counting brackets in strings too (an upper bound)."""
    depth = deepest = 0
    for char in re.findall(r"[\[\]{}]", text):
        depth = depth + 1 if char in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


_TAG_WORDS = {"int": "whole number", "float": "number", "bool": "true or false", "str": "string", "null": "null"}
_UNREADABLE = object()  # a scalar its tag could not read (already reported); a key like it is skipped


class _Builder:
    """One walk over the node tree: plain data, marks, and every problem of the file."""

    def __init__(self, file: str, limits: Limits):
        self.file = file
        self.limits = limits
        self.visits = 0
        self.marks: dict[FieldPath, Loc] = {}
        self.problems: list[Problem] = []
        self.scalars = Loader("")  # only its scalar constructors are used

    def loc(self, mark: Any) -> Loc:
        return Loc(self.file, mark.line + 1, mark.column + 1)

    def fail(self, mark: Any, path: FieldPath, message: str) -> None:
        loc = self.loc(mark)
        self.problems.append(Problem(self.file, loc.line, loc.column, dotted(path), message))

    def build(self, node: yaml.Node, path: FieldPath, depth: int) -> Any:
        self.visits += 1
        if self.visits > self.limits.max_nodes:
            raise problem(self.file, f"the YAML expands to more than {self.limits.max_nodes:,} nodes "
                                     "(aliases included); a spec is far smaller: refusing it",
                          node.start_mark.line + 1, node.start_mark.column + 1)
        if depth > self.limits.max_nesting:
            raise problem(self.file, _too_deep(self.limits),
                          node.start_mark.line + 1, node.start_mark.column + 1)
        self.marks.setdefault(path, self.loc(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                return self.refuse(node, path)
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if node.tag == _TAG + "timestamp":
            return node.value  # a date in a description stays text
        if node.tag not in PLAIN_SCALARS:
            return self.refuse(node, path)
        if node.tag in (INT, FLOAT):
            try:
                number = yaml12_number(node.value)
            except NumberError as exc:
                self.fail(node.start_mark, path, str(exc))
                return _UNREADABLE
            if number is not None:
                return number  # else an explicit `!!int 1_000`: PyYAML's reading, or its refusal
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        """PyYAML's constructor for the node's tag; a value the tag cannot read (``!!int ""``,
        ``!!bool maybe``, an integer of 5,000 digits) is a located problem, not a crash."""
        try:
            return self.scalars.construct_object(node)
        except (ValueError, IndexError, KeyError, TypeError, OverflowError, yaml.YAMLError) as exc:
            tag = node.tag.removeprefix(_TAG)
            why = f": {exc}" if isinstance(exc, ValueError) and "digits" in str(exc) else ""
            self.fail(node.start_mark, path, f"cannot read {shown(node.value) if node.value else 'an empty value'} as `!!{tag}`{why}; "
                                             f"write a plain {_TAG_WORDS.get(tag, tag)} without the tag")
            return _UNREADABLE

    def mapping(self, node: yaml.MappingNode, path: FieldPath, depth: int) -> dict | None:
        if node.tag != _TAG + "map":
            return self.refuse(node, path)
        out: dict[Any, Any] = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in PLAIN_SCALARS:
                self.fail(key_node.start_mark, path, "keys must be plain names")
                continue
            key = self.scalar(key_node, path)
            if key is _UNREADABLE:
                continue
            if key in out:
                self.fail(key_node.start_mark, path + (key,), f"{shown(key)} is given twice in this mapping; keep one")
                continue
            self.marks.setdefault(path + (key,), self.loc(key_node.start_mark))
            out[key] = self.build(value_node, path + (key,), depth + 1)
        for merge in merges:  # YAML merge keys (`<<: *base`): explicit keys win
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                merged = self.build(source, path, depth + 1)
                if not isinstance(merged, dict):
                    self.fail(merge.start_mark, path, "`<<` merges mappings only")
                    continue
                for key, value in merged.items():
                    out.setdefault(key, value)
        return out

    def refuse(self, node: yaml.Node, path: FieldPath) -> None:
        if node.tag.startswith("tag:yaml.org,2002:python/"):
            why = "it would construct a Python object"
        else:
            why = "specs are plain data"
        self.fail(node.start_mark, path, f"YAML tag `{node.tag}` is not allowed: {why}; use plain "
                                         "mappings, lists, strings, numbers and booleans")
        return None
