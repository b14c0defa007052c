"""The memory model against autograd: saved-for-backward bytes to the byte, for every bundled spec."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from archspec.api import plan, report
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.complexity.measure import measure_saved
from archspec.complexity.memory import memory
from archspec.plan.ops import Norm
from conftest import SPECS, spec_path, zeros_build

runner = CliRunner()
ALL_SPECS = sorted(p.stem for p in SPECS.glob("*.yaml"))


@pytest.fixture(scope="module", params=ALL_SPECS)
def meta_build(request):
    """The spec's Plan and its module on the meta device (autograd runs, nothing is allocated)."""
    resolved = plan(spec_path(request.param))
    with torch.device("meta"):
        model = Network(resolved)
    return resolved, model


def _single_value_norm(resolved) -> bool:
    """A batch norm over a 1x1 map (Selective Kernel's attention): PyTorch refuses it in training at batch 1."""
    from archspec.plan.ops import Norm

    return any(isinstance(n.step, Norm) and n.step.kind == "batch" and n.shape[1:] == (1, 1)
               for u in resolved.units for n in u.graph or ())


@pytest.mark.parametrize("batch", [1, 8])
def test_saved_bytes_equal_autograds_for_every_unit_of_every_spec(meta_build, batch):
    resolved, model = meta_build
    batch = 2 if batch == 1 and _single_value_norm(resolved) else batch  # the smallest batch it trains at
    with torch.device("meta"):
        x = torch.empty(batch, resolved.in_channels, *resolved.input_size)
    measured = measure_saved(model, [u.name for u in resolved.units], x).by_unit()
    analytic = memory(resolved, batch)
    assert {name: m.train_saved_bytes for name, m in analytic.units.items()} == measured
    assert analytic.train_saved_bytes == sum(measured.values()) > 0


@pytest.mark.parametrize(("name", "sets", "dtype"), [
    ("wrn-16-4", ["body.block.dropout=0.3", "input.size=16"], torch.float32),  # dropout noise on CPU
    ("googlenet", ["input.size=32"], torch.float32),  # max-pool indices, inception concat
    ("inception-v3", ["input.size=75", "body.aux_heads=[]"], torch.float32),  # avg-pool inputs, split concats
    ("efficientnet-b0", ["input.size=32"], torch.bfloat16),  # SiLU copies, drop-path masks, bf16 BN stats
    ("convnext-tiny", ["input.size=32", "body.stages[2].units=2"], torch.bfloat16),  # GELU inputs, layer norms'
    # per-position bf16 mean and rstd, permuted views saved, layer scales' inputs
    ("shufflenet-v2-x0.5", ["input.size=32"], torch.float32),  # chunk views (not contiguous at batch 3), shuffle copies
    ("mobilenet-v3-small", ["input.size=32"], torch.float32),  # hardswish copies, SE relu/hardsigmoid, dropout_
    ("mobilenet-v2", ["input.size=32"], torch.bfloat16),  # ReLU6 copies
    ("resnet-18", ["stem={type: deep}", "input.size=32"], torch.float32),  # the deep stem (no bundled spec has one)
])
def test_saved_bytes_on_real_cpu_tensors(name, sets, dtype):
    """Storages told apart by real data pointers, not meta's: the same figure."""
    resolved = plan(spec_path(name), overrides=sets)
    model = zeros_build(resolved).to(dtype)
    x = torch.randn(3, resolved.in_channels, *resolved.input_size, dtype=dtype)
    probe = measure_saved(model, [u.name for u in resolved.units], x)
    width = {torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype]
    assert memory(resolved, 3, width).train_saved_bytes == probe.total


def test_inference_peak_by_hand():
    """resnet-20 at batch 1: a unit's input (kept for the add), conv1's and bn1's outputs, 16x32x32 fp32 each."""
    assert memory(plan(spec_path("resnet-20")), 1).infer_peak_bytes == 3 * 16 * 32 * 32 * 4
    assert memory(plan(spec_path("resnet-20")), 4, "bf16").infer_peak_bytes == 4 * 3 * 16 * 32 * 32 * 2


def test_inference_peak_holds_densenet_concatenations():
    """The last dense layer of DenseNet-BC's first block (204 channels in, 48 inner, 32x32): the input, the
    first BN's output and conv1's output are live at once: (2 x 204 + 48) x 32 x 32 x 4 bytes."""
    resolved = plan(spec_path("densenet-bc-100-12"))
    unit = resolved.unit("stages.0.15")
    assert unit.in_channels == 204 and unit.inner_channels == 48
    assert memory(resolved, 1).units["stages.0.15"].infer_peak_bytes == (2 * 204 + 48) * 32 * 32 * 4


def test_memory_json_fields_and_sums():
    data = report(spec_path("resnet-50"), batch=8, dtype="bf16")
    mem = data["memory"]
    assert {"batch": 8, "dtype": "bf16"}.items() <= mem.items()
    assert mem["params_bytes"] == 2 * data["params"]
    assert mem["train_saved_bytes"] == sum(u["train_saved_bytes"] for u in data["units"])
    assert mem["train_saved_bytes"] == sum(s["train_saved_bytes"] for s in data["stages"]) + sum(
        u["train_saved_bytes"] for u in data["units"] if u["stage"] is None)
    assert mem["infer_peak_bytes"] == max(u["infer_peak_bytes"] for u in data["units"])
    assert mem["train_step_bytes"] == 3 * mem["params_bytes"] + mem["train_saved_bytes"]
    assert all(u["params_bytes"] == 2 * u["params"] for u in data["units"])


def test_cuda_layout_keeps_bool_dropout_masks_and_fp32_stats():
    """On CUDA dropout saves a bool mask (1 byte) where CPU saves fp32 noise (4 bytes)."""
    resolved = plan(spec_path("wrn-16-4"), overrides=["body.block.dropout=0.3"])
    cpu, cuda = memory(resolved, 2, "fp32", "cpu"), memory(resolved, 2, "fp32", "cuda")
    dropout_elements = sum(2 * u.out_channels * u.out_size[0] * u.out_size[1] for u in resolved.body)
    assert cpu.train_saved_bytes - cuda.train_saved_bytes == 3 * dropout_elements


def test_report_cli_batch_dtype_and_verify():
    result = runner.invoke(app, ["report", str(spec_path("resnet-20")), "-f", "json", "--batch", "8", "--verify"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["memory"]["batch"] == 8 and data["memory"]["dtype"] == "fp32"
    assert "train_saved_bytes == autograd's saved tensors at batch 8" in result.stderr
    table = runner.invoke(app, ["report", str(spec_path("resnet-20")), "--by", "stage"])
    assert "train saved" in table.stdout and "infer peak" in table.stdout


@pytest.mark.parametrize("args", [["--batch", "0"], ["--dtype", "fp8"], ["--device", "tpu"]])
def test_report_cli_bad_memory_options_exit_2(args):
    result = runner.invoke(app, ["report", str(spec_path("resnet-20")), *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


PEAK_CASES = {  # every block kind, small: (spec, overrides)
    "resnet-20": ["input.size=16"],  # basic, zero-pad shortcut
    "resnet-56-b": ["body.depth=20", "input.size=16"],  # projection shortcut
    "pyramidnet": ["body.depth=20", "input.size=16"],  # pyramid, average-pooled zero-pad shortcut
    "pyramidnet-272-a200": ["body.depth=29", "input.size=16"],  # pyramid bottleneck
    "preact-resnet-164": ["body.depth=29", "input.size=16"],  # pre-activation bottleneck
    "wrn-16-4": ["body.block.dropout=0.3", "input.size=16"],  # pre-activation basic, dropout
    "densenet-bc-100-12": ["body.depth=22", "input.size=16"],  # dense layers, transitions
    "googlenet": ["input.size=32"],  # layer-list stem, inception, pool units
    "inception-v3": ["input.size=75", "body.aux_heads=[]"],  # avg-pool branches, side-by-side 1x3/3x1, reductions
    "efficientnet-b0": ["input.size=32"],  # mbconv, SE with SiLU, conv classifier
    "efficientnet-v2-s": ["input.size=32", *(f"body.stages[{i}].units={1 + (i == 1)}" for i in range(6))],  # fused_mbconv
    "se-resnet-50": ["input.size=32"],  # bottleneck with SE, max-pool stem
    "resnet-50-dcn": ["input.size=32"],  # deformable convs
    "vgg-16-bn": ["input.size=32", "head.hidden=[64,64]"],  # plain units, MLP head
    "convnext-tiny": ["input.size=32", "body.stages[2].units=2"],  # patchify stem, layer norms' transient stats,
    # GELU, layer scale, pool-then-norm head
    "shufflenet-v2-x0.5": ["input.size=32"],  # chunk views kept live until the concat, the shuffle's copy
    "alexnet": ["input.size=96", "head.hidden=[64,64]"],  # dropout before each hidden FC
    "squeezenet-1.1": ["input.size=64"],  # fire, conv-pool head; the peak at the stem's max-pool (its indices)
    "mobilenet-v3-small": ["input.size=32"],  # out-of-place SE activations, in-place dropout in the head
}


@pytest.mark.parametrize("name", sorted(PEAK_CASES))
def test_inference_peak_equals_the_traced_forwards(name):
    """The aten ops of a real CPU forward (TorchDispatchMode), under the same liveness rule."""
    from archspec.complexity.measure import measure_infer_peak

    resolved = plan(spec_path(name), overrides=PEAK_CASES[name])
    model = zeros_build(resolved)
    trace = measure_infer_peak(model, torch.randn(2, resolved.in_channels, *resolved.input_size))
    assert memory(resolved, 2).infer_peak_bytes == trace.peak() > 0
