"""Same spec, seed and package versions: byte-identical state_dict and ONNX files; the seed is recorded."""

from __future__ import annotations

import onnx
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from conftest import spec_path

runner = CliRunner()


def build_files(out, seed: int, *exports: str) -> dict[str, bytes]:
    torch.manual_seed(seed + 1234)  # torch's global RNG must not matter
    torch.rand(7)
    result = runner.invoke(app, ["build", str(spec_path("resnet-20")), "--set", "input.size=16", "--set", "name=r20",
                                 "--set", "body.depth=8",  # one unit a stage: a small graph exports fast
                                 "--seed", str(seed), *exports, "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path):
    first = build_files(tmp_path / "a", 0, "-e", "onnx", "-e", "state_dict")
    again = build_files(tmp_path / "b", 0, "-e", "onnx", "-e", "state_dict")
    other = build_files(tmp_path / "c", 1, "-e", "state_dict")
    assert sorted(first) == ["r20.onnx", "r20.pt"]
    assert first == again
    assert first["r20.pt"] != other["r20.pt"]
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "a" / "r20.onnx")).metadata_props}
    assert meta["archspec.seed"] == "0" and meta["archspec.init"] == "cifar_resnet"


def test_api_seed_drives_the_init_and_is_kept_on_the_module():
    a = archspec.build(spec_path("resnet-20"), seed=3)
    b = archspec.build(spec_path("resnet-20"), seed=3)
    c = archspec.build(spec_path("resnet-20"))
    assert a.seed == 3 and c.seed == 0
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.stem.conv.weight, c.stem.conv.weight)
