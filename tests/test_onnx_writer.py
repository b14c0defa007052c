"""archspec's ONNX writer (archspec/export/onnx_writer.py): the file it writes from the step graphs
agrees with torch.onnx's export of the same module in onnxruntime, for one spec per unit kind,
and keeps the export contracts (dynamic sizes, fp16, BN folding, functions, verification)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import warnings
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.export.onnx import OPSET
from archspec.export.onnx_writer import (FUNCTION_DOMAIN, Unsupported, WriterSettings, emit, emit_model,
                                         network_units, node_count, save, unsupported_reason, verify_written,
                                         with_statistics)
from archspec.export.verify import calibrated_statistics
from archspec.plan.ops import Norm

# One bundled spec per unit kind, at a small input: (name, input size, --set overrides).
SPECS = [
    ("resnet-20", 32, []),  # stem_conv, basic (option A shortcut: subsample, zero-pad), classifier
    ("preact-resnet-164", 32, ["body.depth=29"]),  # pre-activation bottleneck: BN not after a conv (kept)
    ("pyramidnet", 32, []),  # pyramid
    ("se-resnet-50", 64, [*(f"body.stages[{i}].units=1" for i in range(4))]),  # bottleneck with SE, projection
    ("squeezenet-1.0", 64, []),  # stem_layers, fire, pool, conv_pool (ceil-mode pools)
    ("googlenet", 64, []),  # inception
    ("efficientnet-b0", 64, []),  # mbconv (SiLU, SE), conv_classifier
    ("mobilenet-v3-small", 64, []),  # bneck (hardswish, hardsigmoid), conv_mlp
    ("regnet-y-400mf", 64, []),  # regnet (group conv, SE)
    ("efficientnet-v2-s", 64, [*(f"body.stages[{i}].units=1" for i in range(6))]),  # fused_mbconv
    ("shufflenet-v2-x0.5", 64, []),  # shuffle (chunk, channel shuffle)
    ("convnext-tiny", 64, [*(f"body.stages[{i}].units=1" for i in range(4))]),
    # convnext (permute, channels-last layer norm, per-position linear, layer scale, GELU)
    ("densenet-121", 64, []),  # dense, transition (avg pool)
    ("vgg-11-bn", 64, ["head.hidden=[64,64]"]),  # stem_none, plain, pool, mlp (adaptive pooling of a 2x2 map to 7x7)
    ("inception-v3", 160, ["body.aux_heads=[]"]),  # inception_v3 (factorised convs, count_include_pad=False)
    ("resnet-50-dcn", 32, [*(f"body.stages[{i}].units=1" for i in range(4))]),  # deformable conv (opset 19)
    ("vit-b-16", 32, ["stem.width=48", "body.block.heads=4", "body.block.mlp_dim=64", "body.stages.0.units=2"]),
    # patch embedding, class token, position embedding, attention (heads split, matmuls, softmax), token head
    ("maxvit-t", 64, ["body.block.partition=2", "body.widening.widths=[32,32,64,64]",
                      *(f"body.stages[{i}].units=1" for i in range(4))]),
    # window and grid partitions, per-head q/k/v, relative position bias (a gathered table), pre-logits head (Tanh)
    ("res2net50-26w-4s", 32, ["body.widening.base=8", *(f"body.stages[{i}].units=1" for i in range(4))]),
    # a YAML block: chunks, repeated convs, sums, a pooled last part, concat
    ("skresnet18", 32, ["body.widening.base=16", *(f"body.stages[{i}].units=1" for i in range(4))]),
    # YAML sub-blocks: dilated convs, group sum, group softmax (reshapes around it), a gate of full width
    ("cspresnet50", 32, [*(f"body.stages[{i}].width={8 * 2 ** i}" for i in range(5)),
                         *(f"body.stages[{i}].block.depth=1" for i in range(1, 5))]),  # LeakyReLU, halves
    ("repvgg-a2", 32, ["stem.width=8", "body.widening.widths=[8,16,16,24]",
                       *(f"body.stages[{i}].units=1" for i in range(4))]),
    # YAML: parallel conv branches and an identity BN, summed; a block stem
    ("ghostnet-100", 32, []),  # YAML: ghost modules (channel slices), hard-sigmoid SE; a block head (pool, conv, fc)
    ("mixnet-s", 32, []),  # YAML: uneven channel slices, mixed-kernel depthwise and grouped 1x1 convs
    ("resnest50d", 32, ["body.widening.base=8", *(f"body.stages[{i}].units=1" for i in range(4))]),
    # YAML: split attention (softmax across the radix), avd pools, pooled projection shortcuts; deep stem
]
TOLERANCE = 1e-4  # of the largest output: fp32 reorderings between two graphs of the same network
# TorchScript's exporter has no uneven adaptive pooling and no deform_conv2d: these take the dynamo exporter's
DYNAMO_ONLY = {"vgg-11-bn", "resnet-50-dcn"}


def build(name: str, size: int, sets: list[str] = ()) -> Network:
    plan = archspec.plan(archspec.load(name, [f"input.size={size}", *sets]))
    return Network(plan, seed=0).eval()


def run(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def torch_onnx(model: torch.nn.Module, x: torch.Tensor, dynamo: bool = False, optimize: bool = False) -> onnx.ModelProto:
    """torch.onnx's export of the module (TorchScript's by default: the same graph, in a second, not ten)."""
    deformable = any(type(n.step).__name__ == "DeformConv" for u in network_units(model) for n in u.graph.nodes)
    opset = 19 if deformable else OPSET
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if dynamo:
            return torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, optimize=optimize).model_proto
        buffer = io.BytesIO()
        torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=opset)
        return onnx.load_from_string(buffer.getvalue())


def relative(got: np.ndarray, expected: np.ndarray) -> float:
    assert np.isfinite(got).all() and np.isfinite(expected).all()
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("name,size,sets", SPECS, ids=[s[0] for s in SPECS])
def test_the_writers_file_agrees_with_torch_onnx_in_onnxruntime(name, size, sets):
    model = build(name, size, sets)
    assert unsupported_reason(model) is None  # every unit has a graph: the writer's, not a fallback
    shape = (model.plan.in_channels, size, size)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with calibrated_statistics(model, shape):  # O(1) outputs that depend on the input: a comparison that can fail
        ours = emit(model)
        theirs = torch_onnx(model, x, dynamo=name in DYNAMO_ONLY)
        got, reference = run(ours.SerializeToString(), x.numpy()), run(theirs.SerializeToString(), x.numpy())
        with torch.no_grad():
            expected = model(x).numpy()
    assert relative(got, reference) <= TOLERANCE
    assert relative(got, expected) <= TOLERANCE
    assert np.abs(expected[0] - expected[1]).max() > 1e-3 * np.abs(expected).max()  # input-dependent
    ops = Counter(n.op_type for n in ours.graph.node)
    assert not ops.keys() & {"Identity", "Cast", "Dropout"}
    assert not any(i.name.endswith("num_batches_tracked") for i in ours.graph.initializer)


def test_bn_after_a_conv_read_by_nothing_else_is_folded_and_no_fold_keeps_every_bn():
    model = build("preact-resnet-164", 32)
    norms = [n for u in network_units(model) for n in u.graph.nodes if isinstance(n.step, Norm)]
    folded, kept = emit(model), emit(model, WriterSettings(fold=False))
    count = lambda proto: sum(n.op_type == "BatchNormalization" for n in proto.graph.node)  # noqa: E731
    assert count(kept) == len(norms)
    # Pre-activation: each unit's first BN reads the previous unit's sum, and the head's reads the last
    # sum; all of those stay. The first unit's reads the stem's conv (another unit's): folded, as the rest.
    assert count(folded) == len(model.plan.body)
    assert node_count(kept) - node_count(folded) == len(norms) - len(model.plan.body)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with calibrated_statistics(model, (3, 32, 32)):
        a, b = emit(model), emit(model, WriterSettings(fold=False))
        with torch.no_grad():
            expected = model(x).numpy()
        assert relative(run(a.SerializeToString(), x.numpy()), expected) <= TOLERANCE
        assert relative(run(b.SerializeToString(), x.numpy()), expected) <= TOLERANCE


@pytest.mark.parametrize("name,size", [("resnet-20", 32), ("mobilenet-v3-small", 64)])
def test_node_count_is_at_most_torchs_optimised_export(name, size):
    model = build(name, size)
    x = torch.randn(1, 3, size, size)
    ours, theirs = node_count(emit(model)), len(torch_onnx(model, x, dynamo=True, optimize=True).graph.node)
    assert ours <= theirs


def test_dynamic_batch_height_and_width():
    model = build("efficientnet-b0", 64)
    proto = emit(model, WriterSettings(dynamic=("batch", "hw")))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert run(proto.SerializeToString(), torch.randn(2, 3, 40, 56).numpy()).shape == (2, 1000)
    with calibrated_statistics(model, (3, 64, 64)):
        calibrated = emit(model, WriterSettings(dynamic=("batch", "hw"))).SerializeToString()
        for shape in ((1, 3, 64, 64), (3, 3, 72, 96)):  # the planned size, and another batch and size
            x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
            with torch.no_grad():
                expected = model(x).numpy()
            assert relative(run(calibrated, x.numpy()), expected) <= TOLERANCE


def test_fp16_file_holds_half_tensors_and_stays_within_half_precision():
    model = build("resnet-20", 32)
    proto = emit(model, WriterSettings(dtype="fp16"))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert {i.data_type for i in proto.graph.initializer if i.data_type != onnx.TensorProto.INT64} == {onnx.TensorProto.FLOAT16}
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with calibrated_statistics(model, (3, 32, 32)):
        half = emit(model, WriterSettings(dtype="fp16")).SerializeToString()
        with torch.no_grad():
            expected = model(x).numpy()
    got = run(half, x.half().numpy())
    assert got.dtype == np.float16
    assert relative(got.astype(np.float32), expected) <= 1e-2


def test_onnx_functions_one_per_distinct_unit_body_and_the_same_outputs():
    model = build("resnet-20", 32)
    proto = emit(model, WriterSettings(functions=True))
    onnx.checker.check_model(proto, full_check=True)
    # stem; the stride-1 basic unit (every stage's: widths are the weights', not the body's); the two
    # downsampling units (their zero-pads differ: 16 and 32 channels); the head
    assert len(proto.functions) == 5
    calls = Counter(n.op_type for n in proto.graph.node)
    assert all(n.domain == FUNCTION_DOMAIN for n in proto.graph.node)
    assert sum(calls.values()) == len(network_units(model)) and calls.most_common(1)[0][1] == 7
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with calibrated_statistics(model, (3, 32, 32)):
        functions, flat = emit(model, WriterSettings(functions=True)), emit(model)
        with torch.no_grad():
            expected = model(x).numpy()
    assert relative(run(functions.SerializeToString(), x.numpy()), expected) <= TOLERANCE
    assert relative(run(functions.SerializeToString(), x.numpy()), run(flat.SerializeToString(), x.numpy())) <= 1e-6


def test_verification_of_a_folded_file_runs_calibrated_statistics_through_the_same_graph(tmp_path):
    model = build("resnet-20", 32)
    path = tmp_path / "r.onnx"
    path.write_bytes(emit(model).SerializeToString())
    check = verify_written(model, (3, 32, 32), path, WriterSettings())
    assert check.ok, check.problems
    assert [c.statistics for c in check.comparisons] == ["as built", "calibrated"]
    assert check.exercised.input_dependent and check.exercised.rel_diff <= 1e-3
    with torch.no_grad():  # the file no longer is the module: the comparison must see it
        model.get_submodule("stages.1.0.bn1").running_var.mul_(4)
    assert not verify_written(model, (3, 32, 32), path, WriterSettings()).ok


@pytest.mark.parametrize("settings", [WriterSettings(), WriterSettings(fold=False), WriterSettings(functions=True),
                                      WriterSettings(dtype="fp16")], ids=["folded", "no-fold", "functions", "fp16"])
def test_calibrated_copy_of_the_file_is_the_graph_emitted_with_those_statistics(tmp_path, settings):
    """Verification's calibrated comparison writes the statistics into the read-back file's initializers
    (folded convs folded again, kept BNs replaced): byte for byte what emitting with them gives, and no
    emission. PreAct-ResNet folds BNs across units and keeps those that read a sum."""
    model = build("preact-resnet-164", 32, ["body.depth=20"])
    path = tmp_path / "p.onnx"
    path.write_bytes(emit(model, settings).SerializeToString())
    with calibrated_statistics(model, (3, 32, 32)) as stats:
        expected = emit(model, settings, overrides=stats)
    with pytest.MonkeyPatch.context() as patch:  # no second emission
        patch.setattr("archspec.export.onnx_writer.emit", lambda *a, **k: pytest.fail("emitted again"))
        copy = with_statistics(onnx.load(str(path)), model, settings, stats)
    tensors = lambda proto: {t.name: t.SerializeToString() for t in proto.graph.initializer}  # noqa: E731
    before, after = tensors(onnx.load(str(path))), tensors(copy)
    assert after == tensors(expected) and after != before
    assert copy.graph.node == expected.graph.node and copy.functions == expected.functions


def test_emission_copies_no_weight_and_defers_folds_transposes_and_casts_to_writing():
    """emit_model's tensors are the module's arrays themselves (they share its storage); a conv weight with
    a BN folded in, a transposed linear weight (MatMul's) and every fp16 weight are computed only when the
    file is written. ResNet-20 folds its BNs; a ViT transposes its linear weights."""
    vit = next(s for s in SPECS if s[0] == "vit-b-16")
    kinds = Counter()
    for model in (build("resnet-20", 32), build(*vit)):
        state = {k: v.numpy() for k, v in model.state_dict().items()}
        convs = _folded_convs(model)
        emitted = emit_model(model)
        assert [t.name for t in emitted.proto.graph.initializer] == list(emitted.tensors)
        assert not any(t.HasField("raw_data") for t in emitted.proto.graph.initializer)  # shells
        for name, tensor in emitted.tensors.items():
            if name.removesuffix(".weight") in convs or name.endswith(".T"):
                assert not isinstance(tensor, np.ndarray), name
                kinds["folded" if name.endswith(".weight") else "transposed"] += 1
            elif name.removesuffix(".bias") in convs:  # a folded bias: computed, one number per channel
                assert tensor.shape == state[name.replace(".bias", ".weight")].shape[:1]
            elif not name.startswith("const."):
                assert isinstance(tensor, np.ndarray) and np.shares_memory(tensor, state[name]), name
                kinds["shared"] += 1
        half = emit_model(model, WriterSettings(dtype="fp16")).tensors
        assert not any(isinstance(half[k], np.ndarray) for k in half if not k.startswith("const."))
    assert kinds["folded"] == 19 and kinds["transposed"] > 0 and kinds["shared"] > 0, kinds


def test_writing_one_file_imports_no_onnx_ir():
    """onnx_ir imports sympy (about 0.4 s, more than emitting most networks): the default file is emitted
    and written without it; only external data uses it."""
    code = ("import sys, tempfile, pathlib, archspec; from archspec.blocks.network import Network; "
            "from archspec.export.onnx_writer import emit_model, save; "
            "m = Network(archspec.plan(archspec.load('resnet-20', ['input.size=16']))).eval(); "
            "d = pathlib.Path(tempfile.mkdtemp()); save(emit_model(m), d / 'r.onnx', False); "
            "print(sorted(n for n in ('onnx_ir', 'sympy') if n in sys.modules), (d / 'r.onnx').stat().st_size > 0)")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert found.split() == ["[]", "True"]


def _folded_convs(model: Network) -> set[str]:
    from archspec.export.onnx_writer import _fold_pairs

    return set(_fold_pairs(network_units(model)).values())


@pytest.mark.parametrize("spec", ["resnet-20", "vit-b-16"])
@pytest.mark.parametrize("settings", [WriterSettings(), WriterSettings(dtype="fp16", functions=True)],
                         ids=["fp32", "fp16-functions"])
def test_the_saved_file_is_the_emitted_graph_in_one_file_and_with_external_data(tmp_path, settings, spec):
    """What save writes (the lazy tensors computed then) is emit's ModelProto byte for byte in one file; with
    external data (streamed by onnx_ir), the same nodes and every tensor's same bytes, the data beside it.
    ResNet-20 has folded convs, the ViT transposed linear weights."""
    model = build(*next(s for s in SPECS if s[0] == spec)) if spec == "vit-b-16" else build(spec, 32)
    expected = emit(model, settings)
    one = tmp_path / "one.onnx"
    save(emit_model(model, settings), one, external=False)
    assert one.read_bytes() == expected.SerializeToString()
    split = tmp_path / "split.onnx"
    save(emit_model(model, settings), split, external=True)
    shell = onnx.load(str(split), load_external_data=False)
    assert {e.value for t in shell.graph.initializer for e in t.external_data if e.key == "location"} == {
        "split.onnx.data"}
    assert split.stat().st_size < 100_000 < (tmp_path / "split.onnx.data").stat().st_size
    loaded = onnx.load(str(split))
    assert loaded.graph.node == expected.graph.node and loaded.functions == expected.functions
    tensors = lambda proto: {t.name: onnx.numpy_helper.to_array(t).tobytes() for t in proto.graph.initializer}  # noqa: E731
    assert tensors(loaded) == tensors(expected)


def test_a_backbone_build_is_not_the_writers():
    plan = archspec.plan(archspec.load("resnet-20"))
    backbone = Network(plan, features_only=True).eval()
    assert "features_only" in unsupported_reason(backbone)
    with pytest.raises(Unsupported):
        emit(backbone)


def test_cli_writes_the_writers_file_by_default_and_torchs_on_request(tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "resnet-20", "-e", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "note:" not in result.output and "calibrated: relative error" in result.output
    proto = onnx.load(str(out / "resnet-20.onnx"))
    assert proto.producer_name == "archspec" and proto.opset_import[0].version == OPSET
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["archspec.spec"] == "resnet-20" and meta["archspec.seed"] == "0" and "archspec.spec_sha256" in meta
    result = runner.invoke(app, ["build", "resnet-20", "-e", "onnx", "-o", str(out), "--onnx-functions", "--no-fold"])
    assert result.exit_code == 0, result.output
    proto = onnx.load(str(out / "resnet-20.onnx"))
    assert len(proto.functions) == 5 and any(n.op_type == "BatchNormalization" for f in proto.functions for n in f.node)
    result = runner.invoke(app, ["build", "resnet-20", "-e", "onnx", "-o", str(out), "--exporter", "torch", "--no-fold"])
    assert result.exit_code == 2 and "--exporter torch" in result.output
    assert list(out.iterdir()) == [out / "resnet-20.onnx"]
