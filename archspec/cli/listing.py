"""``archspec list``: the bundled specs with their family, exact counts and reference (no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import typer

from .common import app
from .common import console
from .report import Format, emit, format_option, quiet_broken_pipe

if TYPE_CHECKING:
    from rich.table import Table as RichTable

    from ..complexity.render import Table

# body.block.type -> the family of networks it builds (unknown types show as themselves), for specs
# that name no torchvision builder; those that do show the converter's family (several share mbconv)
FAMILY_OF_BLOCK = {
    "basic": "resnet", "bottleneck": "resnet", "preact_basic": "preact-resnet",
    "preact_bottleneck": "preact-resnet", "pyramid": "pyramidnet", "pyramid_bottleneck": "pyramidnet",
    "dense": "densenet", "inception": "googlenet", "inception_v3": "inception", "mbconv": "efficientnet", "fused_mbconv": "efficientnet", "plain": "vgg", "bneck": "mobilenet",
    "shuffle": "shufflenet",
    "fire": "squeezenet",
}


@app.command("list")
def list_command(
    pattern: Optional[str] = typer.Argument(
        None, help="Show only names matching this shell-style pattern, e.g. 'resnet*' (a bare word matches "
        "names containing it)."),
    fmt: Format = format_option(),
    blocks: bool = typer.Option(False, "--blocks", help="List the block types instead: built-in, bundled block "
                                "files and plugins, with their parameters."),
) -> None:
    """List the bundled specs: name, family, params, MACs and reference; or, with --blocks, the block types.

    A name works wherever a spec path does, e.g. `archspec report resnet-50`; a file
    or directory of that name in the working directory wins. A block type is what a spec's
    `block: {type: ...}` names; `--plugin MODULE` adds a plugin's types (installed ones are listed by name).
    """
    from ..api import list_specs
    from .common import fail

    if pattern is not None and not any(c in pattern for c in "*?["):
        pattern = f"*{pattern}*"
    if blocks:
        from fnmatch import fnmatchcase

        from ..api import block_types

        found = [t for t in block_types() if fnmatchcase(t.name, pattern or "*")]
        if not found:
            raise fail(f"no block type matches {pattern!r}; `archspec list --blocks` shows them all")
        with quiet_broken_pipe():
            emit(blocks_table(found), fmt, [t.as_dict() for t in found])
        return
    names = list_specs(pattern or "*")
    if not names:
        raise fail(f"no bundled spec matches {pattern!r}; `archspec list` shows them all")
    table = bundled_table(names)
    with quiet_broken_pipe():
        if fmt is Format.table and console.is_terminal:
            console.print(fitted(table, console.width))
        else:
            emit(table, fmt, table.rows)


def bundled_table(names: list[str]) -> "Table":
    """One row per bundled spec: name, family, exact params and MACs, reference (its description)."""
    from ..api import load, plan
    from ..complexity.render import Column, Table, human
    from ..spec.bundled import bundled_path

    rows = []
    for name in names:
        spec = load(bundled_path(name))
        resolved = plan(spec)
        rows.append({"name": name, "family": family_name(spec, resolved), "params": resolved.params,
                     "macs": resolved.macs, "reference": " ".join(spec.description.split())})
    columns = [Column("name", "name", numeric=False), Column("family", "family", numeric=False),
               Column("params", "params", human), Column("macs", "MACs", human),
               Column("reference", "reference", numeric=False)]
    return Table(f"{len(rows)} bundled specs", columns, rows, notes=["MACs at the spec's input size, batch 1."])


def blocks_table(types: list[Any]) -> "Table":
    """One row per block type (spec/catalog.py's BlockType): its source, its parameters (``name=default``;
    a bare name must be given), its first sentence and where it is defined."""
    from ..complexity.render import Column, Table

    rows = [{**t.as_dict(), "params": ", ".join(t.params)} for t in types]
    columns = [Column("type", "type", numeric=False), Column("source", "source", numeric=False),
               Column("params", "parameters", numeric=False), Column("description", "description", numeric=False),
               Column("where", "defined in", numeric=False)]
    return Table(f"{len(rows)} block types", columns, rows,
                 notes=["A spec names one as `block: {type: NAME, param: value}`; docs/custom-blocks.md adds your own."])


def family_name(spec: Any, resolved: Any) -> str:
    """The torchvision family whose layout the spec's reference builder has (MNASNet and
    EfficientNet both stack ``mbconv`` units), else the body block's family."""
    from ..convert import ConversionError
    from ..convert.rules import family_of

    if spec.reference is not None and spec.reference.torchvision:
        try:
            return family_of(resolved).name
        except ConversionError:
            pass
    block = spec.body.block.type
    return FAMILY_OF_BLOCK.get(block, block)


def fitted(table: "Table", width: int) -> "RichTable":
    """The terminal table, one line per spec: names and counts stay whole, and the reference
    is cut (with an ellipsis) to the width they leave; ``-f csv`` or a wider terminal shows it all."""
    from rich.table import Table as RichTable

    out = RichTable(title=table.title, title_justify="left", caption=" ".join(table.notes), caption_justify="left")
    whole = {col.key: max(len(col.header), *(len(col.fmt(row[col.key])) for row in table.rows))
             for col in table.columns if col.key != "reference"}
    left = width - sum(whole.values()) - 3 * len(table.columns) - 1  # each column: padding and a border
    for col in table.columns:
        out.add_column(col.header, justify="right" if col.numeric else "left", no_wrap=True, overflow="ellipsis",
                       width=whole.get(col.key), max_width=None if col.key in whole else max(left, 10))
    for row in table.rows:
        out.add_row(*(col.fmt(row[col.key]) for col in table.columns))
    return out
