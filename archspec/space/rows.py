"""The files of a sample directory, read as untrusted input: every row validated, every size capped.

A sample directory may arrive from anywhere (a pull request, a shared drive), and a
sweep turns its rows into paths and commands. So ``index.jsonl`` rows are Pydantic models
(a sha256 is 64 hex digits, a file is a plain ``*.yaml`` name in the directory, counts are
whole numbers) and a row that is not one is an error naming its line; ``runs/<sha[:12]>``
can then only be a directory of the sweep. ``results.jsonl`` rows that are not results are
skipped, as a torn last line is. Metrics are kept as named finite numbers. All of it is read
through :func:`archspec.files.read_capped`: regular files only, never waiting on a FIFO.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from ..files import MiB, TORN, UnreadableFile, read_json, read_json_lines

INDEX = "index.jsonl"
RESULTS = "results.jsonl"
MAX_INDEX_BYTES = 256 * MiB  # ~300 bytes a sample: about 800,000 samples
MAX_RESULTS_BYTES = 256 * MiB
MAX_METRICS_BYTES = 1 * MiB  # an object of named numbers; a larger file is not metrics
MAX_METRICS = 1000  # named numbers kept per sample
MAX_METRIC_NAME = 200

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.ya?ml$")]
Count = Annotated[StrictInt, Field(ge=0)]


class IndexRow(BaseModel):
    """One line of ``index.jsonl``, as :func:`archspec.sample` writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: Sha256
    file: FileName
    values: dict[str, Any]
    params: Count
    macs: Count


class ResultRow(BaseModel):
    """One line of ``results.jsonl``, as :func:`archspec.sweep` writes it (extra keys are kept)."""

    model_config = ConfigDict(extra="allow")

    sha256: Sha256
    status: Literal["ok", "failed", "no-metrics"]
    exit_code: Optional[int] = None
    duration_s: Optional[float] = None
    metrics: Optional[dict[str, Optional[float]]] = None
    error: str = ""


class BadRows(ValueError):
    """A sample directory file that cannot be used: names the file and line, never quotes the line."""


def read_index(directory: str | Path) -> list[dict[str, Any]]:
    """The samples a sampling run wrote to ``directory``: one validated row each.

    ``FileNotFoundError`` when there is no index; :class:`BadRows` for a line that is not a
    JSON object of the index's fields, naming the line and the field."""
    path = Path(directory) / INDEX
    try:
        lines = read_json_lines(path, MAX_INDEX_BYTES, "sample index")
    except UnreadableFile as exc:
        raise BadRows(str(exc)) from None
    rows = []
    for number, value in lines:
        if value is TORN:
            raise BadRows(f"{path}:{number}: not a JSON line; the index is written whole by `archspec sample`, "
                          "so this one was changed since")
        if not isinstance(value, dict):
            raise BadRows(f"{path}:{number}: a row is a JSON object (sha256, file, values, params, macs), "
                          f"not a {_kind(value)}")
        try:
            rows.append(IndexRow.model_validate(value).model_dump())
        except ValidationError as exc:
            raise BadRows(f"{path}:{number}: {_first(exc)}") from None
    return rows


def read_results(directory: str | Path) -> dict[str, dict[str, Any]]:
    """The latest result row per sha256. Lines that are not results (a crash's torn last line,
    damage) are skipped; a results file that is not a regular file, or too large, is :class:`BadRows`."""
    path = Path(directory) / RESULTS
    try:
        lines = read_json_lines(path, MAX_RESULTS_BYTES, "results file")
    except FileNotFoundError:
        return {}
    except UnreadableFile as exc:
        raise BadRows(str(exc)) from None
    latest: dict[str, dict[str, Any]] = {}
    for _, value in lines:
        if not isinstance(value, dict):
            continue
        try:
            row = ResultRow.model_validate(value)
        except ValidationError:
            continue
        latest[row.sha256] = row.model_dump()
    return latest


def read_metrics(path: Path) -> dict[str, float | int | None]:
    """A command's ``metrics.json``: its named numbers, or :class:`UnreadableFile` saying why not.

    Capped at :data:`MAX_METRICS_BYTES` and read only when a regular file (a FIFO named
    ``metrics.json`` must not hang the sweep). NaN and infinities become null (results stay
    strict JSON); values that are not numbers are left out."""
    value = read_json(path, MAX_METRICS_BYTES, "metrics file")
    if not isinstance(value, dict):
        raise UnreadableFile(f"{path} holds a {_kind(value)}, not an object of named metrics")
    return numbers_of(value)


def numbers_of(metrics: dict[Any, Any]) -> dict[str, float | int | None]:
    """The named numbers of ``metrics``: finite ones as given, non-finite as None; names capped."""
    kept: dict[str, float | int | None] = {}
    for name, value in metrics.items():
        if len(kept) >= MAX_METRICS:
            break
        if isinstance(value, bool) or not isinstance(value, (int, float)) or len(str(name)) > MAX_METRIC_NAME:
            continue
        if isinstance(value, int) and abs(value) >= 2 ** 53:
            value = float(value) if abs(value) < 2 ** 1023 else math.inf
        kept[str(name)] = value if math.isfinite(value) else None
    return kept


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _first(exc: ValidationError) -> str:
    """The first problem of a row, by field, without echoing the value (it may be anything)."""
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "row"
    why = {"string_pattern_mismatch": "does not have the form archspec writes (a sha256 is 64 lowercase hex "
                                      "digits; a file is a plain NAME.yaml in the directory)",
           "extra_forbidden": "is not a field of an index row (sha256, file, values, params, macs)",
           "missing": "is missing"}.get(err["type"], err["msg"])
    return f"{field}: {why}"
