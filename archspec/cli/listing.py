"""``archspec list``: the bundled specs with their family, exact counts and reference (no torch)."""

from __future__ import annotations

from typing import Optional

import typer

from . import app
from .report import Format, emit, format_option, quiet_broken_pipe

# body.block.type -> the family of networks it builds (unknown types show as themselves)
FAMILY_OF_BLOCK = {
    "basic": "resnet", "bottleneck": "resnet", "preact_basic": "preact-resnet",
    "preact_bottleneck": "preact-resnet", "pyramid": "pyramidnet", "pyramid_bottleneck": "pyramidnet",
    "dense": "densenet", "inception": "googlenet", "mbconv": "efficientnet", "plain": "vgg",
}


@app.command("list")
def list_command(
    pattern: Optional[str] = typer.Argument(
        None, help="Show only names matching this shell-style pattern, e.g. 'resnet*' (a bare word matches "
        "names containing it)."),
    fmt: Format = format_option(),
) -> None:
    """List the bundled specs: name, family, params, MACs and reference.

    A name works wherever a spec path does, e.g. `archspec report resnet-50`; a file
    or directory of that name in the working directory wins.
    """
    from ..api import list_specs, load, plan
    from ..complexity.render import Column, Table, human
    from ..spec.bundled import bundled_path
    from .common import fail

    if pattern is not None and not any(c in pattern for c in "*?["):
        pattern = f"*{pattern}*"
    names = list_specs(pattern or "*")
    if not names:
        raise fail(f"no bundled spec matches {pattern!r}; `archspec list` shows them all")
    rows = []
    for name in names:
        spec = load(bundled_path(name))
        resolved, block = plan(spec), spec.body.block.type
        rows.append({"name": name, "family": FAMILY_OF_BLOCK.get(block, block), "params": resolved.params,
                     "macs": resolved.macs, "reference": " ".join(spec.description.split())})
    columns = [Column("name", "name", numeric=False), Column("family", "family", numeric=False),
               Column("params", "params", human), Column("macs", "MACs", human),
               Column("reference", "reference", numeric=False)]
    table = Table(f"{len(rows)} bundled specs", columns, rows, notes=["MACs at the spec's input size, batch 1."])
    with quiet_broken_pipe():
        emit(table, fmt, rows)
