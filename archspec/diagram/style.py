"""Colours, edge styles and HTML-label pieces shared by both kinds of diagram.

Graphviz HTML-like labels draw a width bar as a fixed-size table cell; every text piece
goes through :func:`html.escape` so names with ``<`` or ``&`` cannot break the label.
"""

from __future__ import annotations

from html import escape

FONT = "Helvetica"
BAR_POINTS = 180  # the widest unit in the picture gets a bar this long
BAR_HEIGHT = 9
BAR_COLOR = "#3b6ea8"
GROWTH_COLOR = "#9dbbe0"  # the part of a merged node's bar that its later units add
DOWNSAMPLE_FILL = "#fde8e4"
PLAIN_FILL = "#ffffff"
MUTED = "#5a6270"
CHOICES = "#2c5282"  # a block's kernel, expansion, SE and activation under its widths
TAP_COLOR = "#6b46c1"  # a backbone's feature map is taken here (diagram --features)

# The self-loop drawn on a unit for its shortcut: (colour, style, pen width, legend text).
SHORTCUTS: dict[str, tuple[str, str, str, str]] = {
    "identity": ("#8a94a6", "solid", "1.0", "identity shortcut"),
    "zero_pad": ("#2b6cb0", "dashed", "1.6", "zero-padded identity (no parameters)"),
    "projection": ("#d9480f", "bold", "2.4", "projection shortcut (1x1 conv)"),
    "concat": ("#2f855a", "dotted", "1.8", "input concatenated to the output"),
}


def shape_text(channels: int, size: tuple[int, int]) -> str:
    """C x H x W, the edge label."""
    return f"{channels}\u00d7{size[0]}\u00d7{size[1]}"


def text(value: object, size: int | None = None, color: str | None = None, bold: bool = False) -> str:
    out = escape(str(value))
    if bold:
        out = f"<B>{out}</B>"
    attrs = (f' POINT-SIZE="{size}"' if size else "") + (f' COLOR="{color}"' if color else "")
    return f"<FONT{attrs}>{out}</FONT>" if attrs else out


def bar(low: int, high: int, scale: float) -> str:
    """A bar, solid for ``low`` channels with a lighter extension up to ``high``.

    ``scale`` is points per channel, shared by every network in the picture. The bar is
    a nested table of fixed-size cells always ``BAR_POINTS`` long in all, so it keeps
    its size and sits on the left however wide the label's text makes the row.
    """
    solid = max(round(low * scale), 1)
    growth = max(round(high * scale), solid) - solid
    rest = max(BAR_POINTS - solid - growth, 0)
    widths = [(solid, BAR_COLOR), (growth, GROWTH_COLOR), (rest, None)]
    cells = "".join(_cell(width, color) for width, color in widths if width)
    # graphviz honours ALIGN on a nested table only when the table has a fixed size
    size = f'FIXEDSIZE="TRUE" WIDTH="{BAR_POINTS}" HEIGHT="{BAR_HEIGHT}"'
    return f'<TABLE ALIGN="LEFT" {size} BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>{cells}</TR></TABLE>'


def _cell(width: int, color: str | None) -> str:
    fill = f' BGCOLOR="{color}"' if color else ""
    return f'<TD FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{BAR_HEIGHT}"{fill}></TD>'


def table(rows: list[str]) -> str:
    """An HTML label: one left-aligned row per piece of text (or bar)."""
    body = "".join(f'<TR><TD ALIGN="LEFT">{row}</TD></TR>' for row in rows)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{body}</TABLE>>'
