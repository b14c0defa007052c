"""One verification policy for every artifact (archspec.export.verify): whatever the export kind
and its options, a non-finite or input-independent output fails with exit status 1, a message
naming what was compared, and nothing written.

The tests run by class: every export kind and ONNX option combination goes through the same
cases, so a new kind or option added to ARTIFACTS gets the guarantee checked."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.export import verify
from archspec.export.build import KINDS, SUFFIX, build_exports
from archspec.export.onnx_options import OnnxOptions
from archspec.export.verify import VerificationError, compare

runner = CliRunner()
SMALL = ["--set", "input.size=16", "--set", "name=x"]
# Every BN divides by 1e15: the logits are the bias alone, to 1e-14 (the issue's `.inf` is now refused
# by validation, exit 2: see test_an_infinite_eps_is_refused_before_any_build).
BROKEN = ["--set", "batchnorm.eps=1.0e+30"]
# Every artifact path: (export kinds, ONNX options).
ARTIFACTS = {
    "onnx": (["onnx"], []),
    "onnx --dynamic hw": (["onnx"], ["--dynamic", "hw"]),
    "onnx --dynamic batch,hw": (["onnx"], ["--dynamic", "batch,hw"]),
    "onnx --dtype fp16": (["onnx"], ["--dtype", "fp16"]),
    "onnx --external-data": (["onnx"], ["--external-data"]),
    "pt2": (["pt2"], []),
    "python": (["python"], []),
    "fx": (["fx"], []),
    "safetensors": (["safetensors"], []),
    "state_dict": (["state_dict"], []),
}


def test_every_export_kind_is_in_the_table():
    assert {kind for kinds, _ in ARTIFACTS.values() for kind in kinds} == set(KINDS)


def argv(name: str) -> list[str]:
    kinds, options = ARTIFACTS[name]
    return [arg for kind in kinds for arg in ("-e", kind)] + options


@pytest.mark.parametrize("name", ARTIFACTS)
def test_input_independent_network_fails_every_artifact_and_writes_nothing(tmp_path, name):
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "resnet-20", *argv(name), *SMALL, *BROKEN, "-o", str(out)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "its outputs at batch 1 and 3 of N(0, 1) inputs" in text  # what was compared
    assert "the same for every input" in text and "calibrated" in text
    assert "untrained" not in text and "Nothing was written" in text
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.parametrize("name", ARTIFACTS)
def test_an_infinite_eps_is_refused_before_any_build(tmp_path, name):
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "resnet-20", *argv(name), *SMALL, "--set", "batchnorm.eps=.inf",
                                 "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "batchnorm.eps: must be a finite number" in " ".join(result.output.split())
    assert not out.exists() or os.listdir(out) == []


@pytest.fixture(scope="module")
def resnet20_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "trained.pt"
    torch.save(archspec.build("resnet-20", overrides=["input.size=16"]).state_dict(), path)
    return path


@pytest.mark.parametrize("name", ["onnx", "onnx --dynamic hw", "pt2"])
def test_with_weights_the_message_blames_the_weights_not_untrained_statistics(tmp_path, name, resnet20_weights):
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "resnet-20", *argv(name), *SMALL, *BROKEN, "-w", str(resnet20_weights),
                                 "--weights-format", "archspec", "-o", str(out)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "With the weights loaded from" in text and "trained.pt" in text
    assert "untrained" not in text and "calibrated" not in text  # trained statistics are the ones verified
    assert not out.exists() or os.listdir(out) == []


OUTPUT_ARTIFACTS = [name for name in ARTIFACTS if ARTIFACTS[name][0][0] not in ("safetensors", "state_dict")]


@pytest.mark.parametrize("name", OUTPUT_ARTIFACTS)
def test_every_artifact_is_judged_on_its_own_outputs(tmp_path, monkeypatch, name):
    """The module passes; each artifact's own outputs then go through ``judge`` (made to find
    a problem here), and the build fails naming the file and the comparison."""
    original = verify.judge
    seen = []

    def failing(found, outputs, runtime, tolerance=verify.RELATIVE_TOLERANCE, names=(), floor=0.0):
        comparisons, problems = original(found, outputs, runtime, tolerance, names, floor)
        if runtime == "torch":  # the module itself
            return comparisons, problems
        seen.append((runtime, [c.statistics for c in comparisons]))
        return comparisons, (*problems, "injected")

    monkeypatch.setattr(verify, "judge", failing)
    kinds, options = ARTIFACTS[name]
    parsed = OnnxOptions()
    if "--dynamic" in options:
        parsed = OnnxOptions(dynamic=OnnxOptions.parse_dynamic(options[1]))
    elif "--dtype" in options:
        parsed = OnnxOptions(dtype=options[1])
    elif "--external-data" in options:
        parsed = OnnxOptions(external_data=True)
    plan = archspec.plan("resnet-20", overrides=["input.size=8"])
    with pytest.raises(VerificationError) as caught:
        build_exports(plan, kinds, tmp_path / "out", onnx_options=parsed, stem="x")
    message = str(caught.value)
    assert "injected" in message and "Nothing was written" in message
    assert message.startswith(str(tmp_path / "out" / f"x{SUFFIX[kinds[0]]}") + ": ")  # names the artifact
    assert seen and seen[0][1] == ["as built", "calibrated"]  # both cases, as for the default ONNX file
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_a_batch_of_one_at_two_sizes_still_shows_whether_outputs_depend_on_the_input():
    """--dynamic hw without batch runs batch 1 only: the spread is measured across all samples."""
    differing = compare("as built", [np.ones((1, 4), np.float32), np.full((1, 4), 2, np.float32)],
                        [np.ones((1, 4), np.float32), np.full((1, 4), 2, np.float32)])
    same = compare("as built", [np.ones((1, 4), np.float32)] * 2, [np.ones((1, 4), np.float32)] * 2)
    assert differing.input_dependent and not same.input_dependent


def test_a_non_finite_artifact_output_is_named_as_the_artifacts():
    finite = [np.ones((2, 4), np.float32)]
    broken = [np.full((2, 4), np.inf, np.float32)]
    found = [verify.Case("as built", (torch.zeros(2, 1),), tuple(finite))]
    comparisons, problems = verify.judge(found, [broken], "torch.export.load")
    assert problems == ("as built: the outputs of torch.export.load are not finite (NaN or infinity)",)
    with pytest.raises(VerificationError, match=r"^y\.pt2: torch\.export\.load vs module: as built: the outputs of "):
        verify.require("y.pt2", "torch.export.load vs module", comparisons, problems)


def test_a_shape_difference_is_a_problem_naming_the_artifact():
    found = [verify.Case("as built", (torch.zeros(2, 1),), (np.ones((2, 4), np.float32),))]
    comparisons, problems = verify.judge(found, [[np.ones((2, 5), np.float32)]], "the fx module")
    assert problems == ("as built: the fx module gave outputs of shape (2, 5), torch (2, 4)",)
    with pytest.raises(VerificationError, match=r"^x\.fx\.py: fx vs module: as built: the fx module gave outputs "
                                                r"of shape \(2, 5\), torch \(2, 4\)\. Nothing was written\.$"):
        verify.require("x.fx.py", "fx vs module", comparisons, problems)


def test_several_outputs_are_judged_each_on_its_own_scale():
    """A backbone's maps, per input one after another: a constant map fails even when another varies."""
    varying = [np.full((1, 4), v, np.float32) for v in (1.0, 2.0)]
    constant = np.full((1, 2, 3), 7.0, np.float32)
    expected = (varying[0], constant, varying[1], constant)  # input 0: maps a, b; input 1: maps a, b
    found = [verify.Case("as built", (torch.zeros(1, 1), torch.ones(1, 1)), expected)]
    comparisons, problems = verify.judge(found, [list(expected)], "onnxruntime", names=("a", "b"))
    assert [c.statistics for c in comparisons] == ["a as built", "b as built"]
    assert problems == ("b as built: the outputs are the same for every input (spread 0 at output scale 7), "
                        "so the comparison proves nothing about the graph",)
    _, missing = verify.judge(found, [list(expected[:3])], "onnxruntime", names=("a", "b"))
    assert missing == ("as built: onnxruntime gave 3 outputs, torch 4",)


FP16_FLOOR = float(np.finfo(np.float16).tiny)


def _judged(as_built_scale: float, as_built_error: float, calibrated_error: float | None, floor: float = FP16_FLOOR,
            nonfinite: bool = False):
    """judge() on an as-built case whose torch outputs are at most ``as_built_scale`` and an artifact off by
    ``as_built_error`` of that scale (NaN: ``nonfinite``), and a calibrated case (scale 1) off by
    ``calibrated_error``; both depend on the input."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 1.0, (3, 4)).astype(np.float32)
    found, outputs = [], []
    expected = base * as_built_scale
    got = expected + as_built_error * as_built_scale
    if nonfinite:
        got = got.copy()
        got[0, 0] = np.nan
    found.append(verify.Case("as built", (torch.zeros(3, 1),), (expected,)))
    outputs.append([got])
    if calibrated_error is not None:
        found.append(verify.Case("calibrated", (torch.zeros(3, 1),), (base,), overrides={}))
        outputs.append([base + calibrated_error])
    return verify.judge(found, outputs, "onnxruntime fp16", tolerance=1e-2, floor=floor)


def test_an_as_built_case_below_the_precision_s_range_is_shown_not_judged_when_a_calibrated_one_is_judged():
    """An untrained network's raw outputs can be smaller than fp16's smallest normal number (EfficientNet-B0's
    are 5e-14): no fp16 file can agree with them, so the calibrated comparison decides."""
    comparisons, problems = _judged(5e-14, 1.0, 0.001)
    assert problems == () and [c.statistics for c in comparisons] == ["as built", "calibrated"]
    assert verify.below_range(comparisons[0], comparisons, FP16_FLOOR)


@pytest.mark.parametrize("case, says", [
    (dict(as_built_scale=5e-14, as_built_error=1.0, calibrated_error=0.5), "calibrated: onnxruntime fp16 differs"),
    (dict(as_built_scale=5e-14, as_built_error=1.0, calibrated_error=None), "as built: onnxruntime fp16 differs"),
    (dict(as_built_scale=1e-3, as_built_error=1.0, calibrated_error=0.001), "as built: onnxruntime fp16 differs"),
    (dict(as_built_scale=5e-14, as_built_error=1.0, calibrated_error=0.001, floor=0.0), "as built: onnxruntime"),
    (dict(as_built_scale=5e-14, as_built_error=0.0, calibrated_error=0.001, nonfinite=True), "not finite"),
])
def test_the_precision_s_range_excuses_nothing_else(case: dict, says: str):
    """Still failures: a wrong calibrated graph, an as-built case with no calibrated one to decide, outputs
    within the precision's range, an fp32 file (floor 0), and NaN anywhere."""
    _, problems = _judged(**case)
    assert any(says in p for p in problems), problems


def test_an_untrained_efficientnet_exports_to_fp16(tmp_path):
    """EfficientNet-B0 as built outputs about 5e-14, below fp16's range: the fp16 file is verified by its
    calibrated comparison and written, the summary naming the comparison that was not judged."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", "efficientnet-b0", "--set", "input.size=64", "-e", "onnx",
                                      "--dtype", "fp16", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "as built not judged: its outputs, at most" in " ".join(result.output.split())
    [written] = out.iterdir()  # a variant (--set) is named with its hash
    assert written.name.startswith("efficientnet-b0-") and written.suffix == ".onnx"


def _resnet20_cases():
    model = archspec.build("resnet-20").eval()
    inputs = verify.verification_inputs((3, 32, 32), (1, 3))
    return model, inputs, verify.cases(model, inputs, calibrate=True)


def test_the_stored_precision_s_error_is_what_torch_s_own_fp16_forward_shows():
    """precision_error rounds every stored tensor to fp16 and computes in fp32; torch's own fp16 forward
    (slow on the CPU, so not what verification runs) shows an error of the same size on the same cases."""
    import copy

    model, _, found = _resnet20_cases()
    estimated = verify.precision_error(model, found, torch.float16)
    half = copy.deepcopy(model).half()
    actual = 0.0
    for case in found:
        overrides = None if case.overrides is None else {k: v.astype(np.float16) for k, v in case.overrides.items()}
        with verify.holding(half, overrides), torch.no_grad():
            got = [half(x.half()).float().numpy() for x in case.inputs]
        actual = max(actual, compare(case.statistics, case.expected, got).rel_diff)
    assert 0 < estimated and actual / 3 < estimated < actual * 3, (estimated, actual)
    assert verify.precision_error(model, found, torch.float32) == 0.0


def test_a_tolerance_raised_to_the_precision_s_error_still_refuses_a_wrong_file(tmp_path):
    """An fp16 file 20% off is refused, whatever fp16 costs the network (here well under 1%)."""
    model, inputs, _ = _resnet20_cases()

    def wrong(xs, overrides):
        with verify.holding(model, overrides):
            return [o * 1.2 for o in verify.torch_outputs(model, xs)]

    with pytest.raises(VerificationError) as caught:
        verify.verified(tmp_path / "x.onnx", "onnxruntime fp16 vs fp32 torch", model, inputs, wrong,
                        "onnxruntime fp16", 1e-2, precision=torch.float16)
    assert "differs from torch by 0.2 of the output scale" in str(caught.value)


def test_a_deep_untrained_network_exports_to_fp16_within_what_fp16_costs_it(tmp_path):
    """ResNet-50 with calibrated statistics loses several percent of its output scale to fp16's rounding in
    torch itself: its fp16 file is held to twice that, and the summary says so."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", "resnet-50", "--set", "input.size=64", "-e", "onnx",
                                      "--dtype", "fp16", "-o", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "tolerance 2x the" in said and "that storing every tensor in float16 costs this network in torch" in said
    assert len(list(out.iterdir())) == 1
