"""``analyze``: EDF and metric-against-cost figures (real PNG/SVG/PDF files), tables, Pareto fronts."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.space import AnalyzeError, RunResult, load_space_text, pareto, plot, sample, table
from archspec.space.sweep import RESULTS, append_result
from conftest import ROOT, SPECS


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> list[Path]:
    """Two 'swept' directories of ResNet variants with a made-up metric recorded per sample."""
    root = tmp_path_factory.mktemp("analyze")
    dirs = []
    for name, shortcut in (("option-a", "zero_pad"), ("option-b", "projection")):
        text = (f"base: {SPECS / 'resnet-20.yaml'}\nvary:\n  body.depth: {{choice: [8, 14, 20, 26, 32]}}\n"
                f"  body.shortcut.type: {{choice: [{shortcut}]}}\n")
        result = sample(load_space_text(text, str(root / f"{name}.yaml")), 5, seed=0, out=root / name)
        for i, s in enumerate(result.samples):
            metric = {"score": 0.5 + 0.1 * (i % 3) + (0.05 if shortcut == "projection" else 0)}
            append_result(root / name / RESULTS, RunResult(s.sha256, "ok", 0, 1.0, metric))
        append_result(root / name / RESULTS, RunResult("f" * 64, "failed", 1, 1.0, None, "boom"))
        dirs.append(root / name)
    return dirs


def test_pareto_front_is_what_no_cheaper_point_beats():
    costs, metrics = [1, 2, 3, 4, 4], [0.5, 0.4, 0.7, 0.6, 0.9]
    assert pareto(costs, metrics, lower_is_better=False) == [True, False, True, False, True]
    assert pareto(costs, metrics, lower_is_better=True) == [True, True, False, False, False]
    for lower in (False, True):  # brute force: on the front iff no other point is as cheap and at least as good
        sign = 1 if lower else -1
        expected = [not any(j != i and costs[j] <= costs[i] and sign * metrics[j] <= sign * metrics[i]
                            and (costs[j], sign * metrics[j]) != (costs[i], sign * metrics[i]) for j in range(5))
                    for i in range(5)]
        assert pareto(costs, metrics, lower) == expected


def test_table_joins_counts_and_metrics_and_marks_the_fronts(sweeps):
    rows = table(sweeps, "score")
    assert len(rows) == 10  # the failed result is left out
    for row in rows:
        expected = archspec.plan(Path(row.dir) / f"{row.sha256[:12]}.yaml")
        assert (row.params, row.macs) == (expected.params, expected.macs)
    for directory in sweeps:
        mine = [r for r in rows if r.dir == str(directory)]
        assert [r.on_front for r in mine] == pareto([r.params for r in mine], [r.metric for r in mine], False)
        cheapest = min(mine, key=lambda r: r.params)
        assert cheapest.on_front and cheapest.on_front_macs


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_writes_a_real_figure(sweeps, tmp_path, suffix, magic):
    out = plot(table(sweeps, "score"), "score", tmp_path / f"fig{suffix}")
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 10_000
    if suffix == ".png":
        import matplotlib.image

        pixels = matplotlib.image.imread(out)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 1000 and pixels.std() > 0.05  # not a blank canvas
    if suffix == ".svg":
        assert data.count(b"<path") > 50
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_analyze_cli_json_csv_and_figure(sweeps, tmp_path):
    base = [sys.executable, "-m", "archspec", "analyze", *map(str, sweeps), "--metric", "score"]
    as_json = subprocess.run(base + ["--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    rows = json.loads(as_json.stdout)
    assert len(rows) == 10 and set(rows[0]) >= {"sha256", "params", "macs", "metric", "on_front"}
    as_csv = subprocess.run(base + ["--format", "csv", "--lower-is-better"], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["sha256"] for r in parsed] == [r["sha256"] for r in rows]
    figure = subprocess.run(base + ["-o", str(tmp_path / "edf.svg")], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert figure.returncode == 0 and (tmp_path / "edf.svg").read_bytes().startswith(b"<?xml")


def test_analyze_refuses_what_it_cannot_draw(sweeps, tmp_path):
    with pytest.raises(AnalyzeError, match="no finished sample has the metric 'acc' \\(metrics found: score\\)"):
        table(sweeps, "acc")
    with pytest.raises(AnalyzeError, match="no index.jsonl"):
        table([tmp_path], "score")
    with pytest.raises(AnalyzeError, match=".png, .svg or .pdf"):
        plot(table(sweeps, "score"), "score", tmp_path / "fig.jpg")
    code = ("import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.figure'] = None\n"
            "from archspec.cli import main\n"
            f"sys.argv = ['archspec', 'analyze', {str(sweeps[0])!r}, '--metric', 'score', '-o', {str(tmp_path / 'x.png')!r}]\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "pip install" in out.stderr and "[plot]'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "x.png").exists()


def test_pareto_points_are_labelled_with_the_values_that_vary(sweeps):
    from archspec.space.analyze import PARETO_LABEL, figure, point_labels
    from archspec.space.sample import read_index

    rows = table(sweeps, "score")
    fig = figure(rows, "score")
    _, vs_params, vs_macs = fig.axes
    for axes, front in ((vs_params, "on_front"), (vs_macs, "on_front_macs")):
        labels = [t for t in axes.texts if t.get_gid() == PARETO_LABEL]
        points = [r for r in rows if getattr(r, front)]
        assert len(labels) == len(points) and points
        cost = "params" if front == "on_front" else "macs"
        for directory in sweeps:
            depths = {s["sha256"]: s["values"]["body.depth"] for s in read_index(directory)}
            mine = sorted((getattr(r, cost), r.metric, r.sha256) for r in points if r.dir == str(directory))
            drawn = [(t.xy, t.get_text()) for t in labels if t.xy in {(c, m) for c, m, _ in mine}]
            # only body.depth varies in these spaces (the shortcut is fixed): the label names it, and nothing else
            assert sorted(drawn) == sorted(((c, m), f"depth={depths[sha]}") for c, m, sha in mine)
    assert set(point_labels(sweeps[0]).values()) <= {f"depth={d}" for d in (8, 14, 20, 26, 32)}


def test_points_are_named_by_sha_where_nothing_varies(tmp_path):
    from archspec.space.analyze import point_labels

    text = f"base: {SPECS / 'resnet-20.yaml'}\nvary:\n  body.depth: {{choice: [20]}}\n"
    result = sample(load_space_text(text, str(tmp_path / "one.yaml")), 1, seed=0, out=tmp_path / "one")
    assert point_labels(tmp_path / "one") == {s.sha256: s.sha256[:8] for s in result.samples}
