"""The backbone API (timm's conventions): feature_info from the Plan, features_only builds,
num_classes=0, forward_features/forward_head, the multi-output ONNX file, and torchvision's
feature extractor on the built network. timm is the reference for numbering and widths."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import timm
import torch
from torchvision.models.feature_extraction import create_feature_extractor
from typer.testing import CliRunner

import archspec
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.plan.features import FeatureError, FeatureInfo, backbone_units, features
from conftest import ROOT

TIMM = [("resnet-50", "resnet50"), ("convnext-tiny", "convnext_tiny")]
SMALL = 64  # a small input: every tap still has a map at stride 32


def timm_model(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, **kwargs)


def meta_network(spec: str, size: int | None = None, **kwargs) -> Network:
    plan = archspec.plan(spec, size)
    with torch.device("meta"):
        return Network(plan, initialised=False, **kwargs).eval()


@pytest.mark.parametrize("spec, name", TIMM)
def test_feature_info_equals_timm_features_only(spec: str, name: str) -> None:
    reference = timm_model(name, features_only=True)
    info = archspec.feature_info(spec)
    assert info.channels() == reference.feature_info.channels()
    assert info.reduction() == reference.feature_info.reduction()
    assert len(info) == len(reference.feature_info)
    # the same maps at a small input, from the built backbone
    x = torch.empty(2, 3, SMALL, SMALL, device="meta")
    ours = meta_network(spec, SMALL, features_only=True)
    assert [tuple(t.shape) for t in ours(x)] == [tuple(t.shape) for t in reference(x)]
    assert ours.feature_info.channels() == info.channels()


# Families whose spec and timm model are the same network: the same maps, by the Plan's rule alone.
# (Not here: timm's MobileNetV3 counts the 1x1 conv to 960 channels as its last block, where
# torchvision and the spec put it in the head; timm's regnetx_004 is pycls's, narrower network.)
TIMM_FAMILIES = [("densenet-121", "densenet121"), ("efficientnet-b0", "efficientnet_b0"),
                 ("regnet-y-400mf", "regnety_004"), ("vgg-11", "vgg11"), ("inception-v3", "inception_v3"),
                 ("mnasnet-1.0", "mnasnet_100"), ("mobilenet-v2", "mobilenetv2_100"), ("resnet-18", "resnet18"),
                 ("resnext-50-32x4d", "resnext50_32x4d"), ("se-resnet-50", "seresnet50")]


@pytest.mark.parametrize("spec, name", TIMM_FAMILIES)
def test_feature_info_equals_timm_across_families(spec: str, name: str) -> None:
    reference = timm_model(name, features_only=True).feature_info
    info = archspec.feature_info(spec)
    assert (info.channels(), info.reduction()) == (reference.channels(), reference.reduction())


@pytest.mark.parametrize("spec, name", TIMM)
def test_out_indices_pick_what_timm_picks(spec: str, name: str) -> None:
    for out_indices in [(1, 3), (-1,), 2]:
        reference = timm_model(name, features_only=True, out_indices=out_indices)
        ours = archspec.feature_info(spec, out_indices)
        count = len(reference.feature_info)
        assert ours.out_indices == tuple(i % count for i in reference.feature_info.out_indices)
        assert ours.channels() == reference.feature_info.channels()
        assert ours.reduction() == reference.feature_info.reduction()


@pytest.mark.parametrize("spec, name", TIMM)
def test_num_classes_0_gives_timms_pooled_features(spec: str, name: str) -> None:
    reference = timm_model(name, num_classes=0)
    ours = meta_network(spec, SMALL, pooled=True)
    x = torch.empty(2, 3, SMALL, SMALL, device="meta")
    assert tuple(ours(x).shape) == tuple(reference(x).shape) == (2, reference.num_features)
    params = sum(p.numel() for p in ours.parameters())
    assert params == sum(p.numel() for p in reference.parameters())
    assert params == ours.plan.params and ours.plan.classes == 0  # the Plan without the classifier counts it


def test_build_num_classes_0_and_forward_features_head() -> None:
    full = archspec.build("resnet-18").eval()
    pooled = archspec.build("resnet-18", num_classes=0).eval()
    x = torch.randn(2, 3, SMALL, SMALL)
    with torch.no_grad():
        maps = full.forward_features(x)
        assert torch.equal(full.forward_head(maps), full(x))
        pooled_out = pooled(x)
        assert torch.equal(pooled.forward_head(pooled.forward_features(x)), pooled_out)
        # the pooled features are what the classifier layer of the full network reads
        assert torch.allclose(full.head.fc(pooled_out), full(x), rtol=1e-5, atol=1e-5)
    assert tuple(maps.shape) == (2, 512, 2, 2) and tuple(pooled_out.shape) == (2, 512)
    # every build carries its feature_info, as timm's models do
    assert full.feature_info.get_dicts() == archspec.feature_info("resnet-18").get_dicts()


# One spec per stem and tap kind: a tap inside the conv stem (ResNet, DenseNet), inside a layer-list stem
# (GoogLeNet, SqueezeNet), at the stem's output (ShuffleNet, RegNet), before a transition or pool unit
# (DenseNet, VGG), none from the stem (VGG, CIFAR ResNet), a stride-1 stage handing on (MobileNetV2).
TAPPED = [("resnet-50", 64), ("densenet-121", 64), ("googlenet", 64), ("squeezenet-1.1", 64),
          ("shufflenet-v2-x0.5", 64), ("regnet-x-400mf", 64), ("vgg-11", 32), ("resnet-20", 32),
          ("mobilenet-v2", 64)]


@pytest.mark.parametrize("spec, size", TAPPED)
def test_features_are_the_full_networks_module_outputs(spec: str, size: int) -> None:
    full = archspec.build(spec, seed=3).eval()
    backbone = archspec.build(spec, seed=3, features_only=True).eval()
    info = backbone.feature_info
    # the same seed gives the backbone the full network's tensors, and nothing after the deepest map
    state, kept = full.state_dict(), backbone.state_dict()
    assert all(torch.equal(state[k], v) for k, v in kept.items())
    plan = archspec.plan(spec)
    assert sum(p.numel() for p in backbone.parameters()) == sum(u.params for u in backbone_units(plan, info))
    assert backbone.head is None
    seen: dict[str, torch.Tensor] = {}
    hooks = [full.get_submodule(m).register_forward_hook(lambda mod, args, out, m=m: seen.__setitem__(m, out.clone()))
             for m in info.module_name()]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full(x)
        maps = backbone(x)
    for h in hooks:
        h.remove()
    assert len(maps) == len(info.module_name())
    for module, got in zip(info.module_name(), maps):
        assert torch.equal(got, seen[module]), module


def test_torchvision_feature_extractor_takes_the_module_names() -> None:
    full = archspec.build("resnet-50").eval()
    info = archspec.feature_info("resnet-50")
    nodes = {info.module_name(0): "c1", info.module_name(3): "c4"}  # "stem.relu", "stages.2": a whole stage
    assert list(nodes) == ["stem.relu", "stages.2"]
    extractor = create_feature_extractor(full, return_nodes=nodes)
    backbone = archspec.build("resnet-50", features_only=True, out_indices=(0, 3)).eval()
    x = torch.randn(1, 3, SMALL, SMALL)
    with torch.no_grad():
        got = extractor(x)
        c1, c4 = backbone(x)
    assert torch.equal(got["c1"], c1) and torch.equal(got["c4"], c4)


def test_every_bundled_specs_taps_exist_and_have_the_planned_shapes() -> None:
    for name in archspec.list_specs():
        plan = archspec.plan(name)
        with torch.device("meta"):
            net = Network(plan, initialised=False)
        taps = features(plan)
        assert [f.index for f in taps] == list(range(len(taps))) and taps, name
        reductions = [f.reduction for f in taps]
        assert reductions == sorted(set(reductions)), name  # one map per reduction level
        for f in taps:
            net.get_submodule(f.module)  # raises where a name is not the built network's
            side, other = (-(-s // f.reduction) for s in plan.input_size)
            tokens = (side * other + 1, 1)  # a ViT's (T, D) tokens: one per patch and the class token
            assert f.size[0] <= side or f.size == tokens, (name, f)


@pytest.mark.parametrize("spec", ["inception-v3", "efficientnet-b0", "mobilenet-v3-small", "convnext-tiny",
                                  "alexnet", "preact-resnet-164", "resnet-50-dcn"])
def test_backbone_maps_have_the_planned_widths_and_sizes(spec: str) -> None:
    plan = archspec.plan(spec)
    with torch.device("meta"):
        net = Network(plan, initialised=False, features_only=True).eval()
        maps = net(torch.empty(1, plan.in_channels, *plan.input_size))
    assert [tuple(t.shape[1:]) for t in maps] == [(f.channels, *f.size) for f in features(plan)]


def test_out_indices_rules_and_errors() -> None:
    info = archspec.feature_info("resnet-50", 3)  # an int: the last n
    assert info.out_indices == (2, 3, 4) and info.module_name() == ["stages.1", "stages.2", "stages.3"]
    assert archspec.feature_info("resnet-50", (0, -1)).out_indices == (0, 4)
    assert info.channels(0) == 64 and info.reduction([0, 1]) == [2, 4]  # idx reads any feature
    assert info.get_dicts(keys=["num_chs"]) == [{"num_chs": c} for c in info.channels()]
    for bad, says in [((5,), "5 is not a feature index; this network has 5 features"), ((2, 1), "in forward order"),
                      ((1, 1), "once"), ((), "empty"), (0, "must be 1 to 5"), ((True,), "not a feature index"),
                      ("1", "an int")]:
        with pytest.raises(FeatureError, match=says):
            archspec.feature_info("resnet-50", bad)
    with pytest.raises(FeatureError, match="indices 0 to 4"):
        archspec.build("resnet-50", features_only=True, out_indices=(9,))
    with pytest.raises(ValueError, match="features_only=True"):
        archspec.build("resnet-20", out_indices=(1,))


def test_a_backbone_stops_at_its_deepest_map() -> None:
    net = archspec.build("resnet-50", features_only=True, out_indices=(1, 2))
    assert {k.split(".")[0] for k in net.state_dict()} == {"stem", "stages"}
    assert len(net.stages) == 2 and net.head is None
    stem_only = archspec.build("resnet-50", features_only=True, out_indices=(0,))
    assert len(stem_only.stages) == 0
    (c1,) = stem_only(torch.randn(1, 3, 32, 32))
    assert tuple(c1.shape) == (1, 64, 16, 16)


def test_report_json_and_feature_info_without_torch() -> None:
    code = ("import json, sys\nimport archspec\nfrom archspec.cli import app\n"
            "info = archspec.feature_info('convnext-tiny', (1, 2))\n"
            "print(json.dumps([info.channels(), info.reduction(), info.module_name()]))\n"
            "try:\n    app(['report', 'resnet-50', '-f', 'json'])\nexcept SystemExit as exc:\n    assert not exc.code\n"
            "assert 'torch' not in sys.modules, 'imported torch'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    reference = timm_model("convnext_tiny", features_only=True, out_indices=(1, 2)).feature_info
    assert json.loads(first) == [reference.channels(), reference.reduction(), ["stages.1", "stages.2"]]
    listed = json.loads(rest)["features"]
    resnet = timm_model("resnet50", features_only=True).feature_info
    assert [f["num_chs"] for f in listed] == resnet.channels()
    assert [f["reduction"] for f in listed] == resnet.reduction()
    assert [f["index"] for f in listed] == list(range(len(resnet)))
    assert [f["size"] for f in listed] == [[224 // r] * 2 for r in resnet.reduction()]


def test_report_features_table() -> None:
    result = CliRunner().invoke(app, ["report", "densenet-121", "--by", "stage", "--features", "-f", "markdown"])
    assert result.exit_code == 0, result.output
    table = result.output.split("feature maps", 1)[1]
    for f in archspec.feature_info("densenet-121").get_dicts():
        assert f"| {f['index']} | {f['module']} | {f['num_chs']} | {f['reduction']} |" in table


def test_build_cli_exports_one_verified_onnx_output_per_map(tmp_path) -> None:
    result = CliRunner().invoke(app, ["build", "resnet-18", "-e", "onnx", "--features-only", "--out-indices", "1,2,3",
                                      "--set", "input.size=64", "--set", "name=r18", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "r18-features.onnx"
    assert f"wrote {path}" in result.output
    for k in (1, 2, 3):
        assert f"feature{k} calibrated: relative error" in result.output
    proto = onnx.load(str(path))
    assert [o.name for o in proto.graph.output] == ["feature1", "feature2", "feature3"]
    backbone = archspec.build("resnet-18", ["input.size=64"], features_only=True, out_indices=(1, 2, 3)).eval()
    params = sum(p.numel() for p in backbone.parameters())
    assert f"r18 backbone: {params:,} params" in result.output
    x = torch.randn(5, 3, 64, 64)  # the batch axis is dynamic
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = backbone(x)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == tuple(e.shape)
        assert np.max(np.abs(g - e.numpy())) <= 1e-4 * float(e.abs().max())


@pytest.mark.parametrize("args, says", [
    (["--features-only", "--out-indices", "7"], "--out-indices 7: out_indices (7,): 7 is not a feature index"),
    (["--out-indices", "1"], "add --features-only"),
    (["--features-only", "--out-indices", "a,b"], "give feature indices separated by commas"),
    (["--features-only", "-e", "pt2"], "as ONNX only"),
])
def test_build_cli_refuses_bad_feature_options(tmp_path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["build", "resnet-18", "-e", "onnx", *args, "-o", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split()) and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_feature_info_is_timms_accessor() -> None:
    plan = archspec.plan("mobilenet-v2")
    info = FeatureInfo.of(plan)
    first = plan.unit("stages.0.0")  # a one-unit stage at the stem's stride: the first map
    assert info[0] == {"index": 0, "module": "stages.0", "num_chs": first.out_channels,
                       "reduction": plan.stem.stride, "size": list(first.out_size), "unit": "stages.0.0"}
    assert len(info) == 5 and info.get("module", 4) == "stages.6" and info.selected == features(plan)


def test_diagram_marks_the_taps(tmp_path) -> None:
    target = tmp_path / "taps.dot"
    result = CliRunner().invoke(app, ["diagram", "densenet-121", "--features", "--out-indices", "1,-1",
                                      "-o", str(target)])
    assert result.exit_code == 0, result.output
    source = target.read_text()
    info = archspec.feature_info("densenet-121", (1, -1))
    for f in info.get_dicts():
        assert f"\u25c6 feature {f['index']} \u00b7 /{f['reduction']} \u00b7 {f['module']}<" in source
    assert source.count("\u25c6 feature") == 2 + 1  # the two maps and the legend's line
    assert source.count('penwidth=2.2') == 2  # each tapped node has the tap border
    plain = CliRunner().invoke(app, ["diagram", "densenet-121", "-o", str(tmp_path / "plain.dot")])
    assert plain.exit_code == 0 and "feature" not in (tmp_path / "plain.dot").read_text()
    refused = CliRunner().invoke(app, ["diagram", "densenet-121", "--out-indices", "1", "-o", str(tmp_path / "x.dot")])
    assert refused.exit_code == 2 and "add --features" in refused.output


def test_num_classes_0_drops_only_the_classifier_of_every_bundled_head() -> None:
    for name in archspec.list_specs():
        plan = archspec.plan(name)
        with torch.device("meta"):
            net = Network(plan, initialised=False, pooled=True)
        params = sum(p.numel() for p in net.parameters())
        classifier = plan.head.ops[-1]
        assert params == net.plan.params == plan.params - classifier.params, name
        assert net.plan.head.out_channels == classifier.cin and net.plan.classes == 0, name
        if name in ("squeezenet-1.1", "vgg-11", "mobilenet-v3-small", "convnext-tiny", "efficientnet-b0"):  # each head kind
            with torch.device("meta"):
                pooled = net.eval()(torch.empty(2, plan.in_channels, 64, 64))
            assert tuple(pooled.shape) == (2, classifier.cin), name


def test_build_cli_backbone_loads_the_full_networks_weights(tmp_path) -> None:
    full = archspec.build("resnet-18", ["input.size=64"], seed=7)
    torch.save(full.state_dict(), tmp_path / "full.pt")  # head included: the backbone takes what it has
    result = CliRunner().invoke(app, ["build", "resnet-18", "-e", "onnx", "--features-only", "--out-indices", "-1",
                                      "--set", "input.size=64", "--set", "name=r18", "-o", str(tmp_path / "out"),
                                      "--weights", str(tmp_path / "full.pt"), "--weights-format", "archspec"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "r18-features.onnx"
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["feature4"]
    x = torch.randn(2, 3, 64, 64)
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = full.eval().forward_features(x)  # the deepest map is the last stage's output
    assert np.max(np.abs(got - expected.numpy())) <= 1e-4 * float(expected.abs().max())
