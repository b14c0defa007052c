"""`archspec build` end to end: ONNX verified in onnxruntime, fx code, state_dict, atomic output."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.export.onnx import OPSET, export_onnx, verify_onnx
from conftest import spec_path


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_build_pyramidnet_exports_verified_onnx(tmp_path):
    result = run("build", str(spec_path("pyramidnet")), "--export", "onnx", "--export", "fx",
                 "--export", "state_dict", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    onnx_path = tmp_path / "pyramidnet-110-a48.onnx"
    for path in (onnx_path, tmp_path / "pyramidnet-110-a48.fx.py", tmp_path / "pyramidnet-110-a48.pt"):
        assert f"wrote {path}" in result.output
    assert "onnxruntime vs torch at batch 1 and 3" in result.output
    assert list(tmp_path.glob(".*")) == []  # no temporary files left behind

    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value

    # The state_dict reloads into a fresh build and reproduces the ONNX outputs.
    net = archspec.build(spec_path("pyramidnet"))
    net.load_state_dict(torch.load(tmp_path / "pyramidnet-110-a48.pt", weights_only=True))
    net.eval()
    x = torch.randn(4, 3, 32, 32)
    (got,) = ort.InferenceSession(str(onnx_path)).run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = net(x).numpy()
    assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))

    code = (tmp_path / "pyramidnet-110-a48.fx.py").read_text()
    assert "def forward" in code and "stages" in code


@pytest.mark.parametrize("name", ["resnet-20", "wrn-16-4"])
def test_onnx_matches_torch(tmp_path, name):
    plan = archspec.plan(spec_path(name))
    model = archspec.build(spec_path(name))
    shape = (plan.in_channels, *plan.input_size)
    export_onnx(model, shape, tmp_path / "m.onnx")
    check = verify_onnx(model, shape, tmp_path / "m.onnx")
    assert check.ok and check.max_rel_diff < 1e-5
    assert check.batches == (1, 3)


def test_build_without_exports_reports_counts(tmp_path):
    result = run("build", str(spec_path("resnet-20")), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert "269,722 params" in result.output and "traced with torch.fx" not in result.output  # only for -e fx
    assert "nothing exported: add -e KIND (repeatable: onnx," in result.output
    assert not (tmp_path / "out").exists()


def test_set_overrides_apply_to_build(tmp_path):
    result = run("build", str(spec_path("resnet-20")), "--set", "classes=100", "--export", "state_dict",
                 "-o", str(tmp_path))
    assert result.exit_code == 0
    (written,) = tmp_path.glob("resnet-20-*.pt")  # a variant is named NAME-HASH8, never resnet-20.pt
    state = torch.load(written, weights_only=True)
    assert state["head.fc.weight"].shape == (100, 64)


def test_a_spec_that_only_the_set_completes_builds_like_the_api(tmp_path):
    """`--set input.size=16` on a spec without `input:` makes a valid spec (channels default to 3), as
    the API's overrides do; the files are named as a variant's, since no base network exists to clash with."""
    text = "\n".join(line for line in spec_path("resnet-20").read_text().splitlines() if not line.startswith("input"))
    spec = tmp_path / "no-input.yaml"
    spec.write_text(text + "\n")
    result = run("build", str(spec), "--set", "input.size=16", "-e", "state_dict", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    (written,) = (tmp_path / "out").glob("resnet-20-*.pt")
    model = archspec.build(str(spec), overrides=["input.size=16"])
    assert set(torch.load(written, weights_only=True)) == set(model.state_dict())
