"""torchvision weights load into the compiled specs and compute the same function.

Every torchvision model here is randomly initialised (nothing is downloaded) and its
BN affine parameters and running statistics are randomised, so a swapped or
misplaced BN, or a stride in the wrong conv, changes the outputs. Inputs are 64x64:
the layouts do not depend on resolution, and small maps keep the suite fast.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import onnx
import pytest
import torch
import torchvision
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.convert import ConversionError, from_archspec, from_torchvision
from archspec.export.onnx import export_onnx, verify_onnx
from conftest import spec_path

MODELS = {  # torchvision constructor -> bundled spec
    "resnet18": "resnet-18",
    "resnet50": "resnet-50",
    "resnext50_32x4d": "resnext-50-32x4d",
    "wide_resnet50_2": "wide-resnet-50-2",
}
SHAPE = (3, 64, 64)


@lru_cache(maxsize=None)
def torchvision_model(name: str) -> torch.nn.Module:
    """A random torchvision model with random BN statistics, in eval mode."""
    torch.manual_seed(len(name))
    model = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return model.eval()


def converted(name: str, spec: str | Path | None = None) -> torch.nn.Module:
    spec = spec or spec_path(MODELS[name])
    model = archspec.build(spec)
    model.load_state_dict(from_torchvision(torchvision_model(name).state_dict(), spec), strict=True)
    return model.eval()


@pytest.mark.parametrize("name", MODELS)
def test_converted_weights_give_torchvision_outputs(name):
    x = torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torchvision_model(name)(x)
        got = converted(name)(x)
    torch.testing.assert_close(got, expected)


# resnet18 goes through ONNX in the CLI test below; wide_resnet50_2 is resnet50's graph with
# wider convs, left out to keep the suite fast (a 270 MB export).
@pytest.mark.parametrize("name", ["resnet50", "resnext50_32x4d"])
def test_onnx_export_of_converted_weights_matches_torchvision_in_onnxruntime(name, tmp_path):
    path = tmp_path / f"{name}.onnx"
    export_onnx(converted(name), SHAPE, path)
    check = verify_onnx(torchvision_model(name), SHAPE, path)  # onnxruntime vs torchvision itself
    assert check.ok, check


def test_shape_misfit_names_tensor_shapes_and_layer():
    with pytest.raises(ConversionError) as err:
        from_torchvision(torchvision_model("resnet50").state_dict(), spec_path("resnet-18"))
    message = str(err.value)
    assert "'layer1.0.conv1.weight'" in message
    assert "(64, 64, 1, 1) in the checkpoint" in message and "expects (64, 64, 3, 3)" in message
    assert "layer conv1 of unit stages.0.0" in message


def test_missing_tensor_is_named_with_its_layer():
    state = dict(torchvision_model("resnet18").state_dict())
    del state["layer2.0.downsample.1.running_var"]
    with pytest.raises(ConversionError, match=r"no tensor 'layer2\.0\.downsample\.1\.running_var' \(shape \(128\)\) "
                                              r"for layer shortcut\.bn of unit stages\.1\.0"):
        from_torchvision(state, spec_path("resnet-18"))


def test_leftover_tensor_is_refused():
    state = dict(torchvision_model("resnet18").state_dict())
    state["layer5.0.conv1.weight"] = torch.zeros(3, 3)
    with pytest.raises(ConversionError, match=r"'layer5\.0\.conv1\.weight' \(shape \(3, 3\)\).*no place in spec resnet-18"):
        from_torchvision(state, spec_path("resnet-18"))


def test_checkpoints_without_bn_counters_still_convert():
    """Old torchvision checkpoints predate num_batches_tracked; it never changes eval outputs."""
    state = {k: v for k, v in torchvision_model("resnet18").state_dict().items() if "num_batches" not in k}
    result = from_torchvision(state, spec_path("resnet-18"))
    assert int(result["stages.3.1.bn2.num_batches_tracked"]) == 0
    archspec.build(spec_path("resnet-18")).load_state_dict(result, strict=True)


def test_same_shapes_but_other_layout_is_refused():
    """Striding the 1x1 keeps every shape (ResNet v1 vs v1.5) but computes something else."""
    spec = archspec.load(spec_path("resnet-50"), ["body.block.stride_on=1x1"])
    with pytest.raises(ConversionError, match=r"unit stages\.1\.0 differs .*stride_on: 3x3"):
        from_torchvision(torchvision_model("resnet50").state_dict(), spec)


def test_block_types_torchvision_lacks_are_refused():
    with pytest.raises(ConversionError, match=r"'preact_bottleneck' block.*block types: basic, bottleneck"):
        from_torchvision(torchvision_model("resnet18").state_dict(), spec_path("preact-resnet-164"))


def test_archspec_state_dict_round_trips_and_misfits_are_named():
    spec = spec_path("resnet-18")
    state = archspec.build(spec).state_dict()
    assert {k: v.shape for k, v in from_archspec(state, spec).items()} == {k: v.shape for k, v in state.items()}
    with pytest.raises(ConversionError, match=r"'head\.fc\.weight' has shape \(1000, 512\).*expects \(10, 512\)"):
        from_archspec(state, archspec.load(spec, ["classes=10"]))


# --- the command line ---------------------------------------------------------------


def run_build(*args: str):
    return CliRunner().invoke(app, ["build", str(spec_path("resnet-18")), "--set", "input.size=64", *map(str, args)])


def test_cli_builds_verified_onnx_from_torchvision_weights(tmp_path):
    weights = tmp_path / "tv.pt"
    torch.save(torchvision_model("resnet18").state_dict(), weights)
    result = run_build("--weights", weights, "--weights-format", "torchvision",
                       "--export", "onnx", "--export", "state_dict", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    check = verify_onnx(torchvision_model("resnet18"), SHAPE, tmp_path / "out" / "resnet-18.onnx")
    assert check.ok, check
    metadata = {p.key: p.value for p in onnx.load(tmp_path / "out" / "resnet-18.onnx").metadata_props}
    assert metadata["archspec.weights"] == "torchvision:tv.pt"
    written = torch.load(tmp_path / "out" / "resnet-18.pt", weights_only=True)
    assert torch.equal(written["stages.1.0.shortcut.bn.running_var"],
                       torchvision_model("resnet18").layer2[0].downsample[1].running_var)


def test_cli_reloads_its_own_state_dict(tmp_path):
    first = archspec.build(spec_path("resnet-18")).state_dict()
    torch.save(first, tmp_path / "mine.pt")
    result = run_build("--weights", tmp_path / "mine.pt", "--weights-format", "archspec",
                       "--export", "state_dict", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    written = torch.load(tmp_path / "out" / "resnet-18.pt", weights_only=True)
    assert all(torch.equal(written[k], v) for k, v in first.items())


def test_cli_mismatched_checkpoint_exits_2_naming_the_tensor(tmp_path):
    weights = tmp_path / "tv50.pt"
    torch.save(torchvision_model("resnet50").state_dict(), weights)
    result = run_build("--weights", weights, "--export", "onnx", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "'layer1.0.conv1.weight' has shape (64, 64, 1, 1)" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"not a checkpoint", "pickled dict"])
def test_cli_unreadable_weights_exit_2(tmp_path, content):
    weights = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        weights.write_bytes(content)
        expected = "not a file torch.save wrote"
    else:
        torch.save({"epoch": 3, "state_dict": {}}, weights)
        expected = "holds a dict with keys epoch, state_dict, not a state_dict"
    result = run_build("--weights", weights, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert expected in result.stderr and "Traceback" not in result.output
