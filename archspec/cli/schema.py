"""``archspec schema``: the JSON Schema of the spec language, or its Markdown reference."""

from __future__ import annotations

import typer

from .common import app
from .common import console


@app.command()
def schema(markdown: bool = typer.Option(False, "--markdown", help="Print the Markdown reference instead.")) -> None:
    """Print the JSON Schema of specs (point an editor's YAML support at it), or --markdown docs."""
    from ..spec.schema import markdown_reference, schema_text

    console.print(markdown_reference() if markdown else schema_text(), markup=False, end="")
