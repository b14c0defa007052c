"""Deployment artifacts (docs/exports.md): each one read back by its own library and compared.

The shared build is a tiny ResNet (depth 8 at 16x16) exported with ``-e all`` in one run:
ONNX in fp16 with a dynamic batch, height and width and external data, safetensors, pt2,
standalone Python, fx and state_dict. The tests re-check each file independently of the
exporter's own verification, and the failure tests show that nothing is written.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import types
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import archspec
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.export.standalone import class_name, standalone_code
from archspec.plan.expand import spec_hash
from conftest import ROOT, SPECS, spec_path

TINY = ["--set", "input.size=16", "--set", "body.depth=8", "--set", "name=resnet-20"]  # a variant named as its files
NAME = "resnet-20"


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# What ``-e all`` may run once each (or, torch.onnx, not at all: archspec's writer writes the ONNX file):
# (module, attribute) -> what it makes
COUNTED = {("archspec.export.build", "emit_model"): "the ONNX graph", ("torch.onnx", "export"): "a torch.onnx export",
           ("torch.export", "export"): "the .pt2 program", ("torch.fx", "symbolic_trace"): "the fx trace",
           ("archspec.export.build", "standalone_code"): "the standalone code",
           ("onnxruntime", "InferenceSession"): "an onnxruntime session",
           ("archspec.export.verify", "calibrated_statistics"): "a BN calibration"}
CALLS: dict[str, int] = {}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The ``-e all`` run, counting how often each export (and onnxruntime session) is made in it."""
    import importlib

    out = tmp_path_factory.mktemp("all")
    with pytest.MonkeyPatch.context() as patch:
        for (module, attr), what in COUNTED.items():
            original = getattr(importlib.import_module(module), attr)

            def counted(*args, _original=original, _what=what, **kwargs):
                CALLS[_what] = CALLS.get(_what, 0) + 1
                return _original(*args, **kwargs)

            patch.setattr(importlib.import_module(module), attr, counted)
        result = run("build", str(spec_path(NAME)), *TINY, "-e", "all", "--dynamic", "batch,hw", "--dtype", "fp16",
                     "--external-data", "-o", str(out))
    assert result.exit_code == 0, result.output
    return out, result.output


def test_all_makes_each_export_once_and_one_onnxruntime_session_per_onnx_graph(built):
    """Nothing is exported twice: the ONNX file is emitted once and its calibrated comparison runs the
    file read back with the calibrated statistics in its initializers (no torch.onnx re-export); one
    onnxruntime session for the file, one for that copy. The module's outputs are computed once per set of
    inputs: BN statistics are calibrated for the ONNX file's two resolutions and once for fx, .pt2 and python."""
    assert CALLS == {"the ONNX graph": 1, "the .pt2 program": 1, "the fx trace": 1, "the standalone code": 1,
                     "an onnxruntime session": 2, "a BN calibration": 2}


def test_torch_exporter_with_options_exports_once_and_runs_its_file_with_calibrated_statistics(tmp_path,
                                                                                                 monkeypatch):
    """``--exporter torch`` with fp16, a dynamic height and width and external data: torch.onnx exports once
    (unoptimised: BN statistics stay initializers named as in the state_dict); the calibrated comparison runs
    the file read back with the calibrated statistics written into those initializers, in fp16, as the
    writer's path does: one onnxruntime session for the file, one for that copy, no second export."""
    import onnxruntime

    import archspec.export.onnx_options as onnx_options

    calls, copies = Counter(), []
    for module, attr in ((torch.onnx, "export"), (onnxruntime, "InferenceSession")):
        original = getattr(module, attr)

        def counted(*args, _original=original, _attr=attr, **kwargs):
            calls[_attr] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, attr, counted)
    original_copy = onnx_options.with_initializers

    def recorded(path, overrides):
        copy = original_copy(path, overrides)
        copies.append((overrides, copy))
        return copy

    monkeypatch.setattr(onnx_options, "with_initializers", recorded)
    result = run("build", str(spec_path(NAME)), *TINY, "-e", "onnx", "--exporter", "torch", "--dtype", "fp16",
                 "--dynamic", "batch,hw", "--external-data", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "(as built and calibrated)" in " ".join(result.output.split())
    assert calls == {"export": 1, "InferenceSession": 2}
    [(overrides, copy)] = copies
    written = {t.name: onnx.numpy_helper.to_array(t) for t in copy.graph.initializer}
    assert overrides and all(k.endswith(("running_mean", "running_var")) for k in overrides)
    for name, value in overrides.items():  # each statistic in the copy, in the file's precision
        assert written[name].dtype == np.float16 and np.array_equal(written[name], value.astype(np.float16))
    path = tmp_path / f"{NAME}.onnx"
    file = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    assert set(file) == set(written) and any(not np.array_equal(file[k], written[k]) for k in overrides)
    assert onnx_options.with_initializers(path, {**overrides, "stem.absent.running_mean": np.zeros(1)}) is None


@pytest.fixture(scope="module")
def reference(built):
    """The compiled network with the exported weights (from the .pt file), in eval mode."""
    out, _ = built
    model = archspec.build(spec_path(NAME), overrides=TINY[1::2])
    model.load_state_dict(torch.load(out / f"{NAME}.pt", weights_only=True))
    return model.eval()


def test_all_writes_every_kind_verified_and_leaves_no_temporary_files(built):
    out, output = built
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{NAME}{s}" for s in (".onnx", ".onnx.data", ".pt", ".fx.py", ".safetensors", ".pt2", ".py"))
    for line in ("onnxruntime fp16 vs fp32 torch at 16x16 and 20x24, batch 1 and 3", "tolerance 0.01)", "safetensors read back: 44 tensors bit for bit",
                 "torch.export.load vs module at batch 1 and 3", "standalone module in a clean python -I",
                 "fx forward(model, x) vs module"):
        assert line in output


def test_safetensors_round_trip_and_metadata(built, reference):
    out, _ = built
    path = out / f"{NAME}.safetensors"
    tensors = load_file(path)
    state = reference.state_dict()
    assert set(tensors) == set(state) and all(torch.equal(tensors[k], state[k]) for k in state)
    with safe_open(path, framework="pt") as handle:
        meta = handle.metadata()
    spec = archspec.load(spec_path(NAME), TINY[1::2])
    assert meta["archspec.spec_sha256"] == spec_hash(spec)
    assert meta["archspec.version"] == archspec.__version__ and meta["archspec.seed"] == "0"  # the default seed drove the init
    assert meta["archspec.params"] == str(sum(p.numel() for p in reference.parameters()))
    # The expanded spec in the header rebuilds the same network (same hash).
    rebuilt = archspec.load(_write(out.parent / "from-header.yaml", meta["archspec.spec_yaml"]))
    assert spec_hash(rebuilt) == meta["archspec.spec_sha256"]


def test_pt2_loads_back_with_a_dynamic_batch_and_equals_the_module(built, reference):
    out, _ = built
    program = torch.export.load(str(out / f"{NAME}.pt2")).module()
    x = torch.randn(5, 3, 16, 16)  # a batch size the export never saw
    with torch.no_grad():
        torch.testing.assert_close(program(x), reference(x))


def test_standalone_python_imports_no_archspec_and_matches_key_for_key(built, reference):
    out, _ = built
    code = (out / f"{NAME}.py").read_text()
    assert _imported_modules(code) <= {"torch", "torch.nn", "torch.nn.functional", "__future__", "collections"}
    module = _exec(code, "standalone_resnet")
    net = module.MODEL()
    assert list(net.state_dict()) == list(reference.state_dict())  # key for key, in order
    net.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(net.eval()(x), expected, rtol=0, atol=0)
    assert float((expected - expected[:1]).abs().max()) > 1e-3  # the comparison depends on the input
    assert f"Spec sha256: {spec_hash(archspec.load(spec_path(NAME), TINY[1::2]))}." in code
    # one class per module type (one per distinct unit graph), the network class with stem, stages and head
    classes = {n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)}
    units = {c for c in classes if c.startswith("BasicUnit_")}
    stem, head = ({c for c in classes if c.startswith(prefix)} for prefix in ("StemConvUnit_", "ClassifierUnit_"))
    assert len(stem) == len(head) == 1
    assert classes - units - stem - head == {"Part", class_name(NAME)}  # Part groups shortcut.*
    assert len(units) == len({type(u) for stage in reference.stages for u in stage}) > 1


def test_fx_module_runs_on_the_standalone_module_tree(built, reference):
    out, _ = built
    fx = _exec((out / f"{NAME}.fx.py").read_text(), "fx_resnet")
    net = _exec((out / f"{NAME}.py").read_text(), "standalone_for_fx").MODEL()
    net.load_state_dict(reference.state_dict())
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(fx.forward(net.eval(), x), reference(x))


def test_onnx_fp16_external_data_at_two_resolutions(built, reference):
    out, _ = built
    path = out / f"{NAME}.onnx"
    proto = onnx.load(str(path), load_external_data=False)
    locations = {e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {f"{NAME}.onnx.data"}
    graph_input = proto.graph.input[0].type.tensor_type
    assert graph_input.elem_type == onnx.TensorProto.FLOAT16
    assert [d.dim_param or d.dim_value for d in graph_input.shape.dim] == ["batch", 3, "height", "width"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["archspec.input_layout"] == "NCHW" and meta["archspec.dtype"] == "fp16"
    assert meta["archspec.spec_sha256"] == spec_hash(archspec.load(spec_path(NAME), TINY[1::2]))
    assert json.loads(meta["archspec.input_shape"]) == ["N", 3, 16, 16]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in ((2, 3, 16, 16), (1, 3, 24, 40)):  # 24x40: neither the export's nor the verifier's size
        x = torch.randn(*shape)
        (got,) = session.run(None, {"input": x.half().numpy()})
        with torch.no_grad():
            expected = reference(x).numpy()
        assert np.isfinite(got).all()
        assert np.abs(got.astype(np.float32) - expected).max() <= 1e-2 * np.abs(expected).max()


def test_a_failed_export_writes_nothing_and_keeps_earlier_files(built, tmp_path):
    out, _ = built
    for path in out.iterdir():
        shutil.copy2(path, tmp_path / path.name)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = run("build", str(spec_path(NAME)), *TINY, "-e", "safetensors", "-e", "onnx", "--dtype", "bf16",
                 "-o", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path / NAME}.onnx: onnx.checker rejects the bf16 graph" in result.output
    assert "nothing was written" in result.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary file left either


def test_external_data_is_chosen_automatically_above_the_protobuf_limit(monkeypatch, tmp_path):
    """A 2 GiB model is too slow for a unit test: lower the limit below this one's 300 KB instead."""
    import archspec.export.build as export_build
    import archspec.export.onnx_options as onnx_options

    monkeypatch.setattr(export_build, "PROTOBUF_LIMIT", 100_000)
    monkeypatch.setattr(onnx_options, "PROTOBUF_LIMIT", 100_000)
    result = archspec.write_exports(spec_path(NAME), ["onnx"], tmp_path, TINY[1::2])  # no option given
    assert result.written == [tmp_path / f"{NAME}.onnx", tmp_path / f"{NAME}.onnx.data"]
    [(path, check)] = result.checks
    assert path == tmp_path / f"{NAME}.onnx"
    assert "onnxruntime fp32 vs fp32 torch at 16x16, batch 1 and 3" in check.line()


def test_dynamic_height_and_width_refused_for_a_fixed_size_head(tmp_path):
    result = run("build", str(spec_path("vgg-16")), "--set", "input.size=32", "--set", "head.hidden=[8,8]",
                 "-e", "onnx", "--dynamic", "batch,hw", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert ".onnx: cannot export a dynamic height and width: its head pools to a fixed 7x7 map" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--dynamic", "depth", "-e", "onnx"], "--dynamic takes batch, hw or batch,hw"),
    (["--dtype", "fp16", "-e", "python"], "shape the ONNX file: add -e onnx"),
])
def test_onnx_options_are_checked(tmp_path, args, message):
    result = run("build", str(spec_path(NAME)), *TINY, *args, "-o", str(tmp_path))
    assert result.exit_code == 2 and message in result.output
    assert list(tmp_path.iterdir()) == []


def test_weights_read_safetensors_in_both_namings(built, reference, tmp_path):
    out, _ = built
    ours = out / f"{NAME}.safetensors"
    result = run("build", str(spec_path(NAME)), *TINY, "-w", str(ours), "--weights-format", "archspec",
                 "-e", "state_dict", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    loaded = torch.load(tmp_path / f"{NAME}.pt", weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in reference.state_dict().items())
    # archspec's own file read as torchvision's: refused, with the hint
    result = run("build", str(spec_path(NAME)), *TINY, "-w", str(ours), "-e", "state_dict", "-o", str(tmp_path))
    assert result.exit_code == 2 and "use --weights-format archspec" in result.output

    import torchvision
    from archspec.convert import from_torchvision

    source = torchvision.models.resnet18(weights=None).eval()
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "tv.safetensors")
    tiny18 = ["--set", "input.size=32", "--set", "name=resnet-18"]
    result = run("build", str(spec_path("resnet-18")), *tiny18, "-w", str(tmp_path / "tv.safetensors"),
                 "-e", "state_dict", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    loaded = torch.load(tmp_path / "resnet-18.pt", weights_only=True)
    expected = from_torchvision(source.state_dict(), archspec.plan(spec_path("resnet-18"), overrides=["input.size=32"]))
    assert set(loaded) == set(expected)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    result = run("build", str(spec_path(NAME)), *TINY, "-w", str(broken), "-e", "state_dict", "-o", str(tmp_path / "x"))
    assert result.exit_code == 2 and "broken.safetensors: not a readable safetensors file" in result.output
    assert not (tmp_path / "x").exists()


def test_python_api_writes_verified_exports_with_weights(built, reference, tmp_path):
    out, _ = built
    result = archspec.write_exports(spec_path(NAME), ["safetensors"], tmp_path, TINY[1::2],
                                    weights=out / f"{NAME}.safetensors", weights_format="archspec")
    assert result.written == [tmp_path / f"{NAME}.safetensors"]
    assert [path.name for path, _ in result.checks] == [f"{NAME}.safetensors"]
    assert all(torch.equal(load_file(result.written[0])[k], v) for k, v in reference.state_dict().items())
    with pytest.raises(ValueError, match="--dynamic takes batch, hw or batch,hw"):
        archspec.write_exports(spec_path(NAME), ["onnx"], tmp_path / "no", TINY[1::2], dynamic="depth")
    assert not (tmp_path / "no").exists()


def test_input_normalize_is_recorded_and_checked(write_spec):
    from archspec.export.provenance import Provenance

    plan = archspec.plan(spec_path("resnet-18"))
    meta = Provenance(archspec.load(spec_path("resnet-18"))).metadata(plan)
    assert json.loads(meta["archspec.input_mean"]) == [0.485, 0.456, 0.406]
    assert json.loads(meta["archspec.input_std"]) == [0.229, 0.224, 0.225]
    text = spec_path(NAME).read_text().replace("size: 32", "size: 32, normalize: {mean: [0.5, 0.5], std: [1, 1, 1]}")
    result = run("validate", str(write_spec(text)))
    assert result.exit_code == 2 and "normalize.mean has 2 values for 3 input channels" in result.output


# --- standalone code for every block kind -------------------------------------------------------

REPRESENTATIVES = {  # spec -> overrides small enough to run; together they use every block kind
    "resnet-50-dcn": ["input.size=32", "body.widening.base=8", *(f"body.stages[{i}].units=1" for i in range(4))],
    # bottleneck, deformable conv, projection shortcut
    "densenet-bc-100-12": ["input.size=16", "body.depth=10"],  # dense, transition
    "efficientnet-b0": ["input.size=16", "scaling.width_mult=0.25"],  # mbconv, squeeze-excite, drop path, conv head
    "efficientnet-v2-s": ["input.size=16", *(f"body.stages[{i}].units={1 + (i == 1)}" for i in range(6))],
    # fused_mbconv with and without its project, residual and not
    "googlenet": ["input.size=32"],  # layer-list stem, inception, pools
    "inception-v3": ["input.size=75", "body.aux_heads=[]"],  # inception_v3 modules A-E, 1x7/7x1 kernels
    "vgg-16-bn": ["input.size=32", "head.hidden=[8,8]"],  # no stem, plain conv units, mlp head
    "alexnet": ["input.size=96", "head.hidden=[8,8]"],  # padded stem convs, dropout before each hidden FC
    "squeezenet-1.1": ["input.size=32"],  # fire modules, conv-pool head
    "wrn-16-4": ["input.size=16"],  # pre-activation basic, dropout
    "preact-resnet-164": ["input.size=16", "body.depth=11"],  # pre-activation bottleneck
    "pyramidnet": ["input.size=16", "body.depth=8"],  # pyramid, zero-padded shortcuts
    "pyramidnet-272-a200": ["input.size=16", "body.depth=11"],  # pyramid bottleneck
    "convnext-tiny": ["input.size=32", "body.widening.widths=[8,16,24,32]", "body.block.layer_scale=0.5",
                      *(f"body.stages[{i}].units=1" for i in range(4))],
    # patchify stem, convnext (layer norms, per-position Linears, GELU, layer scale, drop path), norm head
    "shufflenet-v2-x0.5": ["input.size=32"],  # shuffle (split and strided units), conv head with a fixed width
    "regnet-y-400mf": ["input.size=32", "body.widening.depth=6"],  # regnet bottleneck with SE on the inner width
    "mobilenet-v3-small": ["input.size=32"],  # bneck rows (hardswish, hardsigmoid SE), conv_mlp head
    "vit-b-16": ["input.size=32", "stem.width=48", "body.block.heads=4", "body.block.mlp_dim=64",
                 "body.stages.0.units=2"],  # patch embedding, class token, attention steps, token classifier
    "maxvit-t": ["input.size=64", "body.block.partition=2", "body.widening.widths=[32,32,64,64]",
                 *(f"body.stages[{i}].units=1" for i in range(4))],
    # MBConv with pre-norm and SE, window and grid partitions, relative position bias, pre-logits head
    "res2net50-26w-4s": ["input.size=32", "body.widening.base=8", *(f"body.stages[{i}].units=1" for i in range(4))],
    # a YAML block (blocks/res2net.yaml): chunks, repeated convs, sums, a pooled last part, concat
    "nas-bench-201": ["body.block.e1_0=none", "body.block.e2_1=avg_pool_3x3", "reference=null"],
    # YAML blocks chosen per edge (blocks/nb201_cell.yaml): a zero edge, pools, skips, and the reduction block
    "skresnet18": ["input.size=32", "body.widening.base=16", *(f"body.stages[{i}].units=1" for i in range(4))],
    # YAML sub-blocks (sk_basic: selective_kernel, conv_norm_act): dilated paths, group sum and softmax
    "cspresnet50": ["input.size=32", *(f"body.stages[{i}].width={8 * 2 ** i}" for i in range(5)),
                    *(f"body.stages[{i}].block.depth=1" for i in range(1, 5))],
    # no stem, a YAML stem unit and one cross-stage unit per stage (bottlenecks repeated as sub-blocks), LeakyReLU
    "dla34": ["input.size=32", *(f"body.stages[{i}].width={8 * 2 ** i}" for i in range(4))],
    # trees of sub-blocks two deep, a declared input and a rest of inputs (children), a repeat of count 0 or 1
    "repvgg-a2": ["input.size=32", "stem.width=8", "body.widening.widths=[8,16,16,24]",
                  *(f"body.stages[{i}].units={1 + (i == 0)}" for i in range(4))],
    # YAML: three parallel branches summed, an optional identity BN (blocks/repvgg.yaml); a block stem
    "ghostnet-100": ["input.size=32"],
    # YAML: ghost modules (concat, channel slice), hard-sigmoid SE, own shortcut; conv_bn_act; a block head
    "mixnet-s": ["input.size=32"],
    # YAML: uneven channel slices, mixed-kernel depthwise and grouped 1x1 convs (repeat, else), SE; dw_separable
    "resnest50d": ["input.size=32", "body.widening.base=8", *(f"body.stages[{i}].units=1" for i in range(4))],
    # YAML: split attention (radix chunks, softmax across the radix, weighted sum), avd pools; deep stem
    "swin-t": ["input.size=32", "stem.width=24", "body.widening.widths=[24,48,96,192]", "body.stages[2].units=1"],
    # channels-last patch embedding, window attention: padded, shifted (mask buffer), bias table; patch merging
    "swin-v2-t": ["input.size=64", "stem.width=24", "body.widening.widths=[24,48,96,192]", "body.stages[2].units=1"],
    # cosine attention, logit scale, position MLP over the coordinate buffer, post-norms
}


def test_representatives_cover_every_block_kind_of_the_bundled_specs():
    used = {u.block for path in SPECS.glob("*.yaml") for u in archspec.plan(path).units}
    covered = {u.block for name, sets in REPRESENTATIVES.items()
               for u in archspec.plan(spec_path(name), overrides=sets).units} | {"basic", "classifier"}  # resnet above
    assert used <= covered, used - covered


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_standalone_code_equals_the_compiled_network(name):
    plan = archspec.plan(spec_path(name), overrides=REPRESENTATIVES[name])
    torch.manual_seed(0)
    model = _calibrated(Network(plan), plan)
    code = standalone_code(model, plan)
    assert "archspec" not in " ".join(_imported_modules(code))
    net = _exec(code, f"standalone_{name.replace('-', '_')}").MODEL()
    assert list(net.state_dict()) == list(model.state_dict())
    net.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, plan.in_channels, *plan.input_size)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(net.eval()(x), expected)
    assert torch.isfinite(expected).all() and float((expected - expected[:1]).abs().max()) > 0


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_spec_generates_importable_code_with_its_keys_and_shapes(path):
    from archspec.export.provenance import Provenance

    spec = archspec.load(path)
    plan = archspec.plan(spec)
    with torch.device("meta"):  # structure only: no memory, no initialisation cost
        model = Network(plan)
        code = standalone_code(model, plan, Provenance(spec).metadata(plan))
        net = _exec(code, f"meta_{path.stem.replace('-', '_')}").MODEL()
    if spec.input.normalize is not None:
        assert f"mean {spec.input.normalize.mean}" in code
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected
    assert list(net.state_dict()) == list(expected)


def _declared(*classes: type) -> dict:
    """The namespace that a standalone file gives the classes' declared sources (their imports first)."""
    imports = ["import torch", "from torch import nn", *(line for c in classes for line in c.STANDALONE_IMPORTS)]
    namespace: dict = {}
    exec("\n".join([*imports, *(c.STANDALONE for c in classes)]), namespace)  # noqa: S102  (the code under test)
    return namespace


def test_declared_standalone_sources_behave_as_their_classes():
    """DropPath's copy drops the same samples in training (the outputs test runs in eval); LayerNorm2d's and
    DeformableConv's copies hold the same tensors in the same order and compute the same."""
    from archspec.blocks.deform import DeformableConv
    from archspec.blocks.layers import DropPath, LayerNorm2d, layer
    from archspec.export.standalone import record_code
    from archspec.plan.ops import DeformConv, Norm

    ns = _declared(DropPath, LayerNorm2d, DeformableConv)
    ours, theirs = DropPath(0.4).train(), ns["DropPath"](0.4).train()
    x = torch.randn(16, 3, 5, 5)
    torch.manual_seed(1)
    dropped = ours(x)
    torch.manual_seed(1)
    torch.testing.assert_close(theirs(x), dropped, rtol=0, atol=0)
    assert (dropped.flatten(1) == 0).all(1).any() and not (dropped == 0).all()  # some samples dropped, not all
    assert torch.equal(theirs.eval()(x), x) and repr(theirs) == repr(ours)

    records = (Norm("norm", 3, (5, 5), eps=1e-6, kind="layer"), DeformConv("conv2", 3, 4, 3, (5, 5), stride=2))
    for op in records:
        module = layer(op)  # a DeformableConv for the deformable record
        with torch.no_grad():
            for tensor in module.state_dict().values():  # made uninitialised (blocks/layers.fresh): fill at random
                tensor.copy_(torch.randn(tensor.shape))
        copy = eval(record_code(op), ns)  # noqa: S307  (our own constructor call, under test)
        assert type(copy).__name__ == type(module).__name__ in ("LayerNorm2d", "DeformableConv")
        assert [(k, v.shape) for k, v in copy.state_dict().items()] == \
               [(k, v.shape) for k, v in module.state_dict().items()]
        copy.load_state_dict(module.state_dict())
        with torch.no_grad():
            expected = module(x)
            torch.testing.assert_close(copy(x), expected)
        assert torch.isfinite(expected).all() and float(expected.std()) > 0


def test_a_step_module_without_a_declared_source_is_refused_by_name(monkeypatch):
    from archspec.blocks.layers import DropPath
    from archspec.export.standalone import StandaloneError

    plan = archspec.plan(spec_path("efficientnet-b0"), overrides=REPRESENTATIVES["efficientnet-b0"])
    with torch.device("meta"):
        model = Network(plan)
    assert "class DropPath(nn.Module):" in standalone_code(model, plan)
    monkeypatch.delattr(DropPath, "STANDALONE")
    with pytest.raises(StandaloneError, match=r"archspec\.blocks\.layers\.DropPath declares no STANDALONE source"):
        standalone_code(model, plan)


def test_standalone_writer_copies_no_source_by_introspection():
    """Every line it writes comes from a step or a declared source: it imports neither inspect nor dis."""
    import archspec.export.standalone as writer

    source = open(writer.__file__, encoding="utf-8").read()
    assert not {"inspect", "dis"} & _imported_modules(source)


def _calibrated(model: torch.nn.Module, plan) -> torch.nn.Module:
    """BN statistics measured on a random batch, so that outputs depend on the input."""
    model.train()
    with torch.no_grad():
        model(torch.randn(4, plan.in_channels, *plan.input_size))
    return model.eval()


def _imported_modules(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def _exec(code: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(code, f"<{name}>", "exec"), module.__dict__)  # noqa: S102  (the code under test)
    return module


def _write(path, text: str):
    path.write_text(text)
    return os.fspath(path)


def test_a_file_size_limit_on_the_safetensors_writer_names_the_file(tmp_path):
    """safetensors is serialised in memory and written through archspec.files (WholeWrites), so a
    full disk or ``ulimit -f`` is the one located OSError message, not a SafetensorError traceback."""
    import resource
    import subprocess
    import sys

    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "archspec", "build", "resnet-20", "--set", "name=r", "-e", "safetensors",
         "-o", str(out)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)))  # the file is ~1 MB
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot use {out / 'r.safetensors'}: File too large; nothing was written" in result.stderr
    assert list(out.iterdir()) == []


def test_torch_export_saves_through_whole_writes_as_through_a_file(tmp_path):
    """torch.export.save takes archspec's WholeWrites as the writable, seekable file it expects: no
    "Expect archive file" warning on every `.pt2` build, and the archive loads back equal."""
    import logging

    from archspec.files import WholeWrites

    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3)
    program = torch.export.export(module, (x,))
    target = tmp_path / "m.pt2"
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("torch.export.pt2_archive._package")  # torch's loggers do not propagate to caplog
    logger.addHandler(handler)
    try:
        with WholeWrites(target) as file:
            torch.export.save(program, file)
    finally:
        logger.removeHandler(handler)
    assert not [m for m in seen if "Expect archive file" in m], seen
    assert torch.equal(torch.export.load(target).module()(x), module(x))
