"""Terminal output that fits: tables at 80/100/160 columns, --wide, diff as two tables, help texts."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.complexity import make_report, unit_table
from archspec.complexity.fit import fit
from archspec.complexity.render import Column, Table, print_rich
from conftest import SPECS

runner = CliRunner()
BOX = set("┏┃┡│├└")  # the first character of a drawn table line


def cli(*args: object, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else {}
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def prose(text: str) -> str:
    """The output with its line breaks (and colours) taken out: notes are wrapped at the terminal's width."""
    from rich.text import Text

    return " ".join(Text.from_ansi(text).plain.split())


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in BOX]


def header_cells(text: str) -> list[str]:
    """The header row's cells (first line of a two-line header)."""
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in header.strip("┃").split("┃")]


@pytest.mark.parametrize("spec", ["resnet-50", "efficientnet-b0", "pyramidnet-272-a200", "googlenet"])
@pytest.mark.parametrize("width", [80, 100, 160])
def test_report_tables_fit_the_terminal_without_cutting_cells(spec: str, width: int) -> None:
    for by in ("unit", "stage"):
        out = cli("report", SPECS / f"{spec}.yaml", "--by", by, columns=width)
        lines = table_lines(out)
        assert lines and max(cell_len(line) for line in lines) <= width
        assert "…" not in out
    units = archspec.report(SPECS / f"{spec}.yaml")["units"]
    out = cli("report", SPECS / f"{spec}.yaml", columns=width)
    for unit in units:  # every block name and unit name in full
        assert f"│ {unit['name']} " in out and f" {unit['block']} " in out


def test_at_80_columns_the_least_needed_columns_go_first_and_a_note_says_so() -> None:
    out = cli("report", SPECS / "resnet-50.yaml", columns=80)
    assert header_cells(out) == ["unit", "block", "in", "out", "HxW", "params", "MACs"]
    assert "25,557,032" in out  # exact counts kept while dropping activations and stride sufficed
    assert "left out to fit 80 columns: activations, infer peak, train saved, stride (--wide shows every column)" in prose(out)
    wide = cli("report", SPECS / "resnet-50.yaml", columns=160)
    assert header_cells(wide) == ["unit", "block", "in", "out", "stride", "out HxW", "params", "MACs", "activations",
                                  "train saved", "infer peak"]
    assert "left out" not in wide


def test_compound_scaling_column_goes_first_and_counts_are_rounded_before_shapes_go() -> None:
    out = cli("report", SPECS / "efficientnet-b0.yaml", columns=80)
    assert header_cells(out) == ["unit", "block", "in", "out", "HxW", "params", "MACs"]
    assert "params, MACs rounded to fit 80 columns" in out
    assert "5.29M" in out  # the total, rounded; the title keeps the exact figure
    assert "efficientnet-b0: 5,288,548 params" in out


def test_wide_shows_every_column_at_full_precision_however_narrow_the_terminal() -> None:
    out = cli("report", SPECS / "efficientnet-b0.yaml", "--wide", columns=80)
    assert header_cells(out) == ["unit", "block", "in", "out", "stride", "out HxW", "params", "MACs", "activations",
                                 "train saved", "infer peak", "scaled width"]
    assert "5,288,548" in out.split("\n", 1)[1]  # the total row, exact
    assert max(cell_len(line) for line in table_lines(out)) > 80


def test_piped_output_without_columns_keeps_the_natural_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = runner.invoke(app, ["report", str(SPECS / "efficientnet-b0.yaml")]).stdout
    assert "scaled width" in out and "left out" not in out


@pytest.mark.parametrize("width", [80, 100, 160])
def test_diff_is_a_structure_and_a_costs_table_each_fitting(width: int) -> None:
    out = cli("diff", SPECS / "resnet-56.yaml", SPECS / "resnet-110.yaml", columns=width)
    assert "resnet-110 at 3x32x32: structure" in out and "resnet-110 at 3x32x32: costs" in out
    assert max(cell_len(line) for line in table_lines(out)) <= width
    assert "…" not in out
    structure, costs = out.split(": costs")
    assert "+27" in structure  # body units 27 -> 54
    assert "2.026x" in costs and "853.02K" in costs and "1.73M" in costs  # params ratio, A and B
    if width >= 100:
        assert "+874.94K" in costs and "left out" not in out  # params B - A
    else:
        assert "left out to fit 80 columns: params B-A, MACs B-A" in prose(out)


def test_diff_csv_stays_one_table_with_every_figure() -> None:
    out = cli("diff", SPECS / "resnet-56.yaml", SPECS / "resnet-110.yaml", "-f", "csv", columns=80)
    header = out.splitlines()[0].split(",")
    assert header[:4] == ["part", "units_a", "units_b", "units_delta"]
    assert {"params_delta", "params_ratio", "macs_delta", "macs_ratio", "inner_channels_b"} <= set(header)


def test_a_new_column_slots_in_by_its_priority() -> None:
    """The rules live with the columns: a column added later (memory, say) is dropped at its number."""
    table = unit_table(make_report(archspec.plan(SPECS / "resnet-50.yaml")))
    saved = Column("saved", "a later column", priority=27)
    rows = [{**row, "saved": 123_456_789} for row in table.rows]
    wider = Table(table.title, [*table.columns, saved], rows, footer=table.footer)
    gone: list[str] = []
    for width in range(fit(wider, 1000).width, 40, -1):
        kept = [c.key for c in fit(wider, width).table.columns]
        gone += [c.key for c in wider.columns if c.key not in kept and c.key not in gone]
    assert gone[:5] == ["activations", "infer_peak_bytes", "train_saved_bytes", "saved", "stride"]  # 20, 22, 25, 27, 30
    assert fit(wider, 80).width <= 80


def test_a_table_too_wide_even_without_its_optional_columns_is_drawn_whole() -> None:
    table = unit_table(make_report(archspec.plan(SPECS / "resnet-50.yaml")))
    console = Console(file=io.StringIO(), width=30, force_terminal=True)
    print_rich(table, console, 30)
    out = console.file.getvalue()
    assert "…" not in out and "│ stages.3.2 │" in out  # the unit, params and MACs always stay, whole
    assert "left out to fit 30 columns: activations, infer peak, train saved, stride, out HxW, in, block, out" in prose(out)


def test_terminal_console_width_is_honoured() -> None:
    """A real terminal (not COLUMNS): rich's console width is the limit, styles kept."""
    table = unit_table(make_report(archspec.plan(SPECS / "resnet-50.yaml")))
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system="truecolor")
    print_rich(table, console, console.width)
    out = console.file.getvalue()
    assert "\x1b[" in out and "…" not in out
    plain = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    print_rich(table, plain, 80)
    assert max(cell_len(line) for line in table_lines(plain.file.getvalue())) <= 80


# -- help -----------------------------------------------------------------------------

def command_paths() -> list[list[str]]:
    """Every command and sub-command of the app, as the words that reach it."""
    import typer.main

    def walk(command, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "archspec")
def test_help_has_no_bool_placeholder_and_rewraps_its_paragraphs(path: list[str]) -> None:
    """Flags take no value, so none shows one; help paragraphs are single lines that rich wraps."""
    import typer.main

    out = cli(*path, "--help", columns=200)
    assert "<bool>" not in out
    target = typer.main.get_command(app)
    for name in path:
        target = target.commands[name]  # type: ignore[attr-defined]
    for paragraph in (target.help or "").split("\n\n"):
        assert "\n" not in paragraph.strip("\b"), paragraph  # one line: rich wraps it to the terminal
        assert paragraph[:60] in out  # ... and it is shown unbroken at 200 columns
    for param in target.params:
        assert "\n" not in (getattr(param, "help", None) or "")


REPORTS_AT_80 = [["report", "resnet-50"], ["report", "efficientnet-b0", "--by", "stage"],
                 ["report", "mobilenet-v3-large", "--elementwise"], ["report", "googlenet", "--aux"],
                 ["report", "resnet-50", "efficientnet-b0", "densenet-121"], ["diff", "resnet-50", "se-resnet-50"],
                 ["diff", "mobilenet-v3-large", "efficientnet-b0"]]


@pytest.mark.parametrize("args", REPORTS_AT_80, ids=" ".join)
def test_at_80_columns_no_line_is_wider_prose_included(args: list[str]) -> None:
    """Titles and notes (the memory note ran to 445 characters) wrap at word boundaries."""
    out = cli(*args, columns=80)
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= 80, max(lines, key=cell_len)
    wide = cli(*args, "--wide")
    # the same words, only broken differently (a word cut in two would not read back): every title and note
    # of the unwrapped output is in the wrapped one
    notes = [line for line in wide.splitlines() if line and line[:1] not in BOX]
    assert any(len(line) > 80 for line in notes)
    for note in notes:
        assert " ".join(note.split()) in prose(out)


@pytest.mark.parametrize("args", REPORTS_AT_80[:3] + REPORTS_AT_80[5:6], ids=" ".join)
def test_markdown_notes_wrap_at_80_columns_too(args: list[str]) -> None:
    """Markdown's prose wraps (a soft break renders as a space); table rows and headings are one line each."""
    out = cli(*args, "-f", "markdown", columns=80)
    prose_lines = [line for line in out.splitlines() if not line.startswith(("|", "#"))]
    assert max(map(cell_len, prose_lines)) <= 80
    assert any(line.endswith("  ") for line in prose_lines)  # each note still ends in a hard break
    assert prose(out) == prose(cli(*args, "-f", "markdown"))  # the same text, only broken differently
