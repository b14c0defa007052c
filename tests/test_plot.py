"""``archspec plot`` / ``archspec.plot()``: a figure per unit along the depth, with matplotlib."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.diagram.plot import STAGE_BOUNDARY, figure, series, stage_ends
from conftest import ROOT, SPECS

PYRAMID = [SPECS / "resnet-110.yaml", SPECS / "pyramidnet.yaml", SPECS / "pyramidnet-110-mult.yaml"]


def cli(*args: object):
    return CliRunner().invoke(app, ["plot", *map(str, args)])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # the IHDR chunk: width, height


def test_resnet_climbs_in_stage_steps_and_pyramidnet_in_a_ramp() -> None:
    resnet, additive, mult = (series(archspec.plan(p), "width") for p in PYRAMID)
    assert resnet == [16] * 18 + [32] * 18 + [64] * 18
    assert len(additive) == len(mult) == 54
    assert additive == sorted(additive) and additive[-1] == 16 + 48 and len(set(additive)) > 40
    assert mult == sorted(mult) and mult[0] < additive[0] < additive[-1] < mult[-1]


def test_params_and_macs_series_are_the_units_counts() -> None:
    plan = archspec.plan(SPECS / "resnet-56.yaml")
    body = [u for s in plan.stages for u in s.units]
    assert series(plan, "params") == [u.params for u in body]
    assert series(plan, "macs") == [u.macs for u in body]
    assert sum(series(plan, "params")) == plan.params - plan.units[0].params - plan.head.params


def test_cli_writes_a_png_at_the_dpi_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    result = cli(*PYRAMID, "-o", out, "--dpi", "50")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}"
    assert png_size(out) == (350, 210)  # 7 x 4.2 inches
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary file left


def test_svg_names_every_network_and_its_axis_and_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    archspec.plot(PYRAMID[:2], first, y="params")
    assert archspec.plot(PYRAMID[:2], second, y="params") == second
    assert first.read_bytes() == second.read_bytes()
    assert ET.parse(first).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    text = first.read_text()
    assert "resnet-110 (54 units, 1.73M params)" in text and "pyramidnet-110-a48" in text
    assert "parameters of each unit" in text


def test_pdf_and_overrides(tmp_path: Path) -> None:
    out = tmp_path / "fig.pdf"
    result = cli(SPECS / "resnet-56.yaml", "--y", "macs", "--set", "body.depth=20", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("args, message", [
    (["-o", "fig.jpg"], "end the file name in .png, .svg, .pdf"),
    (["-o", "fig.png", "--y", "depth"], "'depth' is not one of"),
    (["-o", "fig.png", "--set", "body.depth=7"], "body.depth"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    argv = [a if not a.startswith("fig.") else str(tmp_path / a) for a in args]
    result = cli(SPECS / "resnet-56.yaml", *argv)
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_one_line_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if it were not installed
    result = cli(SPECS / "resnet-56.yaml", "-o", tmp_path / "fig.png")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: plots need matplotlib, which the 'plot' extra installs: pip install 'archspec-nn[plot]'"]
    assert list(tmp_path.iterdir()) == []


def test_plotting_imports_neither_torch_nor_pyplot(tmp_path: Path) -> None:
    code = (f"import sys, archspec; archspec.plot({str(PYRAMID[0])!r}, {str(tmp_path / 'f.png')!r}); "
            "print(sorted(m for m in ('torch', 'matplotlib.pyplot') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "f.png").stat().st_size > 10_000


def drawn(fig):
    """The figure laid out by Agg, so tick labels hold their text."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.axes[0]


def test_stage_boundaries_are_marked_at_each_stage_end() -> None:
    plans = [archspec.plan(p) for p in PYRAMID]
    ax = drawn(figure(plans, "width"))
    lines = [l for l in ax.lines if l.get_gid() == STAGE_BOUNDARY]
    # the three networks' stages end at the same units: one grey line per boundary, labels per stage
    ends = [sum(len(s.units) for s in plans[0].stages[: i + 1]) for i in range(len(plans[0].stages) - 1)]
    assert stage_ends(plans[0]) == ends == [18, 36]
    assert sorted(l.get_xdata()[0] for l in lines) == ends
    assert [t.get_text() for t in ax.texts if t.get_gid() == STAGE_BOUNDARY] == [
        f"stage {s.index}" for s in plans[0].stages]


def test_networks_with_different_stages_get_boundaries_in_their_colours() -> None:
    plans = [archspec.plan(SPECS / "resnet-50.yaml"), archspec.plan(SPECS / "efficientnet-b0.yaml")]
    ax = drawn(figure(plans, "params"))
    curves = [l for l in ax.lines if l.get_gid() != STAGE_BOUNDARY]
    for plan, curve in zip(plans, curves):
        mine = [l for l in ax.lines if l.get_gid() == STAGE_BOUNDARY and l.get_color() == curve.get_color()]
        assert sorted(l.get_xdata()[0] for l in mine) == stage_ends(plan)
    assert "stage boundaries (each network's colour)" in [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("y", ["width", "params", "macs"])
def test_tick_labels_carry_no_needless_decimals(y: str) -> None:
    ax = drawn(figure([archspec.plan(SPECS / "resnet-50.yaml")], y))
    low, high = ax.get_ylim()
    ticks = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    labels = [text for _, text in ticks]
    assert len(labels) >= 3, labels
    assert not any(".00" in t or t.endswith(".0") for t in labels), labels
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}
    for value, text in ticks:  # each label reads back as its tick's value
        number = float(text[:-1]) * scale[text[-1]] if text[-1] in scale else float(text)
        assert number == pytest.approx(value, rel=1e-3), (text, value)
