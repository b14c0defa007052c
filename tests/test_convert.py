"""torchvision weights load into the compiled specs and compute the same function.

Every torchvision model here is randomly initialised (nothing is downloaded). Its BN
affine parameters are randomised, its running statistics measured on a random batch
and then perturbed, so a swapped or misplaced BN, a wrong epsilon or a stride in the
wrong conv changes the outputs, while activations stay O(1) all the way through. The
last FC is rescaled so the logits are O(1) too, which makes assert_close's tolerances
meaningful. Inputs are 64x64, and the specs are planned at that size
(``--set input.size=64``): the layouts do not depend on resolution, and small maps keep
the suite fast.
"""

from __future__ import annotations

import copy
import os
import re
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
    "densenet121": "densenet-121",
    "vgg16": "vgg-16",
    "vgg16_bn": "vgg-16-bn",
    "googlenet": "googlenet",
    "efficientnet_b0": "efficientnet-b0",
}
# Flags the pretrained models are built with, except GoogLeNet's transform_input (True when
# pretrained): an input renormalisation inside forward that no spec has (docs/weights.md).
# aux_logits keeps aux1/aux2 in the checkpoint, as in the downloaded file.
CONSTRUCTOR_FLAGS = {"googlenet": {"transform_input": False, "aux_logits": True, "init_weights": True}}
SHAPE = (3, 64, 64)
AT_64 = [f"input.size={SHAPE[-1]}"]


@lru_cache(maxsize=None)
def torchvision_model(name: str) -> torch.nn.Module:
    """A random torchvision model with calibrated, then perturbed, BN statistics, in eval mode."""
    torch.manual_seed(len(name))
    model = getattr(torchvision.models, name)(weights=None, **CONSTRUCTOR_FLAGS.get(name, {}))
    return randomise(model)


def randomise(model: torch.nn.Module, shape: tuple[int, int, int] = SHAPE) -> torch.nn.Module:
    """Random biases and BN affine parameters, running statistics measured with them, then perturbed.

    Statistics are measured in one forward pass with only the BNs in training mode (no
    stochastic depth or dropout), so eval-mode activations stay O(1) and the network is
    well conditioned (fp32 agrees with fp64 to ~1e-5 of the logits); unmeasured random
    statistics leave EfficientNet's logits independent of the input.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    batch = torch.randn(8, *shape)
    model.eval()
    with torch.no_grad():
        for layer in model.modules():  # torchvision zeroes them: a misplaced bias would not show
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)) and layer.bias is not None:
                layer.bias.normal_(0.0, 0.1)
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
            bn.reset_running_stats()
            bn.momentum = None  # a plain average over the batch
            bn.train()
        model(batch)
        model.eval()
        for bn in bns:
            bn.running_mean.add_(0.2 * bn.running_var.sqrt() * torch.randn_like(bn.running_mean))
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.5, 2.0))
            bn.num_batches_tracked.fill_(7)
        last_fc = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        scale = model(batch).std()
        last_fc.weight.div_(scale)
        last_fc.bias.div_(scale)
    return model


def converted(name: str, spec: str | Path | archspec.Spec | None = None,
              source: torch.nn.Module | None = None) -> torch.nn.Module:
    spec = spec or archspec.load(spec_path(MODELS[name]), AT_64)
    model = archspec.build(spec)
    model.load_state_dict(from_torchvision((source or torchvision_model(name)).state_dict(), spec), strict=True)
    return model.eval()


@pytest.mark.parametrize("name", MODELS)
def test_converted_weights_give_torchvision_outputs(name):
    x = torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torchvision_model(name)(x)
        got = converted(name)(x)
    assert 0.2 < expected.std() < 5  # logits of the scale assert_close's tolerances are made for
    torch.testing.assert_close(got, expected)


# The other builders of these families: the same layouts at other depths, widths and scales.
# Each is built once and not cached (their weights add up to gigabytes), on the meta device,
# then given memory and PyTorch's default init; VGG's 4096-wide FCs are narrowed first.
ZOO = {
    "resnet34": "resnet-34", "resnet101": "resnet-101", "resnet152": "resnet-152",
    "resnext101_32x8d": "resnext-101-32x8d", "resnext101_64x4d": "resnext-101-64x4d",
    "wide_resnet101_2": "wide-resnet-101-2",
    "densenet161": "densenet-161", "densenet169": "densenet-169", "densenet201": "densenet-201",
    **{f"vgg{d}{bn}": f"vgg-{d}{bn.replace('_', '-')}" for d in (11, 13, 19) for bn in ("", "_bn")},
    **{f"efficientnet_b{b}": f"efficientnet-b{b}" for b in range(1, 8)},
}
NARROW_HIDDEN = (64, 64)  # VGG's hidden FCs: 120M of its 140M parameters are in them
ZOO_SIZE = 32  # every one of them still ends on a 1x1 map: a quarter of the work at 64x64


def zoo_model(name: str) -> torch.nn.Module:
    """torchvision's ``name`` with PyTorch's default init, randomised like :func:`torchvision_model`."""
    torch.manual_seed(len(name))
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None)
        if name.startswith("vgg"):
            narrow_vgg(model, NARROW_HIDDEN, copy_first=False)
    model.to_empty(device="cpu")
    for layer in model.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)):
            layer.reset_parameters()
            if isinstance(layer, torch.nn.Conv2d) and name in ("vgg11", "vgg13", "vgg19"):
                # without BN, PyTorch's default init shrinks the activations layer by layer until
                # the biases alone make the logits; He's keeps the input's part of them
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    return randomise(model, (3, ZOO_SIZE, ZOO_SIZE))


def assert_equal_outputs(source: torch.nn.Module, spec: archspec.Spec) -> torch.nn.Module:
    """torchvision's model and ours under its converted weights give the same logits on two N(0, 1)
    images at the spec's size. Ours is built on the meta device and takes the checkpoint's tensors
    (``assign=True``: no init, shared storage). The logits must be finite, O(1) and depend on the
    input: 1000 x assert_close's atol or more, so a misplaced weight shows. Returns our model."""
    with torch.device("meta"):
        ours = archspec.build(spec)
    ours.load_state_dict(from_torchvision(source.state_dict(), spec), strict=True, assign=True)
    x = torch.randn(2, 3, *archspec.plan(spec).input_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = source(x), ours.eval()(x)
    assert torch.isfinite(expected).all() and 0.1 < expected.std() < 20
    assert (expected[0] - expected[1]).std() > 1e-2
    torch.testing.assert_close(got, expected)
    return ours


@pytest.mark.parametrize("name", ZOO)
def test_every_other_builder_of_these_families_converts_to_equal_outputs(name):
    source = zoo_model(name)
    narrow = [f"head.hidden={list(NARROW_HIDDEN)}"] if name.startswith("vgg") else []
    assert_equal_outputs(source, archspec.load(spec_path(ZOO[name]), [f"input.size={ZOO_SIZE}", *narrow]))


B5 = ["scaling.width_mult=1.6", "scaling.depth_mult=2.2", "head.dropout=0.4"]  # torchvision's efficientnet_b5


def test_efficientnet_b5_needs_and_takes_the_network_wide_batchnorm_settings():
    """B5-B7 use BN eps 0.001 and momentum 0.01 (torchvision): the spec's ``batchnorm`` gives both."""
    source = torchvision_model("efficientnet_b5")
    x = torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(1))
    bn = ["batchnorm.eps=0.001", "batchnorm.momentum=0.01"]
    ours = converted("efficientnet_b5", archspec.load(spec_path("efficientnet-b0"), [*AT_64, *B5, *bn]), source)
    bns = lambda m: [b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)]  # noqa: E731
    assert [b.eps for b in bns(ours)] == [b.eps for b in bns(source)]  # (randomise() reset the source's momentum)
    assert {(b.eps, b.momentum) for b in bns(ours)} == {(0.001, 0.01)}
    plain = converted("efficientnet_b5", archspec.load(spec_path("efficientnet-b0"), [*AT_64, *B5]), source)
    with torch.no_grad():
        expected = source(x)
        torch.testing.assert_close(ours(x), expected)
        assert not torch.allclose(plain(x), expected, rtol=1e-3, atol=1e-3)  # B0's eps 1e-5 is measurably wrong


def narrow_vgg(model: torch.nn.Module, hidden: tuple[int, int], copy_first: bool = True) -> torch.nn.Module:
    """torchvision's VGG with narrower hidden FCs: the same layout in an ONNX file of 60 MB, not 550."""
    narrow = copy.deepcopy(model) if copy_first else model
    widths = [narrow.classifier[0].in_features, *hidden, narrow.classifier[-1].out_features]
    for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
        narrow.classifier[3 * i] = torch.nn.Linear(cin, cout)
    return narrow.eval()


ONNX_HIDDEN = (64, 64)


# One model per layout goes through ONNX against torchvision itself: resnet18 in the CLI test
# below, ResNeXt and Wide ResNet share resnet50's bottleneck, vgg16 is vgg16_bn without its BNs,
# and DenseNet's export is verified in tests/test_families.py (the outputs of every builder are
# compared in torch above). VGG's 4096-wide FCs would make a 550 MB file: 64-wide ones here.
ONNX_MODELS = ("resnet50", "googlenet", "efficientnet_b0", "vgg16_bn")


@pytest.mark.parametrize("name", ONNX_MODELS)
def test_onnx_export_of_converted_weights_matches_torchvision_in_onnxruntime(name, tmp_path):
    from archspec.export.onnx_writer import emit, save

    source, overrides = torchvision_model(name), AT_64
    if name.startswith("vgg"):
        source = narrow_vgg(source, ONNX_HIDDEN)
        overrides = [*AT_64, f"head.hidden=[{ONNX_HIDDEN[0]}, {ONNX_HIDDEN[1]}]"]
    path = tmp_path / f"{name}.onnx"
    model = converted(name, archspec.load(spec_path(MODELS[name]), overrides), source)
    save(emit(model), path, external=False)  # archspec's writer, what `build --weights -e onnx` writes
    check = verify_onnx(source, SHAPE, path, calibrate=False)  # onnxruntime vs torchvision itself (its BN names differ)
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
    with pytest.raises(ConversionError, match=r"'preact_bottleneck' block.*block types: basic, bneck, bottleneck"):
        from_torchvision(torchvision_model("resnet18").state_dict(), spec_path("preact-resnet-164"))


@pytest.mark.parametrize("name, overrides, refusal", [
    ("googlenet", ["body.block.bn_eps=1e-5"], r"unit stages\.0\.0 differs .*eps 0\.001"),
    ("googlenet", ["body.downsample.kernel=2"], r"unit stages\.0\.2 differs .*max-pools 3x3/2 and 2x2/2"),
    ("googlenet", ["stem.layers.0.padding=2"], r"unit stem differs .*padded to keep the size"),
    ("googlenet", ["stem.layers[3].padding=0"], r"unit stem differs .*padded to keep the size"),
    ("vgg16", ["body.downsample.kind=avg"], r"unit stages\.0\.2 differs .*2x2/2 max-pool"),
    ("densenet121", ["head.pre=[bn]"], r"unit head differs .*pre: \[bn, relu\]"),
    ("efficientnet_b0", ["body.block.act=relu"], r"unit stages\.1\.0 differs .*SiLU"),
    ("efficientnet_b0", ["stem.pool=max"], r"unit stem differs .*no pool"),
])
def test_same_shapes_but_other_layout_is_refused_in_every_family(name, overrides, refusal):
    """Epsilons, pool kinds and activations are no tensor's shape: the family rules check them."""
    spec = archspec.load(spec_path(MODELS[name]), overrides)
    with pytest.raises(ConversionError, match=refusal):
        from_torchvision(torchvision_model(name).state_dict(), spec)


def test_googlenet_aux_heads_are_dropped_but_other_leftovers_refused():
    state = dict(torchvision_model("googlenet").state_dict())
    assert {name.split(".")[0] for name in state} >= {"aux1", "aux2"}  # as in the downloaded file
    without_aux = {k: v for k, v in state.items() if not k.startswith("aux")}
    spec = spec_path("googlenet")
    assert from_torchvision(state, spec).keys() == from_torchvision(without_aux, spec).keys()
    with pytest.raises(ConversionError, match=r"'aux3\.fc\.weight'.*no place in spec googlenet"):
        from_torchvision({**state, "aux3.fc.weight": torch.zeros(2, 2)}, spec)


def test_densenet_files_with_legacy_names_convert():
    """torchvision's downloadable DenseNet files say ``norm.1`` for ``norm1``, without BN counters."""
    state = torchvision_model("densenet121").state_dict()
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v
              for k, v in state.items() if "num_batches" not in k}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    converted_legacy = from_torchvision(legacy, spec_path("densenet-121"))
    assert torch.equal(converted_legacy["stages.3.15.bn2.running_var"],
                       state["features.denseblock4.denselayer16.norm2.running_var"])


def test_mixing_families_is_refused():
    spec = archspec.load(spec_path("resnet-18"), ["body.stages.3.block={type: plain}"])
    with pytest.raises(ConversionError, match=r"unit stages\.3\.0 \('plain'\) belongs to alexnet, vgg, the units "
                                              r"before it to resnet"):
        from_torchvision(torchvision_model("resnet18").state_dict(), spec)


def test_archspec_state_dict_round_trips_and_misfits_are_named():
    spec = spec_path("resnet-18")
    state = archspec.build(spec).state_dict()
    assert {k: v.shape for k, v in from_archspec(state, spec).items()} == {k: v.shape for k, v in state.items()}
    with pytest.raises(ConversionError, match=r"'head\.fc\.weight' has shape \(1000, 512\).*expects \(10, 512\)"):
        from_archspec(state, archspec.load(spec, ["classes=10"]))


# --- the command line ---------------------------------------------------------------


def run_build(*args: str):
    # --set name=...: the 64x64 variant is named explicitly, else its files would be resnet-18-HASH8
    return CliRunner().invoke(app, ["build", str(spec_path("resnet-18")), "--set", "input.size=64",
                                    "--set", "name=resnet-18", *map(str, args)])


def test_cli_builds_verified_onnx_from_torchvision_weights(tmp_path):
    weights = tmp_path / "tv.pt"
    torch.save(torchvision_model("resnet18").state_dict(), weights)
    result = run_build("--weights", weights, "--weights-format", "torchvision",
                       "--export", "onnx", "--export", "state_dict", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    check = verify_onnx(torchvision_model("resnet18"), SHAPE, tmp_path / "out" / "resnet-18.onnx", calibrate=False)
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


@pytest.mark.parametrize("content", [b"not a checkpoint", "pickled dict", "fifo"])
def test_cli_unreadable_weights_exit_2(tmp_path, content):
    weights = tmp_path / "bad.pt"
    if content == "fifo":  # nobody writes to it: torch.load would wait forever
        os.mkfifo(weights)
        expected = "is not a regular file"
    elif isinstance(content, bytes):
        weights.write_bytes(content)
        expected = "not a file torch.save wrote"
    else:
        torch.save({"epoch": 3, "state_dict": {}}, weights)
        expected = "holds a dict with keys epoch, state_dict, not a state_dict"
    result = run_build("--weights", weights, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert expected in result.stderr and "Traceback" not in result.output
