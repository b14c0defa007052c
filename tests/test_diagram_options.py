"""``archspec diagram --dpi`` and ``--scale shared|each``."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.diagram import progression
from archspec.diagram.style import BAR_COLOR, BAR_POINTS
from conftest import SPECS

NARROW_AND_WIDE = [SPECS / "resnet-20.yaml", SPECS / "densenet-121.yaml"]


def cli(*args: object):
    return CliRunner().invoke(app, ["diagram", *map(str, args)])


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def solid_bar(source: str, node: str) -> int:
    line = next(line for line in source.splitlines() if line.strip().startswith(node + " "))
    return int(re.search(rf'WIDTH="(\d+)" HEIGHT="\d+" BGCOLOR="{BAR_COLOR}"', line).group(1))


def test_dpi_scales_the_png(tmp_path: Path) -> None:
    low, high = tmp_path / "a.png", tmp_path / "b.png"
    for out, dpi in ((low, 72), (high, 216)):
        result = cli(SPECS / "resnet-20.yaml", "-o", out, "--dpi", dpi)
        assert result.exit_code == 0, result.output
    (w1, h1), (w2, h2) = png_size(low), png_size(high)
    assert abs(w2 - 3 * w1) <= 3 and abs(h2 - 3 * h1) <= 3


def test_each_spec_on_its_own_scale_keeps_narrow_networks_readable() -> None:
    plans = [archspec.plan(p) for p in NARROW_AND_WIDE]
    shared, each = (progression(plans, scale=s).source for s in ("shared", "each"))
    node = "n0_stages_2_1"  # resnet-20's last run: 64 channels, its widest
    assert solid_bar(shared, node) == round(64 * BAR_POINTS / 1024)  # DenseNet-121's 1024 is the full bar
    assert solid_bar(each, node) == BAR_POINTS
    assert solid_bar(each, "n1_stages_3_8") == solid_bar(shared, "n1_stages_3_8")  # the widest keeps its scale
    assert "full length = 64 channels" in each and "full length = 1024 channels" in each
    assert "each network on its own scale" in each and "one scale for all" not in each


def test_bad_scale_exits_2(tmp_path: Path) -> None:
    result = cli(SPECS / "resnet-20.yaml", "-o", tmp_path / "a.svg", "--scale", "log")
    assert result.exit_code == 2
    assert "'log' is not one of" in result.output and "'shared'" in result.output
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="choose one of shared, each"):
        progression([archspec.plan(SPECS / "resnet-20.yaml")], scale="log")
