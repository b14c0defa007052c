"""NAS-Bench-201 (Dong & Yang 2020) as data: the cell and its reduction unit as bundled YAML block files
(blocks/nb201_*.yaml), cell strings to specs (space/nb201.py, `archspec nb201`), and the space of its
15,625 cells (spaces/nas-bench-201.yaml), each checked against xautodl 1.0.0's infer.tiny network."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.space.nb201 import EDGES, EXAMPLE, OPS, CellError, cell_spec_text, cell_string, parse_cell
from conftest import ROOT, spec_path

SPEC = spec_path("nas-bench-201")
SPACE = ROOT / "spaces" / "nas-bench-201.yaml"


def all_cells() -> list[str]:
    """The benchmark's 15,625 cell strings, in the order of itertools.product over the edges."""
    return [cell_string(dict(zip(EDGES, ops))) for ops in itertools.product(OPS, repeat=len(EDGES))]


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def xautodl_net(cell: str):
    """xautodl's ``infer.tiny`` network of a cell: TinyNetwork(C=16, N=5, genotype, 10 classes)."""
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    return TinyNetwork(16, 5, Structure.str2structure(cell), 10)


def xautodl_counts(cell: str) -> tuple[int, int]:
    """(sum of numel, FlopCounterMode / 2) of xautodl's network at 32x32 (on the CPU without autograd: the
    meta device is slower here, its dispatch outweighing this small network's arithmetic)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    net = xautodl_net(cell)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 32, 32))
    flops = counter.get_total_flops()
    assert flops % 2 == 0  # two per multiply-accumulate
    return sum(p.numel() for p in net.parameters()), flops // 2


def test_fifty_seeded_cells_count_as_xautodl_s_networks():
    """params == xautodl's sum(numel) and MACs == its FlopCounterMode / 2, for 50 of the 15,625 cells drawn
    with a fixed seed (archspec's counts are analytic; xautodl's are measured, about 0.25 s a cell on one core)."""
    cells = random.Random(201).sample(all_cells(), 50)
    assert len({parse_cell(c)["e3_2"] for c in cells}) == len(OPS)  # the draw covers every op
    for cell in cells:
        plan = archspec.plan(archspec.nb201(cell))
        assert (plan.params, plan.macs) == xautodl_counts(cell), cell


def test_the_bundled_spec_is_its_cell_and_states_xautodl_s_figures():
    spec = archspec.load(SPEC)
    cell = cell_string(spec.body.block.params)
    assert cell == EXAMPLE
    assert (spec.reference.params, spec.reference.macs) == xautodl_counts(cell) == (802_426, 113_951_360)


@pytest.mark.parametrize("cell", [
    EXAMPLE,
    # zeros into a conv's input (node 1 is none), a pool, a 1x1 conv and a skip
    "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_1x1~2|",
])
def test_xautodl_s_state_dict_loads_strictly_and_gives_its_outputs(cell):
    import torch
    from archspec.convert import from_xautodl

    torch.manual_seed(0)
    theirs = xautodl_net(cell).eval()
    with torch.no_grad():  # running statistics that are not the identity, so BN's use is checked too
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    spec = archspec.nb201(cell)
    ours = archspec.build(spec).eval()
    state = theirs.state_dict()
    # the spec's checkpoint: names (inherited from the bundled nas-bench-201): xautodl's stem, head and
    # one flat list of cells (``cells.{unit}``: stages of 5, 1, 5 units put stages.2.4 at 10); inside a unit the step names are xautodl's
    converted = from_xautodl(state, spec)
    assert len(converted) == len(state) and {id(t) for t in converted.values()} == {id(t) for t in state.values()}
    assert converted["stages.2.4.layers.1.op.1.weight"] is state["cells.10.layers.1.op.1.weight"]  # 5 + 1 + 4
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        (_, expected), got = theirs(x), ours(x)
    assert torch.isfinite(got).all() and got.std() > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride, width", [(2, 32), (1, 32), (1, 16)])  # pooled, projected, identity shortcut
def test_the_reduction_block_is_xautodl_s_resnet_basic_block_in_each_of_its_shortcuts(write_spec, stride, width):
    import torch
    from xautodl.models.cell_operations import ResNetBasicblock

    torch.manual_seed(0)
    theirs = ResNetBasicblock(16, width, stride).eval()
    spec = archspec.load(write_spec(f"""name: t
input: {{channels: 3, size: 8}}
classes: 10
stem: {{type: conv, kernel: 3, width: 16, norm: bn, act: none}}
body:
  stages: [{{units: 1, stride: {stride}, width: {width}}}]
  block: {{type: nb201_reduction}}
"""))
    ours = archspec.build(spec).get_submodule("stages.0.0").eval()
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    unit = archspec.plan(spec).units[1]
    assert unit.params == sum(p.numel() for p in theirs.parameters())
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_report_verify_proves_a_cell_s_counts_and_saved_bytes(tmp_path):
    """Zero edges, pools without padding counts, convs on a zeroed node: counts and autograd's saved bytes."""
    path = tmp_path / "cell.yaml"
    path.write_text(cell_spec_text("|none~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"))
    result = run("report", "--verify", str(path))
    assert result.exit_code == 0, result.output
    assert "train_saved_bytes == autograd's saved tensors" in result.output


def test_a_cell_builds_to_verified_onnx_and_standalone_code(tmp_path):
    path = tmp_path / "cell.yaml"
    path.write_text(cell_spec_text("|none~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"))
    result = run("build", str(path), "-e", "onnx", "-e", "python", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "onnxruntime vs torch" in result.output and "clean python" in result.output


# -- cell strings


def test_cell_strings_round_trip_and_name_their_edges_in_order():
    edges = parse_cell(EXAMPLE)
    assert list(edges) == list(EDGES)
    assert edges == {"e1_0": "nor_conv_3x3", "e2_0": "nor_conv_3x3", "e2_1": "avg_pool_3x3", "e3_0": "skip_connect",
                     "e3_1": "nor_conv_3x3", "e3_2": "skip_connect"}
    cells = all_cells()
    assert len(set(cells)) == 5 ** 6 == 15_625
    assert all(cell_string(parse_cell(c)) == c for c in cells[::97])
    assert parse_cell(f"  {EXAMPLE}\n") == edges


def test_archspec_nb201_writes_a_spec_that_validates(tmp_path):
    cell = "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
    out = tmp_path / "cell.yaml"
    result = run("nb201", cell, "-o", str(out))
    assert result.exit_code == 0, result.output
    params, macs = xautodl_counts(cell)
    assert f"{params:,} params, {macs:,} MACs" in result.output
    spec = archspec.load(out)
    assert cell_string(spec.body.block.params) == cell and spec.reference is None
    printed = run("nb201", cell)
    assert printed.exit_code == 0 and printed.output == out.read_text()


def test_nb201_and_sampling_the_space_do_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from archspec.cli import app\n"
        f"for argv in (['nb201', {EXAMPLE!r}, '-o', {str(tmp_path / 'cell.yaml')!r}],\n"
        f"             ['sample', {str(SPACE)!r}, '-n', '2', '-o', {str(tmp_path / 'out')!r}]):\n"
        "    try:\n"
        "        app(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no torch" in out.stdout and "802,426 params, 113,951,360 MACs" in out.stdout
    assert (tmp_path / "out" / "index.jsonl").read_text().count("\n") == 2


@pytest.mark.parametrize("cell, words", [
    ("", "the cell string is empty"),
    ("|none~0|+|none~0|none~1|", "has 2 nodes (parts between `+`), not 3"),
    ("|nor_conv3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "`nor_conv3x3` is not an op; did you mean `nor_conv_3x3`?"),
    ("|none~0|+|none~0|none~1|+|none~0|none~2|none~1|", "at column 34 (node 3's edge from node 1) reads node `2`"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 at column 10, `|none~0|`, has 1 edge; node 2 has 2"),
    ("|none~0|+|none~0|none1|+|none~0|none~1|none~2|", "edge `none1` at column 18 (node 2's edge from node 1) has no `~`"),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 at column 1, `none~0`, does not start and end with `|`"),
    ("|" + "x" * 500, "has 501 characters; one has at most 400"),
])
def test_a_bad_cell_string_exits_2_with_one_paragraph_and_writes_nothing(tmp_path, cell, words):
    out = tmp_path / "cell.yaml"
    result = run("nb201", cell, "-o", str(out))
    assert result.exit_code == 2
    assert words in result.output and "A NAS-Bench-201 cell string is three nodes" in result.output
    assert result.output.count("error") == 1 and not out.exists()
    with pytest.raises(CellError, match="one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"):
        archspec.nb201(cell)


# -- the block language's parts this cell needs


def test_a_misspelt_choice_in_a_condition_is_located_in_the_block_file(tmp_path):
    text = (ROOT / "blocks" / "nb201_cell.yaml").read_text()
    assert text.count("e2_1 == 'avg_pool_3x3'") == 1
    (tmp_path / "cell.yaml").write_text(text.replace("e2_1 == 'avg_pool_3x3'", "e2_1 == 'avg_pool3x3'"))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "e2_1 == 'avg_pool_3x3'" in row)
    spec = SPEC.read_text().replace("body:", "blocks: {nb201_cell: cell.yaml}\nbody:")
    (tmp_path / "spec.yaml").write_text(spec)
    result = run("validate", str(tmp_path / "spec.yaml"))
    assert result.exit_code == 2
    assert f"cell.yaml:{line}:" in result.output and "did you mean `avg_pool_3x3`?" in result.output


def test_a_number_parameter_compared_with_text_is_an_error(write_spec):
    text = """name: t
input: {channels: 3, size: 16}
classes: 10
stem: {type: conv, width: 8}
blocks:
  gated:
    params: {k: {type: int, default: 3}}
    steps:
      - {name: conv, op: conv, out: in_channels, kernel: 3}
      - {name: zero, op: zero, when: "k == 'three'"}
body:
  stages: [{units: 1}]
  block: {type: gated}
"""
    result = run("validate", str(write_spec(text)))
    assert result.exit_code == 2 and "compares the int parameter `k` with text `three`" in result.output
    result = run("report", "--verify", str(write_spec(text.replace("'three'", "3"))))
    assert result.exit_code == 0, result.output  # a zero step: counted, built and verified like any step


# -- the space


def test_the_space_samples_cells_in_its_mac_band_with_xautodl_s_counts(tmp_path):
    result = archspec.sample(SPACE, 8, seed=0, out=tmp_path / "out")
    assert len({s.sha256 for s in result.samples}) == 8
    cells = set()
    for sample in result.samples:
        edges = {path.rsplit(".", 1)[1]: op for path, op in sample.values.items() if path.startswith("body.block.")}
        cell = cell_string(edges)
        cells.add(cell)
        assert 50_000_000 <= sample.macs <= 100_000_000
        plan = archspec.plan(archspec.load(tmp_path / "out" / sample.file))  # standalone, reference dropped
        assert (plan.params, plan.macs) == (sample.params, sample.macs) == xautodl_counts(cell)
    assert len(cells) == 8
    index = [json.loads(line) for line in (tmp_path / "out" / "index.jsonl").read_text().splitlines()]
    assert [row["sha256"] for row in index] == [s.sha256 for s in result.samples]
