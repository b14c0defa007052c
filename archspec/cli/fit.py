"""``archspec fit``: the value of one numeric field that brings params or MACs closest to a target (no torch)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .common import app
from .common import console, fail, set_option, untrusted, user_errors


class FitFormat(str, Enum):
    text = "text"
    json = "json"


def _target(flag: str, text: str) -> int:
    from ..space.model import parse_count

    try:
        value = parse_count(text)
    except ValueError as exc:
        raise fail(f"{flag} {text}: {exc}") from None
    if value < 1:
        raise fail(f"{flag} {text}: the target must be at least 1")
    return value


@app.command()
def fit(
    spec: Path = typer.Argument(..., help="The spec file."),
    vary: str = typer.Option(..., "--vary", help="The numeric field to fit, as --set writes it (body.widening.alpha)."),
    params: Optional[str] = typer.Option(None, "--params", help="Target parameters, e.g. 1.7M or 1700000."),
    macs: Optional[str] = typer.Option(None, "--macs", help="Target MACs per image, e.g. 600M."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the fitted spec here."),
    fmt: FitFormat = typer.Option(FitFormat.text, "--format", "-f", help="text or json."),
    sets: list[str] = set_option(),
) -> None:
    """Find the value of --vary whose network comes closest to --params or --macs, with its exact counts.

    Integer fields report the values on both sides of the target (below, above); real
    fields the two sides of the step the target falls in. Exit 2 when the field is not
    numeric or the target is out of reach.
    """
    from ..api import as_spec
    from ..files import write_text
    from ..space import fit as fit_field

    if (params is None) == (macs is None):
        raise fail("give one target: --params N or --macs N")
    metric, target = ("params", _target("--params", params)) if params is not None else ("macs", _target("--macs", macs))
    with user_errors():
        result = fit_field(as_spec(spec, sets), vary, **{metric: target})
    if output is not None:
        write_text(output, result.spec_yaml())
    if fmt is FitFormat.json:
        console.print(json.dumps(result.as_dict(), indent=2), markup=False, soft_wrap=True)
        return
    off = getattr(result, metric) - target
    console.print(f"{result.path} = {result.value}: {result.params:,} params, {result.macs:,} MACs "
                  f"(target {target:,} {metric}, {off:+,})", markup=False)
    for side in ("below", "above"):
        point = getattr(result, side)
        if point is not None:
            console.print(f"  {side}: {result.path} = {point.value}: {point.params:,} params, {point.macs:,} MACs",
                          markup=False)
    if output is not None:
        console.print(f"wrote {untrusted(output, markup=False)}", markup=False)
