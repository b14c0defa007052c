"""The bundled YAML block library (archspec/blocks_lib) against the timm models it reproduces.

Each network here is written with block files only (no block-specific Python): its params equal
timm's ``sum(numel)``, its MACs FlopCounterMode / 2 on timm's module at timm's default input size
(both on the meta device), timm's state_dict loads strictly into the built model (the blocks' step
names are timm's module names; only the network around the units, ``stem``/``stages``/``head``,
is named archspec's way and mapped here), the outputs agree, and ``report --verify`` proves the
saved-for-backward bytes against autograd's.
"""

from __future__ import annotations

import re
from typing import Callable

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from conftest import spec_path


def _stage_unit(key: str) -> tuple[int, int, str]:
    _, stage, unit, rest = key.split(".", 3)
    return int(stage), int(unit), rest


def _repvgg(key: str) -> str:
    """timm's RepVGG names its parts as archspec does: a RepVGG block as the stem (a block stem), `stages`,
    `head.fc`. The keys are timm's, unchanged."""
    return key


# Each of timm's GhostNet bottlenecks is a one-unit stage of ours: our stage -> timm's blocks.<i>.<j>.
GHOST_UNITS = ["0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "6.1", "6.2", "6.3", "6.4", "7.0", "8.0", "8.1", "8.2",
               "8.3", "9.0"]


def _ghostnet(key: str) -> str:
    """Stem conv/bn -> conv_stem/bn1; one-unit stages -> blocks.i.j; the block head's steps are timm's own
    `conv_head` and `classifier`."""
    for ours, theirs in (("stem.conv.", "conv_stem."), ("stem.bn.", "bn1."), ("head.", "")):
        if key.startswith(ours):
            return theirs + key[len(ours):]
    stage, _, rest = _stage_unit(key)
    return f"blocks.{GHOST_UNITS[stage]}.{rest}"


# Each row of timm's MixNet-S architecture is a stage of ours: our stage -> (timm's stage, its first unit there).
MIXNET_ROWS = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1), (4, 0), (4, 1), (5, 0), (5, 1)]


def _mixnet(key: str) -> str:
    """Stem -> conv_stem/bn1, head -> conv_head/bn2/classifier, stage s unit u -> blocks.<row's stage>.<first + u>."""
    for ours, theirs in (("stem.conv.", "conv_stem."), ("stem.bn.", "bn1."), ("head.conv.", "conv_head."),
                         ("head.bn.", "bn2."), ("head.fc.", "classifier.")):
        if key.startswith(ours):
            return theirs + key[len(ours):]
    stage, unit, rest = _stage_unit(key)
    timm_stage, first = MIXNET_ROWS[stage]
    return f"blocks.{timm_stage}.{first + unit}.{rest}"


RESNEST_STEM = {"conv1": "conv1.0", "bn1": "conv1.1", "conv2": "conv1.3", "bn2": "conv1.4", "conv3": "conv1.6",
                "bn3": "bn1"}


def _resnest(key: str) -> str:
    """The deep stem's convs and BNs -> timm's conv1 Sequential and bn1; stage s -> layer<s + 1>; head.fc -> fc."""
    if key.startswith("head.fc."):
        return key[len("head."):]
    if key.startswith("stem."):
        _, layer, rest = key.split(".", 2)
        return f"{RESNEST_STEM[layer]}.{rest}"
    stage, unit, rest = _stage_unit(key)
    return f"layer{stage + 1}.{unit}.{rest}"


# spec name -> (timm model, our state_dict key -> timm's)
MODELS: dict[str, tuple[str, Callable[[str], str]]] = {
    "repvgg-a2": ("repvgg_a2", _repvgg),
    "ghostnet-100": ("ghostnet_100", _ghostnet),
    "mixnet-s": ("mixnet_s", _mixnet),
    "resnest50d": ("resnest50d", _resnest),
}


def _timm(name: str, device: str = "cpu"):
    import timm
    import torch

    with torch.device(device):
        return timm.create_model(name, pretrained=False)


@pytest.mark.parametrize("spec", MODELS)
def test_counts_are_timm_s_own(spec):
    """params == timm's sum(numel), MACs == FlopCounterMode / 2 of timm's module at its default size (meta),
    and the spec's `reference` states those figures."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    name, _ = MODELS[spec]
    model = _timm(name, "meta").eval()
    size = model.default_cfg["input_size"]
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, *size, device="meta"))
    plan = archspec.plan(spec_path(spec))
    assert archspec.load(spec_path(spec)).input.hw == size[1:]
    assert plan.params == sum(p.numel() for p in model.parameters())
    assert plan.macs * 2 == counter.get_total_flops()
    reference = archspec.load(spec_path(spec)).reference
    assert (reference.timm, reference.params, reference.macs) == (name, plan.params, plan.macs)


@pytest.mark.parametrize("spec", MODELS)
def test_timm_s_state_dict_loads_strictly_and_the_outputs_agree(spec):
    import torch

    name, timm_key = MODELS[spec]
    torch.manual_seed(0)
    theirs = _timm(name).eval()
    with torch.no_grad():  # running statistics that are not the identity, so every BN's use is checked
        for m in theirs.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = archspec.build(spec_path(spec)).eval()
    state = theirs.state_dict()
    assert sorted(timm_key(k) for k in ours.state_dict()) == sorted(state)
    ours.load_state_dict({k: state[timm_key(k)] for k in ours.state_dict()}, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert torch.isfinite(got).all() and got.std() > 0
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spec", MODELS)
def test_report_verify_proves_counts_and_saved_bytes(spec):
    """At batch 2: ResNeSt's split attention batch-normalises a pooled 1x1 map, which training refuses at batch 1."""
    result = CliRunner().invoke(app, ["report", "--verify", "--batch", "2", "--input-size", "64", str(spec_path(spec))])
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert "train_saved_bytes == autograd's saved tensors at batch 2" in result.output


def test_verifying_a_bn_over_a_1x1_map_at_batch_1_says_to_use_batch_2():
    result = CliRunner().invoke(app, ["report", "--verify", "--input-size", "64", str(spec_path("resnest50d"))])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "stages.0.0.conv2.bn1 batch-normalises a 1x1 map" in result.output and "--batch 2" in result.output


def test_no_block_specific_python():
    """The library's blocks are data: no Python module of archspec names them."""
    from conftest import ROOT

    names = re.compile(r"ghost|resnest|mixnet|repvgg", re.I)
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "archspec").rglob("*.py") if names.search(p.read_text())]
    assert found == []


# -- the language features these blocks brought: slices, a softmax across radix groups, an activation
#    chosen by a parameter, `else` for a left-out step (an inline block, so each is seen alone)

FEATURES = """\
name: features
input: {channels: 3, size: 16}
classes: 10
stem: {type: conv, kernel: 3, width: 12, norm: bn, act: relu}
body:
  stages: [{units: 1, stride: 1}, {units: 1, stride: 2}]
  block: {type: split_attend, groups: 3}
  widening: {rule: step_doubling, base: 12}
blocks:
  split_attend:
    params:
      groups: {type: int, default: 3, min: 1}
      act: {type: choice, default: silu, choices: [relu, silu]}
    let:
      part: in_channels // groups
    steps:
      - {name: whole, op: conv, in: x, out: in_channels, kernel: 3, when: groups == 1}
      - repeat: i
        count: "groups if groups > 1 else 0"
        steps:
          - {name: "split.{i}", op: slice, in: x, start: "0 if i == 0 else in_channels - (groups - i) * part",
             size: "in_channels - (groups - 1) * part if i == 0 else part"}
          - {name: "convs.{i}", op: conv, out: "in_channels - (groups - 1) * part if i == 0 else part", kernel: 3 + 2 * i}
      - {name: cat, op: concat, in: ["convs.*"], when: groups > 1, else: whole}
      - {name: act, op: act, fn: act}
      - {name: pair, op: conv, out: 2 * width, kernel: 1, stride: stride}
      - {name: gap, op: mean}
      - {name: logits, op: conv, out: 2 * width, kernel: 1, bias: true}
      - {name: attn, op: softmax, radix: 2}
      - {name: a0, op: chunk, in: attn, parts: 2, index: 0}
      - {name: a1, op: chunk, in: attn, parts: 2, index: 1}
      - {name: p0, op: chunk, in: pair, parts: 2, index: 0}
      - {name: p1, op: chunk, in: pair, parts: 2, index: 1}
      - {name: w0, op: mul, in: [p0, a0]}
      - {name: w1, op: mul, in: [p1, a1]}
      - {name: out, op: add, in: [w0, w1]}
"""


def test_slices_radix_softmax_chosen_activations_and_else_build_as_planned(write_spec):
    """Uneven slices (12 channels in 3 groups: 4, 4, 4; 24 in 5: 8, 4, 4, 4, 4), one conv where `groups` is 1
    (`else`), the chosen activation, and a softmax across two radix groups, measured by PyTorch."""
    import torch
    from conftest import measure

    path = write_spec(FEATURES)
    plan = archspec.plan(path)
    unit = plan.unit("stages.0.0")
    assert [unit.op(f"convs.{i}").cin for i in range(3)] == [4, 4, 4]
    model = archspec.build(path).eval()
    assert measure(model, (3, 16, 16)) == (plan.params, plan.macs)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()
    five = archspec.plan(path, overrides=["body.block.groups=5", "stem.width=24", "body.widening.base=24"])
    assert [five.unit("stages.0.0").op(f"convs.{i}").cin for i in range(5)] == [8, 4, 4, 4, 4]
    one = archspec.plan(path, overrides=["body.block.groups=1", "body.block.act=relu"])
    assert one.unit("stages.0.0").has("whole") and not one.unit("stages.0.0").has("convs.0")


def test_the_radix_softmax_weighs_each_channel_across_the_groups():
    """Channel j of group r: softmax over r of the input's (cardinality, radix, C') layout, as timm's rSoftMax."""
    import torch

    from archspec.plan.steps import RadixSoftmax

    x = torch.randn(2, 24, 1, 1)
    step = RadixSoftmax("attn", radix=2, cardinality=3)
    got = eval(step.expr(["x"]), {"x": x})  # noqa: S307 -- the step's own generated expression, a test of it
    expected = x.view(2, 3, 2, -1).transpose(1, 2).softmax(1).reshape(2, -1, 1, 1)
    torch.testing.assert_close(got, expected)
    assert step.out_shape((24, 1, 1)) == (24, 1, 1)


@pytest.mark.parametrize("old, new, words", [
    ('size: "in_channels - (groups - 1) * part if i == 0 else part"}', 'size: "in_channels"}',
     ["channels 4 to 16 run past the input's 12 channels"]),
    ("op: softmax, radix: 2", "op: softmax, radix: 5", ["24 channels do not split into radix 5"]),
    ("op: softmax, radix: 2", "op: softmax, radix: 1", ["it must be at least 2"]),
    ("{name: act, op: act, fn: act}", "{name: act, op: act, fn: acts}", ["unknown name `acts`", "did you mean `act`?"]),
    ("{name: act, op: act, fn: act}", "{name: act, op: act, fn: \"'tanh' if groups else 'relu'\"}",
     ["gives 'tanh', not an activation"]),
    ("when: groups > 1, else: whole", "else: whole", ["give the step a `when`"]),
    ("when: groups > 1, else: whole", "when: groups > 1, else: hole", ["unknown input 'hole'", "`whole`"]),
])
def test_mistakes_in_the_new_steps_are_located_in_the_block(write_spec, old, new, words):
    assert old in FEATURES
    text = FEATURES.replace(old, new)
    if "else: hole" in new:  # only read where the step is left out
        text = text.replace("block: {type: split_attend, groups: 3}", "block: {type: split_attend, groups: 1}")
    path = write_spec(text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if new.split("}")[0] in row)
    assert f"{path}:{line}:" in result.output, result.output
    for word in words:
        assert word in result.output, result.output


# -- block stems and heads: `stem: {type: block, ...}`, `head: {type: block, ...}`

PARTS = """\
name: parts
input: {channels: 3, size: 16}
classes: 10
stem: {type: block, block: {type: repvgg}, width: 8, stride: 2}
body:
  stages: [{units: 1, stride: 1}]
  block: {type: repvgg}
  widening: {rule: explicit, widths: [8]}
head: {type: block, block: {type: pooled_conv_head, dropout: 0.1}, width: 12}
"""


def test_a_block_stem_and_head_build_with_the_counts_pytorch_measures(write_spec):
    import torch
    from conftest import measure

    path = write_spec(PARTS)
    plan = archspec.plan(path)
    assert (plan.stem.block, plan.stem.stride, plan.stem.out_size) == ("stem_block", 2, (8, 8))
    assert plan.stem.has("conv_kxk.conv") and plan.head.block == "block" and plan.head.out_channels == 10
    assert plan.head.op("conv_head").cout == 12 and plan.head.op("classifier").cout == 10
    model = archspec.build(path).eval()
    assert measure(model, (3, 16, 16)) == (plan.params, plan.macs)
    assert "stem.conv_1x1.conv.weight" in model.state_dict() and "head.classifier.bias" in model.state_dict()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)


@pytest.mark.parametrize("old, new, words", [
    ("head: {type: block, block: {type: pooled_conv_head, dropout: 0.1}, width: 12}",
     "head: {type: block, block: {type: conv_bn_act}, width: 12}",
     ["the block's output has shape (12, 8, 8)", "a head block outputs a vector of `classes` values"]),
    ("stem: {type: block, block: {type: repvgg}", "stem: {type: block, block: {type: bottleneck}",
     ["`bottleneck` is a built-in body block"]),
    ("stem: {type: block, block: {type: repvgg}", "stem: {type: block, block: {type: repvg}",
     ["did you mean `repvgg`?"]),
    ("head: {type: block, block: {type: pooled_conv_head, dropout: 0.1}, width: 12}",
     "head: {type: block, block: {type: pooled_conv_head, dropout: 0.1}}",
     ["unknown name `width`"]),
])
def test_mistakes_in_a_block_stem_or_head_are_located(write_spec, old, new, words):
    assert old in PARTS
    path = write_spec(PARTS.replace(old, new))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in result.output, result.output


def test_only_a_head_block_reads_the_classes(write_spec):
    text = PARTS.replace("block: {type: repvgg}\n  widening", "block: {type: narrow}\n  widening") + """\
blocks:
  narrow:
    steps: [{name: conv, op: conv, out: classes, kernel: 1}]
"""
    result = CliRunner().invoke(app, ["validate", str(write_spec(text))])
    assert result.exit_code == 2 and "only a head block (`head: {type: block}`) knows the classes" in result.output
