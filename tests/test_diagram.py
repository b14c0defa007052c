"""``archspec diagram``: channel progression from the Plan, the fx module graph, rendering."""

from __future__ import annotations

import dataclasses
import os
import re
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.diagram import DEFAULT_MAX_NODES, RenderError, plan_groups, progression, write_diagram
from archspec.diagram.groups import downsamples
from archspec.diagram.style import BAR_COLOR, BAR_POINTS
from conftest import ROOT, SPECS
COMPARISON = [SPECS / "resnet-110.yaml", SPECS / "pyramidnet.yaml", SPECS / "pyramidnet-110-mult.yaml"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args: object):
    return CliRunner().invoke(app, ["diagram", *map(str, args)])


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**ENV, **env},
                          capture_output=True, text=True, timeout=120)


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]


def expected_runs(units) -> list[int]:
    """Lengths of the runs of consecutive units that are the same in everything but their name."""
    lengths: list[int] = []
    for previous, unit in zip((None, *units), units):
        key = lambda u: (u.stage, u.block, u.in_channels, u.out_channels, u.stride, u.in_size, u.shortcut, u.ops)
        if previous is not None and key(previous) == key(unit):
            lengths[-1] += 1
        else:
            lengths.append(1)
    return lengths


# --- progression from the Plan -------------------------------------------------------


def test_comparison_svg_parses_and_names_every_stage(tmp_path):
    out = tmp_path / "widening.svg"
    result = cli(*COMPARISON, "-o", out)
    assert result.exit_code == 0, result.output
    texts = svg_texts(out)
    plans = [archspec.plan(p) for p in COMPARISON]
    for plan in plans:
        assert any(plan.name in t for t in texts)
    for index in {s.index for p in plans for s in p.stages}:
        labels = [t for t in texts if t.startswith(f"stage {index} ")]
        assert len(labels) == sum(any(s.index == index for s in p.stages) for p in plans)


def test_header_counts_small_networks_in_thousands():
    plan = archspec.plan(SPECS / "resnet-56.yaml", overrides=["body.depth=8"])
    assert plan.params < 100_000
    source = progression([plan]).source
    assert f"{plan.params / 1e3:.2f}K params" in source  # not "0.08M params"


def test_resnet_collapses_runs_of_identical_units():
    plan = archspec.plan(SPECS / "resnet-110.yaml")
    groups = plan_groups(plan.units)
    assert [g.count for g in groups] == expected_runs(plan.units)
    # every stage but the first opens with a downsampling unit drawn alone, then x (n - 1)
    for stage in plan.stages[1:]:
        assert f"\u00d7{len(stage.units) - 1}<" in progression([plan]).source
    assert len(groups) == 2 + sum(1 + (downsamples(s.units[0]) > 1) for s in plan.stages)
    assert [u for g in groups for u in g.units] == list(plan.units)
    assert all(g.identical for g in groups)


def test_collapse_follows_the_depth():
    plan = archspec.plan(SPECS / "resnet-110.yaml", overrides=["body.depth=32"])
    assert [g.count for g in plan_groups(plan.units)] == expected_runs(plan.units)
    assert [g.count for g in plan_groups(plan.units, collapse=False)] == [1] * len(plan.units)


def test_node_cap_merges_similar_units_in_order():
    plan = archspec.plan(SPECS / "pyramidnet-272-a200.yaml")
    assert len(expected_runs(plan.units)) == len(plan.units)  # additive widening: nothing identical
    for limit in (8, DEFAULT_MAX_NODES, 30):
        groups = plan_groups(plan.units, limit=limit)
        assert len(groups) <= limit
        assert [u for g in groups for u in g.units] == list(plan.units)
        for group in groups:
            assert len({u.stage for u in group.units}) == 1
            if group.count > 1:
                assert not any(downsamples(u) > 1 for u in group.units)
        widths = [g.widths for g in groups if g.first.stage is not None]
        assert all(low <= high for low, high in widths)


def test_node_cap_labels_name_the_span_and_widths():
    plan = archspec.plan(SPECS / "pyramidnet.yaml")
    source = progression([plan]).source
    merged = [g for g in plan_groups(plan.units, limit=DEFAULT_MAX_NODES) if g.count > 1]
    assert merged
    for group in merged:
        assert f"{group.first.name}\u2013{group.last.index}" in source
        assert f"{group.count} units" in source
        assert f"{group.first.in_channels}\u2192{group.last.out_channels} ch" in source


def test_bars_share_one_scale_across_networks():
    plans = [archspec.plan(p) for p in COMPARISON]
    widest = max(u.out_channels for p in plans for u in p.units if u is not p.head)
    source = progression(plans, collapse=True).source
    bars = 0
    for i, plan in enumerate(plans):
        for group in plan_groups(plan.units, limit=DEFAULT_MAX_NODES):
            if group.first is plan.head or not group.identical:
                continue
            node = f"n{i}_{group.first.name.replace('.', '_')} "
            line = next(line for line in source.splitlines() if line.strip().startswith(node))
            width = int(re.search(rf'WIDTH="(\d+)" HEIGHT="\d+" BGCOLOR="{BAR_COLOR}"', line).group(1))
            assert abs(width - group.last.out_channels * BAR_POINTS / widest) <= 0.5
            bars += 1
    assert bars >= 6


def test_shortcut_kinds_are_drawn_differently():
    option_a = archspec.plan(SPECS / "resnet-56.yaml")
    option_b = archspec.plan(SPECS / "resnet-56-b.yaml")
    source = progression([option_a, option_b]).source
    loops = re.findall(r"^\s*(n\d_\S+) -> \1 \[(.*)\]$", source, re.M)
    styles = {(node.split("_")[0], re.search(r"style=(\w+)", attrs).group(1)) for node, attrs in loops}
    # option A pads zeros where the shape changes, option B projects there
    assert ("n0", "dashed") in styles and ("n0", "bold") not in styles
    assert ("n1", "bold") in styles and ("n1", "dashed") not in styles
    changing = sum(1 for u in option_b.body if u.in_channels != u.out_channels or u.stride > 1)
    assert sum(1 for node, attrs in loops if node.startswith("n1") and "style=bold" in attrs) == changing
    assert "zero-padded identity" in source and "projection shortcut" in source


def test_concat_units_are_drawn_from_merge_and_shortcut():
    """Generic over blocks: a concat unit passing its input on (dense) gets a loop, one without does not."""
    plan = archspec.plan(SPECS / "resnet-20.yaml")

    def with_merge(shortcut: str):
        stages = tuple(dataclasses.replace(s, units=tuple(dataclasses.replace(u, merge="concat", shortcut=shortcut)
                                                         for u in s.units)) for s in plan.stages)
        return dataclasses.replace(plan, stages=stages)

    dense = progression([with_merge("identity")]).source
    loops = re.findall(r"^\s*(n0_\S+) -> \1 \[(.*)\]$", dense, re.M)
    assert len(loops) == len(plan_groups(plan.body)) and all("style=dotted" in a for _, a in loops)
    assert "input concatenated to the output" in dense
    branches = progression([with_merge("none")]).source
    assert not re.findall(r"^\s*(n0_\S+) -> \1 ", branches, re.M)
    assert "branches concatenated" in branches


@pytest.mark.parametrize("spec", ["efficientnet-b0", "mobilenet-v3-large", "efficientnet-v2-s"])
def test_inverted_residual_nodes_show_kernel_expansion_and_se(spec):
    """MBConv, bneck and Fused-MBConv nodes say their kernel, expansion, SE width and activation."""
    plan = archspec.plan(SPECS / f"{spec}.yaml")
    source = progression([plan], collapse=False).source
    labels = {u.name: next(line for line in source.splitlines() if f"<B>{u.name}</B>" in line) for u in plan.body}
    for unit in plan.body:
        label, options = labels[unit.name], unit.options
        k = options.kernel
        assert f"{k}\u00d7{k} {'dw' if unit.block != 'fused_mbconv' else 'conv'}" in label, (unit.name, label)
        expand = getattr(options, "expand", None) or unit.inner_channels / unit.in_channels
        assert f"expand \u00d7{round(expand, 2):g}" in label, (unit.name, label)
        se = getattr(options, "se_channels", 0)
        assert (f"SE {se} ch" in label) == bool(se) and ("SE " in label) == bool(se), (unit.name, label)
        act = {"silu": "SiLU", "relu": "ReLU", "hardswish": "Hardswish", "relu6": "ReLU6"}[options.act]
        assert f"\u00b7 {act}<" in label, (unit.name, label)
        assert f"groups {unit.groups}" not in label or unit.block == "fused_mbconv"  # depthwise, said once


def test_module_graph_titles_show_the_block_choices_too():
    from archspec.diagram import module_graph

    plan = archspec.plan(SPECS / "efficientnet-b0.yaml")
    source = module_graph(plan, collapse=False).source
    for unit in plan.body:
        o = unit.options
        title = next(l for l in source.splitlines() if f"<B>{unit.name}</B>" in l)
        assert (f"{o.kernel}\u00d7{o.kernel} dw \u00b7 expand \u00d7{o.expand} \u00b7 SE {o.se_channels} ch"
                " \u00b7 SiLU") in title, title


def test_squeeze_excite_shows_on_residual_nodes_only_where_present():
    se = progression([archspec.plan(SPECS / "se-resnet-50.yaml")], collapse=False).source
    plain = progression([archspec.plan(SPECS / "resnet-50.yaml")], collapse=False).source
    plan = archspec.plan(SPECS / "se-resnet-50.yaml")
    for unit in plan.body:
        hidden = unit.op("se.fc1").cout
        assert unit.out_channels // hidden == 16
        line = next(l for l in se.splitlines() if f"<B>{unit.name}</B>" in l)
        assert f"SE {hidden} ch" in line
    assert "SE " not in plain


def test_downsampling_units_are_marked():
    plan = archspec.plan(SPECS / "resnet-50.yaml")
    source = progression([plan]).source
    for unit in plan.units[:-1]:
        factor = downsamples(unit)
        if factor > 1:
            node = next(l for l in source.splitlines() if l.strip().startswith(f"n0_{unit.name.replace('.', '_')} "))
            assert f"\u2193{factor}" in node and "fde8e4" in node


def test_dot_is_byte_identical_across_processes(tmp_path):
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"w{seed}.dot"
        code = (f"from archspec.cli import app\nimport sys\nsys.argv=['archspec','diagram',"
                f"{', '.join(repr(str(p)) for p in COMPARISON)},'-o',{str(out)!r}]\napp()")
        done = run_python(code, PYTHONHASHSEED=seed)
        assert done.returncode == 0, done.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] == progression([archspec.plan(p) for p in COMPARISON]).source.encode()


@pytest.mark.parametrize("graph", [False, True], ids=["progression", "module-graph"])
def test_drawing_from_the_plan_does_not_import_torch(tmp_path, graph):
    """Both kinds of diagram read the Plan only: the module graph from the units' step graphs, no trace."""
    out = tmp_path / "w.svg"
    specs = [str(SPECS / "resnet-50.yaml")] if graph else [str(COMPARISON[0]), str(SPECS / "resnet-50.yaml")]
    code = (
        "import sys\nfrom archspec.cli import app\n"
        f"sys.argv = ['archspec', 'diagram', *{specs!r}, *{['--graph'] if graph else []!r}, '-o', {str(out)!r}]\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\nprint('clean')"
    )
    done = run_python(code)
    assert done.returncode == 0 and "clean" in done.stdout, done.stderr
    texts = svg_texts(out)
    if graph:
        assert "resnet-50: module graph" in texts and "fc linear 2048\u21921000" in texts


def test_large_network_renders_in_seconds(tmp_path):
    plan = archspec.plan(SPECS / "pyramidnet-272-a200.yaml")
    for collapse in (True, False):
        start = time.perf_counter()
        write_diagram(progression([plan], collapse=collapse), tmp_path / f"p{collapse}.svg")
        assert time.perf_counter() - start < 10
    assert len(svg_texts(tmp_path / "pFalse.svg")) > len(svg_texts(tmp_path / "pTrue.svg"))


# --- rendering, missing dot, bad input -----------------------------------------------


def test_missing_dot_writes_the_dot_file_and_exits_2(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "w.svg"
    code = f"import sys\nsys.argv=['archspec','diagram',{str(COMPARISON[0])!r},'-o',{str(out)!r}]\nfrom archspec.cli import main\nmain()"
    done = run_python(code, PATH=str(empty))
    assert done.returncode == 2
    assert "apt-get install graphviz" in done.stderr and "brew install graphviz" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
    assert out.with_suffix(".dot").read_text() == progression([archspec.plan(COMPARISON[0])]).source


def test_failed_render_leaves_the_target_untouched(tmp_path, monkeypatch):
    out = tmp_path / "w.png"
    out.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise graphviz.CalledProcessError(1, ["dot"], stderr=b"Error: syntax \xe9rror")

    monkeypatch.setattr(graphviz.Digraph, "pipe", broken)
    with pytest.raises(RenderError, match="syntax"):
        write_diagram(progression([archspec.plan(COMPARISON[0])]), out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.png"]


@pytest.mark.parametrize("args, message", [
    ([COMPARISON[0], "-o", "{tmp}/w.txt"], "end the file name in"),
    ([COMPARISON[0], "--set", "body.depth=21", "-o", "{tmp}/w.svg"], "resnet-110.yaml:"),
    ([SPECS / "missing.yaml", "-o", "{tmp}/w.svg"], "missing.yaml"),
    ([COMPARISON[0], COMPARISON[1], "--graph", "-o", "{tmp}/w.svg"], "one spec at a time"),
])
def test_bad_input_exits_2_without_output(tmp_path, args, message):
    result = cli(*(str(a).format(tmp=tmp_path) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- the module graph (torch.fx) -----------------------------------------------------


def clusters(source: str) -> list[str]:
    """The units' clusters (the columns that hold them are clusters too)."""
    return [c for c in re.findall(r"subgraph (cluster_\S+) \{", source) if not c.startswith("cluster_column")]


def cluster_labels(source: str) -> str:
    return "\n".join(l for l in source.splitlines() if "label=<<TABLE" in l and "\u00d7" in l)


@pytest.mark.parametrize("spec", ["resnet-20", "resnet-50", "preact-resnet-164"])
def test_module_graph_draws_each_run_of_blocks_once(spec, tmp_path):
    from archspec.diagram import module_graph

    plan = archspec.plan(SPECS / f"{spec}.yaml")
    source = module_graph(plan).source
    runs = expected_runs(plan.units)
    assert len(clusters(source)) == len(runs)
    for n in runs:
        if n > 1:
            assert f"\u00d7{n}<" in cluster_labels(source)
    # one residual add per drawn body unit
    body_runs = len(runs) - 2
    assert len(re.findall(r'label="\+" ', source)) == body_runs
    out = tmp_path / "g.svg"
    write_diagram(module_graph(plan), out)
    assert any(plan.name in t for t in svg_texts(out))


def test_module_graph_shows_the_shortcut_branches():
    from archspec.diagram import module_graph

    option_a = module_graph(archspec.plan(SPECS / "resnet-20.yaml")).source
    downsampling = sum(1 for u in archspec.plan(SPECS / "resnet-20.yaml").body if u.stride > 1)
    # one node each, labelled by its step: shortcut.subsample ::2, shortcut.pad zero-pad +16 ch
    assert len(re.findall(r'label="shortcut\.subsample ::2"', option_a)) == downsampling
    assert len(re.findall(r'label="shortcut\.pad zero-pad \+\d+ ch"', option_a)) == downsampling

    preact = archspec.plan(SPECS / "preact-resnet-164.yaml")
    source = module_graph(preact).source
    # the projection reads the shared pre-activation: an edge relu -> shortcut.conv in the unit
    first = preact.body[0].name.replace(".", "_")
    assert re.search(rf"\b{first}_relu1 -> {first}_shortcut_conv\b", source)  # the shared BN-ReLU is relu1
    assert "shortcut.conv 1\u00d71" in source


def test_module_graph_without_collapse_draws_every_unit():
    from archspec.diagram import module_graph

    plan = archspec.plan(SPECS / "resnet-20.yaml")
    assert len(clusters(module_graph(plan, collapse=False).source)) == len(plan.units)


def test_cli_graph_writes_png(tmp_path):
    out = tmp_path / "g.png"
    result = cli(SPECS / "resnet-20.yaml", "--graph", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16-24, big-endian)."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("spec", ["resnet-50", "mobilenet-v3-large"])
def test_module_graph_folds_the_stages_into_columns(spec, tmp_path):
    """One column of 16 bottlenecks was a 385x5721 strip: the stages wrap into columns instead."""
    out = tmp_path / "g.png"
    result = cli(SPECS / f"{spec}.yaml", "--graph", "-o", out)
    assert result.exit_code == 0, result.output
    width, height = png_size(out)
    assert 0.4 < width / height < 2.5, (width, height)
    assert height < 4000


def test_module_graph_columns_keep_stages_whole_and_in_order():
    from archspec.diagram import module_graph

    plan = archspec.plan(SPECS / "resnet-50.yaml")
    source = module_graph(plan).source
    columns = re.split(r"subgraph cluster_column\d+ \{", source)[1:]
    assert len(columns) == len(plan.stages)  # ResNet-50's four stages: one column each
    for stage, text in zip(plan.stages, columns):
        names = re.findall(r"subgraph cluster_(stages_\d+_\d+)_", text)
        assert {n.split("_")[1] for n in names} == {str(stage.index)}
    # an edge into the next column starts at a stand-in labelled with where it comes from
    assert source.count("to the next column") == len(plan.stages) - 1
    assert "from stages.0.1\u20132" in source


def node_line(source: str, node_id: str) -> str:
    return next(line for line in source.splitlines() if line.strip().startswith(f"{node_id} [label="))


def node_labels(source: str) -> dict[str, str]:
    """Each plain node's label (DOT quotes it only where it must)."""
    found = re.findall(r'^\s*(\w+) \[label=(?:"([^"]*)"|([^\s\]]+))', source, re.M)
    return {node: quoted or bare for node, quoted, bare in found}


@pytest.mark.parametrize("spec", ["resnet-50-dcn", "convnext-tiny", "shufflenet-v2-x1.0", "inception-v3", "maxvit-t"])
def test_module_graph_draws_every_step_with_its_label_and_every_input(spec):
    """Without collapsing, each step of each unit is a node titled by its step class's label, and each
    of its inputs an edge; a unit's input ``x`` is the previous unit's output."""
    from archspec.diagram import module_graph

    plan = archspec.plan(SPECS / f"{spec}.yaml")
    source = module_graph(plan, collapse=False).source
    edges = set(re.findall(r"^\s*(\w+) -> (\w+)", source, re.M))
    previous = "input"
    for unit in plan.units:
        ids = {"x": previous, **{n.name: re.sub(r"\W", "_", f"{unit.name}.{n.name}") for n in unit.graph.nodes}}
        for node in unit.graph.nodes:
            label = node.step.label
            assert label not in ("conv", "norm", "linear")  # a record says what it does
            line = node_line(source, ids[node.name])
            text = node_labels(line)[ids[node.name]]
            if len(node.inputs) > 1:
                assert text == label and "shape=circle" in line, (node, line)
            else:
                assert text.endswith(label) or text == node.name, (node, text)
            for source_name in node.inputs:
                start = ids[source_name]
                assert (start, ids[node.name]) in edges or (f"{start}_to", ids[node.name]) in {
                    (s[: len(start) + 3], t) for s, t in edges}, (start, ids[node.name])
        previous = ids[unit.graph.output]
    assert (previous, "output") in edges or any(s.startswith(f"{previous}_to") for s, t in edges if t == "output")


def labels(source: str) -> set[str]:
    return set(node_labels(source).values())


def test_module_graph_labels_say_what_each_step_does():
    """Kernels (a factorised 1x7, a stride, groups), norms, pools, activations and merges, as the steps say."""
    from archspec.diagram import module_graph

    inception = module_graph(archspec.plan(SPECS / "inception-v3.yaml"), collapse=False).source
    assert "max pool 3\u00d73 /2" in labels(inception)  # the stem's pool1: its name says "pool" already
    assert "branch7x7_2.conv 1\u00d77" in inception and "branch7x7_3.conv 7\u00d71" in inception
    shuffle = module_graph(archspec.plan(SPECS / "shufflenet-v2-x1.0.yaml")).source
    assert "branch1.dw.conv 3\u00d73 /2 g24" in shuffle and "channel shuffle g2" in labels(shuffle)
    assert "kept chunk 0 of 2" in labels(shuffle) and "split chunk 1 of 2" in labels(shuffle)
    convnext = module_graph(archspec.plan(SPECS / "convnext-tiny.yaml")).source
    assert "norm LayerNorm" in labels(convnext) and "layer_scale" in labels(convnext)
    assert "pwconv1 linear 96\u219296" not in convnext and "pwconv1 linear 96\u2192384" in labels(convnext)
    assert any(re.fullmatch(r"drop path 0\.\d+", text) for text in labels(convnext))
    dcn = module_graph(archspec.plan(SPECS / "resnet-50-dcn.yaml")).source
    assert "conv2 3\u00d73 /2 deformable" in labels(dcn)
    mobilenet = module_graph(archspec.plan(SPECS / "mobilenet-v3-large.yaml")).source
    assert "se.gate Hardsigmoid" in labels(mobilenet) and "\u00d7" in labels(mobilenet)
    assert "global avg pool" in labels(mobilenet) and "dropout 0.2" in labels(mobilenet)


def test_module_graph_edges_carry_the_graphs_shapes():
    """An edge's label is its source step's per-sample shape, from the graph (no trace)."""
    from archspec.diagram import module_graph

    plan = archspec.plan(SPECS / "resnet-50.yaml")
    source = module_graph(plan).source
    conv = plan.stem.graph.nodes[0]
    c, h, w = conv.shape
    assert re.search(rf'\bstem_conv -> stem_bn \[label=" {c}\u00d7{h}\u00d7{w}"\]', source)
    head = plan.head.graph
    assert re.search(rf'-> output \[label=" {head.shape_of(head.output)[0]}"\]', source)
    assert 'input [label="input 3\u00d7224\u00d7224"' in source


def test_module_graph_marks_the_backbones_taps(tmp_path):
    """--graph --features: the step each map is taken from (inside the stem, or a unit's output) gets the tap
    border and its line; a map after a unit drawn inside a collapsed run says after which unit."""
    out = tmp_path / "taps.dot"
    result = cli(SPECS / "resnet-50.yaml", "--graph", "--features", "--out-indices", "0,1,4", "-o", out)
    assert result.exit_code == 0, result.output
    source = out.read_text()
    info = archspec.feature_info("resnet-50", (0, 1, 4))
    plan = archspec.plan(SPECS / "resnet-50.yaml")
    marked = re.findall(r"^\s*(\w+) \[label=<.*\u25c6 feature (\d+) \u00b7 /(\d+) \u00b7 ([^<]+)<.*penwidth=2.2", source, re.M)
    assert len(marked) == len(info.selected) == 3 and source.count("\u25c6 feature") == 3
    expected = []
    for f in info.selected:
        if f.module.startswith("stem."):  # ResNet's activation before the max-pool: a step of the stem's graph
            expected.append((f"stem_{f.module.removeprefix('stem.')}", f.module))
        else:  # the stage's last unit, drawn as the first of its run
            stage = plan.stages[int(f.unit.split(".")[1])]
            last = stage.units[-1]
            assert f.unit == last.name and len(stage.units) > 2
            drawn = stage.units[1].name.replace(".", "_")
            expected.append((f"{drawn}_{last.graph.output}", f"{f.module} (after {f.unit})"))
    assert [(node, where) for node, _, _, where in marked] == expected
    assert [(int(i), int(r)) for _, i, r, _ in marked] == [(f.index, f.reduction) for f in info.selected]
    plain = cli(SPECS / "resnet-50.yaml", "--graph", "-o", tmp_path / "plain.dot")
    assert plain.exit_code == 0 and "feature" not in (tmp_path / "plain.dot").read_text()
