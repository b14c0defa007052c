"""A verification cannot pass a broken network: NaN, inf, a mismatch or input-independent outputs
fail the build with exit status 1, a message saying what was compared, and nothing written."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.export.onnx import export_onnx
from archspec.export.verify import (
    RELATIVE_TOLERANCE, Comparison, OnnxCheck, calibrated_statistics, compare, verify_onnx,
)
from conftest import spec_path

runner = CliRunner()
SMALL = ["input.size=16"]  # resnet-20 at 16x16: the property does not depend on the size


def files_under(path) -> list[str]:
    return sorted(os.listdir(path)) if path.exists() else []


@pytest.fixture(scope="module")
def nan_weights(tmp_path_factory):
    """resnet-20's state_dict with every floating tensor NaN, as a --weights file."""
    state = archspec.build(spec_path("resnet-20")).state_dict()
    path = tmp_path_factory.mktemp("weights") / "nan.pt"
    torch.save({k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in state.items()}, path)
    return path


def test_nan_checkpoint_fails_the_build_and_writes_nothing(tmp_path, nan_weights):
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", str(spec_path("resnet-20")), *sum((["--set", s] for s in SMALL), []),
                                 "-w", str(nan_weights), "--weights-format", "archspec",
                                 "-e", "onnx", "-e", "state_dict", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "not finite" in result.output and "nan.pt" in result.output and "stem.conv.weight" in result.output
    assert files_under(out) == []


def test_overflowing_network_fails_the_build_and_writes_nothing(tmp_path):
    """Finite weights whose BN statistics say the activations are 1e-30 wide: each BN then
    multiplies by ~1e15, and the outputs overflow float32 (as ResNet-1202's do untrained)."""
    state = archspec.build(spec_path("resnet-20"), overrides=SMALL).state_dict()
    for name in state:
        if name.endswith("running_var"):
            state[name] = torch.full_like(state[name], 1e-30)
    weights = tmp_path / "tiny-weights.pt"
    torch.save(state, weights)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(spec_path("resnet-20").read_text() + "batchnorm: {eps: 1.0e-30}\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", str(spec), "--set", "input.size=16", "-w", str(weights),
                                 "--weights-format", "archspec", "-e", "onnx", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "are finite, but their activations overflow float32" in result.output
    assert files_under(out) == []


def test_untrained_resnet_1202_overflows_fails_and_writes_nothing(tmp_path):
    """ResNet-1202 untrained in eval mode: each unit adds its branch to the stream, and 600
    units overflow float32. Narrow (4 channels) and at 8x8, it overflows just the same."""
    narrow = ["body.depth=1202", "input.size=8", "stem.width=4", "body.widening.base=4"]
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", str(spec_path("resnet-110")), *sum((["--set", s] for s in narrow), []),
                                 "-e", "state_dict", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "torch's outputs are not finite" in result.output
    assert "Every weight is finite: untrained, eval-mode BN" in result.output
    assert files_under(out) == []


def test_nan_is_never_a_difference_of_zero():
    finite = [np.ones((1, 4), np.float32)]
    broken = [np.full((1, 4), np.nan, np.float32)]
    comparison = compare("as built", finite, broken)
    assert not comparison.finite and comparison.rel_diff == math.inf and not comparison.input_dependent


class Constant(torch.nn.Module):
    """Ignores its input, as a fresh EfficientNet's vanishing activations effectively do."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(x.mean((2, 3)) * 0.0)


def test_input_independent_outputs_fail_verification(tmp_path):
    model = Constant().eval()
    export_onnx(model, (3, 8, 8), tmp_path / "c.onnx")
    check = verify_onnx(model, (3, 8, 8), tmp_path / "c.onnx")
    assert not check.ok and "the same for every input" in check.problems[0]


class Tampered(torch.nn.Module):
    """Another function than the exported one: onnxruntime must disagree."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) * 1.01


@pytest.fixture(scope="module")
def resnet20_onnx(tmp_path_factory):
    model = archspec.build(spec_path("resnet-20"), overrides=SMALL).eval()
    path = tmp_path_factory.mktemp("onnx") / "r.onnx"
    export_onnx(model, (3, 16, 16), path)
    return model, path


def test_mismatch_beyond_tolerance_fails(resnet20_onnx):
    model, path = resnet20_onnx
    check = verify_onnx(Tampered(model).eval(), (3, 16, 16), path, calibrate=False)
    assert not check.ok and check.max_rel_diff > RELATIVE_TOLERANCE
    assert "differs from torch by" in check.problems[0]


def test_calibrated_comparison_is_order_one_and_input_dependent(resnet20_onnx):
    model, path = resnet20_onnx
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check = verify_onnx(model, (3, 16, 16), path)
    assert check.ok, check.problems
    assert [c.statistics for c in check.comparisons] == ["as built", "calibrated"]
    calibrated = check.exercised
    assert 0.05 < calibrated.scale < 20 and calibrated.input_dependent and calibrated.rel_diff < 1e-5
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # statistics restored
    text = check.describe()
    assert text.index("relative error") < text.index("max |diff|") and "calibrated on 2 random batches" in text


def test_calibration_gives_unit_scale_statistics():
    model = archspec.build(spec_path("resnet-20"), overrides=SMALL)
    with calibrated_statistics(model, (3, 16, 16)) as stats:
        assert model.stem.bn.running_var.mean() != 1.0
    assert set(stats) == {f"{n}.{s}" for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)
                          for s in ("running_mean", "running_var")}
    assert torch.all(model.stem.bn.running_var == 1.0)


def test_cli_leads_with_the_relative_error_and_says_what_was_compared(tmp_path):
    """EfficientNet-B0 as built outputs almost a constant (1e-14: BN's initial statistics and
    torchvision's fan-out init shrink it stage by stage); calibrated, its outputs are O(1)."""
    small = ["input.size=32", "scaling.depth_mult=0.3", "scaling.width_mult=0.5"]  # 7 units: it vanishes as well
    result = runner.invoke(app, ["build", str(spec_path("efficientnet-b0")), *sum((["--set", s] for s in small), []),
                                 "-e", "onnx", "--set", "name=b0", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    scales = dict(re.findall(r"^  (as built|calibrated): relative error \S+ \(max \|diff\| \S+, output scale (\S+)\)",
                             result.output, re.M))
    assert float(scales["as built"]) < 1e-6 and 0.1 < float(scales["calibrated"]) < 100
    assert "of N(0, 1) inputs" in result.output and "calibrated on 2 random batches of 8" in result.output
    lines = result.output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  calibrated: relative error"))
    assert lines[first + 1].startswith("  as built: relative error")  # the line that matters comes first
    assert lines[first + 2].startswith("  (why ") and "nearly vanishes" in lines[first + 2]
    assert re.search(r"^built, verified and exported in \d+\.\d s$", result.output, re.M)
    assert re.search(r"^export onnx: \d+\.\d\d s$", result.output, re.M)
    assert re.search(r"^verify onnx: \d+\.\d\d s$", result.output, re.M)
    assert files_under(tmp_path) == ["b0.onnx"]


def test_the_calibrated_line_comes_first_and_huge_raw_outputs_are_explained():
    """PyramidNet-110 as built outputs 2e+11 (BN's initial statistics normalise nothing): the calibrated
    comparison leads, and a sentence says why the raw scale is huge; an O(1) scale needs no sentence."""
    huge = Comparison("as built", 9.83e4, 2.03e11, 1e10, True)
    calibrated = Comparison("calibrated", 2.98e-7, 0.384, 0.1, True)
    text = OnnxCheck(Path("p.onnx"), 18, (1, 3), (huge, calibrated)).describe().splitlines()
    assert text[1].startswith("  calibrated: relative error 7.8e-07") and text[2].startswith("  as built: relative")
    assert text[3].startswith("  (why 2.03e+11 as built: untrained, every BN layer still holds its initial")
    assert "grow unit by unit" in text[3] and "not a fault" in text[3]
    plain = Comparison("as built", 1e-5, 49.3, 1.0, True)
    assert len(OnnxCheck(Path("p.onnx"), 18, (1, 3), (plain, calibrated)).describe().splitlines()) == 3
