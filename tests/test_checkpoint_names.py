"""Checkpoint names declared as data (a spec's ``checkpoint:`` rules, spec/checkpoint.py): timm's and
xautodl's state_dicts load from the CLI and the API with no model-specific Python (convert/declared.py).

The value checks (strict load, outputs equal to timm's and xautodl's modules) are in test_block_library.py,
test_user_blocks.py and test_nas_bench_201.py; here: the command line, the rules' semantics and their errors.
"""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.convert import ConversionError, from_timm
from archspec.export.onnx import verify_onnx
from conftest import ROOT, spec_path

SIZE = 64  # the layouts do not depend on resolution; the ONNX file stays small and fast to verify


def _timm(name: str):
    import timm

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():  # running statistics that are not the identity, so a BN's use shows in the outputs
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def build(spec: str, *args: object):
    return CliRunner().invoke(app, ["build", str(spec_path(spec)), "--set", f"input.size={SIZE}",
                                    "--set", f"name={spec}", *map(str, args)])


@pytest.mark.parametrize("spec, suffix", [("dla34", ".pt"), ("skresnet18", ".safetensors")])
def test_cli_builds_verified_onnx_from_a_timm_checkpoint(tmp_path, spec, suffix):
    """torch.save and .safetensors files of timm's state_dict; DLA's 1x1-conv classifier is the declared
    `reshape: squeeze`. The ONNX file, run in onnxruntime, gives timm's own module's outputs."""
    from safetensors.torch import save_file

    theirs = _timm(spec)
    weights = tmp_path / f"timm{suffix}"
    if suffix == ".pt":
        torch.save(theirs.state_dict(), weights)
    else:
        save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(weights))
    result = build(spec, "--weights", weights, "--weights-format", "timm", "-e", "onnx", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert f"({'timm'} names, {len(theirs.state_dict())} tensors)" in result.output
    onnx_file = tmp_path / "out" / f"{spec}.onnx"
    check = verify_onnx(theirs, (3, SIZE, SIZE), onnx_file, calibrate=False)
    assert check.ok, check
    metadata = {p.key: p.value for p in onnx.load(onnx_file).metadata_props}
    assert metadata["archspec.weights"] == f"timm:{weights.name}"


def _one_paragraph(result) -> str:
    text = result.stderr.strip()
    assert text and "\n\n" not in text and "Traceback" not in result.output
    return " ".join(text.split())


def test_cli_refuses_a_mismatching_timm_checkpoint_and_writes_nothing(tmp_path):
    """A 1000-class checkpoint for a 10-class spec: the squeeze of DLA's classifier drops only size-1 dims."""
    weights = tmp_path / "dla.pt"
    torch.save(_timm("dla34").state_dict(), weights)
    result = build("dla34", "--set", "classes=10", "--weights", weights, "--weights-format", "timm",
                   "-e", "onnx", "-o", tmp_path / "out")
    assert result.exit_code == 2
    message = _one_paragraph(result)
    assert ("tensor 'fc.weight' has shape (1000, 512, 1, 1) in the checkpoint, but spec dla34 expects (10, 512) "
            "for layer fc of unit head (head.fc.weight)") in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change, words", [
    (lambda s: {**s, "extra.weight": torch.zeros(3)}, "tensor 'extra.weight' (shape (3)) of the timm checkpoint has "
                                                      "no place in spec skresnet18 (1 such tensors)"),
    (lambda s: {k: v for k, v in s.items() if k != "layer4.1.conv2.bn.weight"},
     "the timm checkpoint has no tensor 'layer4.1.conv2.bn.weight' (shape (512)) for layer conv2.bn of unit stages.3.1"),
    (lambda s: {**s, "layer1.0.conv2.conv.weight": s["layer1.0.conv2.conv.weight"].double()},
     "'layer1.0.conv2.conv.weight' (for layer conv2.conv of unit stages.0.0 (stages.0.0.conv2.conv.weight)) has "
     "dtype float64"),
])
def test_every_checkpoint_tensor_is_placed_and_checked(change, words):
    state = change(_timm("skresnet18").state_dict())
    with pytest.raises(ConversionError) as info:
        from_timm(state, spec_path("skresnet18"))
    assert words in str(info.value)


def test_a_spec_without_names_or_with_another_format_says_which_to_use(tmp_path):
    with pytest.raises(ConversionError, match=r"spec resnet-18 declares no checkpoint names, so a timm state_dict "
                                              r"cannot be mapped onto it: add a `checkpoint:` section"):
        from_timm({}, spec_path("resnet-18"))
    weights = tmp_path / "cell.pt"
    torch.save(archspec.build(spec_path("nas-bench-201")).state_dict(), weights)
    result = CliRunner().invoke(app, ["build", str(spec_path("nas-bench-201")), "--weights", str(weights),
                                      "--weights-format", "timm", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "declares the names of xautodl checkpoints, not timm's: use --weights-format xautodl" in _one_paragraph(result)
    assert not (tmp_path / "out").exists()


def test_rules_apply_first_match_and_ignore_declared_prefixes():
    """cspresnet50 lists `stages.0.0` (timm's stem) before `stages.{s}.0`; checkpoint keys under an
    `ignore` prefix are dropped, and only those."""
    state = _timm("cspresnet50").state_dict()
    converted = from_timm(state, spec_path("cspresnet50"))
    assert converted["stages.0.0.conv1.conv.weight"] is state["stem.conv1.conv.weight"]
    assert converted["stages.4.0.conv_down.conv.weight"] is state["stages.3.conv_down.conv.weight"]
    extra = {**state, "aux.fc.weight": torch.zeros(2)}
    spec = archspec.load(spec_path("cspresnet50"), ["checkpoint.ignore=[aux.]"])
    assert from_timm(extra, spec).keys() == converted.keys()


@pytest.mark.parametrize("theirs, words", [
    ("layer1.{i}", "give layers stages.0.0.conv1.paths.0.conv and stages.1.0.conv1.paths.0.conv the same name "
                    "'layer1.0.conv1.paths.0.conv'"),
    ("layer{s - 1}.{i}", "gives -1 for {'s': 0, 'i': 0, 'unit': 0}; a name's number must be a whole number >= 0"),
    ("layer{s / 2}.{i}", "gives 0.0 for {'s': 0, 'i': 0, 'unit': 0}"),
])
def test_rules_that_misname_layers_are_refused_by_name(theirs, words):
    spec = archspec.load(spec_path("skresnet18"), [f"checkpoint.names.2.theirs={theirs}"])
    with pytest.raises(ConversionError) as info:
        from_timm(_timm("skresnet18").state_dict(), spec)
    assert words in str(info.value)


def test_the_unit_index_exists_for_the_body_s_units_only():
    spec = archspec.load(spec_path("skresnet18"), ["checkpoint.names.0.theirs=conv{unit}"])
    with pytest.raises(ConversionError, match=r"for layer stem\.conv: .*unknown name `unit` \(unit is defined "
                                              r"for the body's units only\)"):
        from_timm({}, spec)


@pytest.mark.parametrize("rule, field, words", [
    ('{ours: "stages.{s}.{s}", theirs: x}', "checkpoint.names[1].ours", "placeholder {s} in 'stages.{s}.{s}' appears twice"),
    ('{ours: "stages.{unit}", theirs: x}', "checkpoint.names[1].ours", "placeholder {unit} in 'stages.{unit}' is bound by the rule itself"),
    ('{ours: "stages..x", theirs: x}', "checkpoint.names[1].ours", "segment 2 of 'stages..x', '', is neither"),
    ('{ours: "stages.{s}", theirs: "layer{t + 1}"}', "checkpoint.names[1].theirs", "reads 't', which the rule does not bind; it may read s, unit"),
    ('{ours: "stages.{s}", theirs: "layer{s ** 2}"}', "checkpoint.names[1].theirs", "the operator `**` is not allowed"),
    ('{ours: "stages.{s}", theirs: "layer{__import__(s)}"}', "checkpoint.names[1].theirs", "calling `__import__` is not allowed"),
    ("{ours: stem, theirs: 'a b'}", "checkpoint.names[1].theirs", "may hold only module names, digits, dots and {expressions}"),
    ("{ours: stem, theirs: x, reshape: flat}", "checkpoint.names[1].reshape", "`flat` is not allowed; use one of squeeze"),
])
def test_mistakes_in_the_rules_are_located_and_exit_2(tmp_path, rule, field, words):
    text = spec_path("skresnet18").read_text()
    text = text[:text.index("checkpoint:")] + f"checkpoint:\n  format: timm\n  names:\n    - {{ours: stem.conv, theirs: conv1}}\n    - {rule}\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    line = text.count("\n", 0, text.rindex(rule)) + 1
    result = subprocess.run([sys.executable, "-m", "archspec", "validate", str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 2, result.stdout
    message = " ".join(result.stderr.split())
    assert f"{path}:{line}:" in message and field in message and words in message, message
    assert "Traceback" not in result.stderr


def test_the_api_loads_an_xautodl_checkpoint_of_any_cell_by_its_declared_names(tmp_path):
    """archspec.write_exports(..., weights_format="xautodl") on an `archspec nb201` cell spec, which keeps
    the bundled spec's rules through `extends`: the written state_dict holds xautodl's tensors."""
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    cell = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    torch.manual_seed(0)
    theirs = TinyNetwork(16, 5, Structure.str2structure(cell), 10)
    torch.save(theirs.state_dict(), tmp_path / "cell.pt")
    spec = tmp_path / "cell.yaml"
    assert CliRunner().invoke(app, ["nb201", cell, "-o", str(spec)]).exit_code == 0
    archspec.write_exports(spec, ["state_dict"], tmp_path / "out", weights=tmp_path / "cell.pt",
                           weights_format="xautodl")
    (written,) = (tmp_path / "out").glob("*.pt")
    state = torch.load(written, weights_only=True)
    assert torch.equal(state["stages.4.4.layers.5.op.1.weight"], theirs.cells[16].layers[5].op[1].weight)
    assert torch.equal(state["head.fc.weight"], theirs.classifier.weight)


def test_every_bundled_spec_of_a_timm_model_declares_timm_s_names():
    """A spec that reproduces a timm model (`reference.timm`) says how timm's state_dict names it, so its
    weights load from the CLI; the value checks of each live beside its counts (test_block_library.py)."""
    from archspec.spec.bundled import bundled_names

    specs = [archspec.load(spec_path(name)) for name in bundled_names()]
    timm_specs = {s.name: s.checkpoint.format if s.checkpoint else None for s in specs
                  if s.reference is not None and s.reference.timm is not None}
    assert {"res2net50-26w-4s", "skresnet18", "cspresnet50", "dla34"} <= timm_specs.keys()
    assert {name for name, fmt in timm_specs.items() if fmt != "timm"} == set()


def test_the_cli_offers_every_format_the_converters_and_the_spec_language_know():
    from archspec.cli.build import WeightsFormat
    from archspec.convert import FORMATS
    from archspec.convert.declared import DECLARED_FORMATS

    assert [f.value for f in WeightsFormat] == list(FORMATS) and set(DECLARED_FORMATS) == {"timm", "xautodl"}
