"""DenseNet, GoogLeNet, EfficientNet, VGG and deformable ResNet: golden counts, torchvision
parity, module names, tracing, aux heads, scaling records and verified ONNX."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.fx
import torchvision.models as tvm
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec.blocks.network import Network
from archspec.plan.ops import DeformConv
from archspec.spec import SpecError
from conftest import spec_path

NEW = ["densenet-bc-100-12", "densenet-121", "googlenet", "efficientnet-b0", "vgg-16", "vgg-16-bn", "resnet-50-dcn"]
# ../shared/REFERENCES.md (torchvision's figures), and torchvision's vgg16_bn for the BN variant.
REFERENCE = {
    "densenet-121": (7_978_856, 2_834_161_664),
    "vgg-16": (138_357_544, 15_470_264_320),
    "vgg-16-bn": (138_365_992, 15_470_264_320),
    "googlenet": (6_624_904, 1_498_376_192),
    "efficientnet-b0": (5_288_548, 385_814_752),
}
B3 = ["scaling.width_mult=1.2", "scaling.depth_mult=1.4"]
# (spec, overrides, torchvision constructor); the other builders of these families have their
# own bundled specs, checked against torchvision in test_references.py.
TORCHVISION = [
    ("densenet-121", [], tvm.densenet121),
    ("googlenet", [], lambda: tvm.googlenet(aux_logits=False, init_weights=False)),
    ("efficientnet-b0", [], tvm.efficientnet_b0),
    ("vgg-16", [], tvm.vgg16),
    ("vgg-16-bn", [], tvm.vgg16_bn),
]


def meta_counts(model: nn.Module, input_shape) -> tuple[int, int]:
    """(params, FlopCounterMode / 2) on the meta device: exact counts without allocating weights.

    Attention counted as torchvision's GFLOPS count it: nn.MultiheadAttention's fast path off (its fused
    kernel hides the attention from FlopCounterMode) and SDPA's math kernel (matmuls FlopCounterMode sees)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model.eval()
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            model(torch.randn(1, *input_shape, device="meta"))
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def meta_build(name: str, overrides=(), **kw) -> tuple[archspec.Plan, Network]:
    plan = archspec.plan(spec_path(name), overrides=overrides)
    with torch.device("meta"):
        return plan, Network(plan, **kw)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_counts(name):
    plan = archspec.plan(spec_path(name))
    assert (plan.params, plan.macs) == REFERENCE[name]


def test_densenet_bc_reference():
    plan = archspec.plan(spec_path("densenet-bc-100-12"))
    assert plan.params == 769_162 and round(plan.macs / 1e6, 2) == 287.93 and plan.depth == 100


@pytest.mark.parametrize("name, overrides, reference", TORCHVISION,
                         ids=[f"{name}{'+' if sets else ''}{'+'.join(sets)}" for name, sets, _ in TORCHVISION])
def test_counts_equal_torchvision_and_measured(name, overrides, reference):
    plan, model = meta_build(name, overrides)
    shape = (plan.in_channels, *plan.input_size)
    with torch.device("meta"):
        theirs = meta_counts(reference(), shape)
    assert meta_counts(model, shape) == (plan.params, plan.macs) == theirs


@pytest.mark.parametrize("name", NEW)
def test_every_op_is_the_module_at_its_path(name):
    """Layers are built from the records: module ``<unit>.<op path>`` holds exactly ``op.params``."""
    plan, model = meta_build(name, aux=True)
    for unit in (*plan.units, *plan.aux):
        for op in unit.ops:
            module = model.get_submodule(f"{unit.name}.{op.path}")
            assert sum(p.numel() for p in module.parameters()) == op.params, (unit.name, op.path)


@pytest.mark.parametrize("name, size", [("densenet-bc-100-12", 32), ("densenet-121", 64), ("googlenet", 64),
                                        ("efficientnet-b0", 64), ("resnet-50-dcn", 64)])
def test_traces_and_runs(name, size):
    plan = archspec.plan(spec_path(name), input_size=size)
    model = Network(plan).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        out = model(x)
        assert torch.equal(traced(x), out)
    assert out.shape == (2, plan.classes) and torch.isfinite(out).all()


def test_vgg_traces_on_meta():
    _, model = meta_build("vgg-16-bn")
    traced = torch.fx.symbolic_trace(model.eval())
    assert traced(torch.randn(2, 3, 224, 224, device="meta")).shape == (2, 1000)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5


def test_dense_width_grows_by_k_and_transitions_compress():
    plan = archspec.plan(spec_path("densenet-bc-100-12"))
    block = plan.stages[0].units
    assert [u.in_channels for u in block[:16]] == [24 + 12 * j for j in range(16)]
    assert {u.merge for u in block[:16]} == {"concat"}
    transition = plan.unit("stages.0.16")
    assert (transition.block, transition.in_channels, transition.out_channels) == ("transition", 216, 108)
    assert transition.out_size == (16, 16) and plan.stages[2].units[-1].block == "dense"


def test_googlenet_modules_follow_the_table():
    plan = archspec.plan(spec_path("googlenet"))
    assert [len(s.units) for s in plan.stages] == [3, 6, 2]  # modules, then the pool unit
    m4e = plan.unit("stages.1.4")
    assert (m4e.in_channels, m4e.out_channels, m4e.merge) == (528, 832, "concat")
    assert m4e.op("branch3.1.conv").kernel == 3  # torchvision's "5x5" branch
    assert plan.unit("stages.1.5").options.pool.kernel == 2 and plan.stem.out_size == (28, 28)
    assert plan.depth == 22


def test_aux_heads_only_in_training_builds():
    plan = archspec.plan(spec_path("googlenet"), input_size=96)
    default = Network(plan)
    assert not any("aux" in name for name, _ in default.named_modules())
    with torch.device("meta"):
        reference = tvm.googlenet(aux_logits=True, init_weights=False)
    training = Network(plan, aux=True)
    assert sum(p.numel() for p in training.parameters()) == plan.params + plan.aux_params
    assert sum(p.numel() for p in reference.parameters()) == plan.params + plan.aux_params
    outputs = training.train()(torch.randn(2, 3, 96, 96))
    assert [o.shape for o in outputs] == [(2, 1000)] * 3
    assert training.eval()(torch.randn(2, 3, 96, 96)).shape == (2, 1000)
    assert [u.options.after for u in plan.aux] == ["stages.1.0", "stages.1.3"]


def test_compound_scaling_is_recorded_per_unit():
    plan = archspec.plan(spec_path("efficientnet-b0"), overrides=B3)
    first = plan.unit("stages.1.0").scaling
    assert first["raw_width"] == pytest.approx(28.8) and first["width"] == 32 and first["divisor"] == 8
    assert (first["base_units"], first["units"]) == (2, 3)
    assert plan.stem.scaling["width"] == 40 and plan.head.inner_channels == 1536
    assert [len(s.units) for s in plan.stages] == [math.ceil(n * 1.4) for n in (1, 2, 2, 3, 3, 4, 1)]


def test_mbconv_layout_matches_torchvision_b0():
    plan = archspec.plan(spec_path("efficientnet-b0"))
    unit = plan.unit("stages.5.1")
    assert (unit.inner_channels, unit.groups, unit.options.se_channels, unit.merge) == (1152, 1152, 48, "add")
    assert unit.op("dw.conv").kernel == 5 and not plan.unit("stages.0.0").has("expand.conv")
    # torchvision's stochastic depth: 0.2 x block index / 16 on the residual units
    rates = [(i, u.options.drop_path) for i, u in enumerate(plan.body) if u.merge == "add"]
    assert [r for _, r in rates] == pytest.approx([0.2 * i / 16 for i, _ in rates])


def test_deformable_counts_and_mac_policy():
    plan, model = meta_build("resnet-50-dcn")
    with torch.device("meta"):
        resnet = tvm.resnet50()
    offsets = sum(18 * b.conv2.in_channels * 9 + 18 for layer in (resnet.layer2, resnet.layer3, resnet.layer4)
                  for b in layer)
    assert plan.params == sum(p.numel() for p in resnet.parameters()) + offsets
    deform = [op for u in plan.body for op in u.ops if isinstance(op, DeformConv)]
    assert len(deform) == 13
    # FlopCounterMode does not see deform_conv2d: it measures everything but the sampling convs.
    uncounted = sum(op.sampling_macs for op in deform)
    assert meta_counts(model, (3, 224, 224)) == (plan.params, plan.macs - uncounted)


def test_planning_the_new_families_imports_no_torch():
    code = (
        "import sys, archspec; "
        f"plans = [archspec.plan(f'specs/{{n}}.yaml') for n in {NEW!r}]; "
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=spec_path("x").parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_deformable_validates_without_torchvision_and_building_names_the_extra(monkeypatch):
    import importlib.util

    from archspec.extras import MissingExtra

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    spec = spec_path("resnet-50-dcn")
    deformable = archspec.plan(spec)  # validated and counted: the offset convs are in the params
    plain = archspec.plan(spec, overrides=[f"body.stages.{i}.block.deformable=false" for i in (1, 2, 3)])
    assert deformable.params > plain.params
    with pytest.raises(MissingExtra, match=r"torchvision is not installed for deformable convolution "
                                           r"\(deformable: true\): pip install 'archspec-nn\[vision\]'"):
        archspec.build(spec)


@pytest.mark.parametrize("text, field, words", [
    ("body: {stages: [{units: 2, stride: 2}], block: {type: dense, growth: 12}}", "body.stages[0].stride", "transition"),
    ("body: {stages: [{units: 2}], block: {type: dense, growth: 12}, widening: {rule: explicit, widths: [8]}}",
     "body.widening", "growth"),
    ("body: {stages: [{units: 3, block: {type: inception, modules: [[1, 1, 1, 1, 1, 1]]}}],"
     " block: {type: plain}, widening: {rule: explicit, widths: [8]}}", "body.stages[0].units", "modules"),
    ("body: {stages: [{units: 2}], block: {type: plain}, widening: {rule: explicit, widths: [8]},"
     " aux_heads: [{stage: 0, unit: 5}]}", "body.aux_heads[0].unit", "units"),
    ("body: {stages: [{units: 2}], block: {type: mbconv, kernel: 4}, widening: {rule: explicit, widths: [8]}}",
     "body.block.kernel", "odd"),
])
def test_family_errors_name_the_field(write_spec, text, field, words):
    head = "name: t\ninput: {size: 32}\nclasses: 10\nstem: {type: conv, width: 8}\n"
    with pytest.raises(SpecError) as caught:
        archspec.plan(write_spec(head + text))
    problem = caught.value.problems[0]
    assert problem.path == field and words in problem.message and problem.line is not None


def calibrate(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Give BN running stats from one batch and the offset convs non-zero weights, so the
    exported graph is compared on activations that neither vanish nor skip the deformation.

    Offsets stay sub-pixel: with std 0.01 weights ResNet-50-DCN is ill-conditioned in fp32
    (torch itself drifts 1.5e-4 of the output scale from a float64 run, onnxruntime 1.0e-4),
    which says nothing about the export.
    """
    generator = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
        if hasattr(m, "offset"):
            m.offset.weight.data.normal_(0.0, 0.001, generator=generator)
    with torch.no_grad():
        model.train()(x)
    return model.eval()


@pytest.mark.parametrize("name, size, opset, sets", [
    ("densenet-bc-100-12", 32, 18, ["body.depth=40"]), ("efficientnet-b0", 64, 18, [f"body.stages[{i}].units=1" for i in range(7)]), ("googlenet", 64, 18, []),
    ("resnet-50-dcn", 64, 19, [f"body.stages[{i}].units=1" for i in range(4)])])
def test_onnx_export_verified(tmp_path, name, size, opset, sets):
    """torch.onnx's export (``--exporter torch``): concat, depthwise convs, training-only aux heads (built,
    then left out) and DeformConv; fewer units where the kind repeats (torch.onnx's time grows with them)."""
    import onnx

    from archspec.export.onnx import export_onnx, verify_onnx

    plan = archspec.plan(spec_path(name), overrides=sets, input_size=size)
    model = calibrate(Network(plan, aux=True), torch.randn(8, 3, size, size))
    path = tmp_path / "model.onnx"
    export_onnx(model, (3, size, size), path)
    check = verify_onnx(model, (3, size, size), path)
    assert check.ok and check.opset == opset
    gemms = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Gemm"]
    assert len(gemms) == 1  # the head's FC only: aux classifiers never reach an eval export
