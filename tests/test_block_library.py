"""The bundled block library (archspec/blocks_lib) against timm 1.0.31: networks written only as YAML
blocks and sub-blocks, each equal to timm's model in params, MACs and outputs under timm's weights.

skresnet18 (sk_basic > selective_kernel > conv_norm_act), cspresnet50 (csp_stem, csp_stage >
csp_bottleneck > conv_norm_act), dla34 (dla_tree2 > dla_tree1 > dla_basic), repvgg-a2 (repvgg, also
its stem), ghostnet-100 (ghost, conv_bn_act, a pooled_conv_head head), mixnet-s (mixconv,
dw_separable), resnest50d (resnest). Then the language pieces they needed: channel slices, a softmax
across radix groups, activations chosen by a parameter, `else`, block stems and heads. The Plan's saved bytes
equal what autograd saves in timm's module here, and in ours unit by unit in tests/test_memory.py;
per-unit counts are tests/test_counts.py's.
"""

from __future__ import annotations

import re
import shutil

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from conftest import ROOT, spec_path

# spec -> timm model. The blocks' step names are timm's module names; the network's frame (stem, stage
# paths, head) differs, as each spec's `checkpoint:` names declare (archspec.convert.from_timm).
NETWORKS = {"skresnet18": "skresnet18", "cspresnet50": "cspresnet50", "dla34": "dla34", "repvgg-a2": "repvgg_a2",
            "ghostnet-100": "ghostnet_100", "mixnet-s": "mixnet_s", "resnest50d": "resnest50d"}


def _timm(name: str, device: str = "cpu"):
    import timm
    import torch

    with torch.device(device):
        return timm.create_model(name, pretrained=False)


@pytest.mark.parametrize("spec", sorted(NETWORKS))
def test_counts_are_timm_s_own_at_its_default_input_size(spec):
    """params == timm's sum(numel), MACs == FlopCounterMode / 2 of timm's module (meta device), and the
    spec's reference states both."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    name = NETWORKS[spec]
    model = _timm(name, "meta").eval()  # eval: SK's attention BN sees one value per channel at batch 1
    size = model.default_cfg["input_size"]
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, *size, device="meta"))
    plan = archspec.plan(spec_path(spec))
    assert (plan.in_channels, *plan.input_size) == size
    assert plan.params == sum(p.numel() for p in model.parameters())
    assert plan.macs * 2 == counter.get_total_flops()
    reference = archspec.load(spec_path(spec)).reference
    assert (reference.timm, reference.params, reference.macs) == (name, plan.params, plan.macs)


@pytest.mark.parametrize("spec", sorted(NETWORKS))
def test_timm_s_state_dict_loads_strictly_and_gives_its_outputs(spec):
    """from_timm maps every key by the spec's declared names (the blocks' step names are timm's), shapes
    agree but for DLA's classifier (a conv1x1 in timm, the same weights as a linear layer here, declared
    `reshape: squeeze`), the result loads strictly, and the outputs are timm's."""
    import torch
    from archspec.convert import from_timm

    name = NETWORKS[spec]
    torch.manual_seed(0)
    theirs = _timm(name).eval()
    with torch.no_grad():  # running statistics that are not the identity, so BN's use is checked too
        for m in theirs.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = archspec.build(spec_path(spec)).eval()
    state = theirs.state_dict()
    converted = from_timm(state, spec_path(spec))
    assert sorted(converted) == sorted(ours.state_dict())
    assert len(converted) == len(state)  # every tensor of timm's placed once
    taken = {id(t) for t in state.values()}  # the converter passes tensors through; a reshape is a new view
    assert [k for k, v in converted.items() if id(v) not in taken] == (["head.fc.weight"] if spec == "dla34" else [])
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert torch.isfinite(got).all() and float((got - got[:1]).abs().max()) > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


def _saved_bytes(model, x) -> int:
    """Bytes of the distinct storages autograd saves in a training forward (parameters and buffers left out)."""
    import torch

    from archspec.complexity.measure import storage_key

    state = {storage_key(t) for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t):
        seen.setdefault(storage_key(t), 0 if storage_key(t) in state else t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train()(x)
    return sum(seen.values())


@pytest.mark.parametrize("spec", sorted(NETWORKS))
def test_the_plan_s_train_saved_bytes_are_what_timm_s_module_saves(spec):
    """Not only our module's (tests/test_memory.py): timm's own saves the same bytes for backward (meta, batch 2)."""
    import torch

    from archspec.complexity.memory import memory

    plan = archspec.plan(spec_path(spec), input_size=64)
    with torch.device("meta"):
        theirs = _timm(NETWORKS[spec], "meta")
        x = torch.empty(2, 3, 64, 64)
    assert memory(plan, batch=2).train_saved_bytes == _saved_bytes(theirs, x) > 0


def test_the_library_s_networks_use_only_yaml_blocks_and_sub_blocks():
    """Every unit of the proof set is a block file's (no built-in block), and the nesting is what the
    block files say: skresnet18's selective kernel holds conv_norm_act paths, dla34's trees two levels."""
    plans = {name: archspec.plan(spec_path(name)) for name in NETWORKS}
    from archspec.spec.kinds import BLOCK_KINDS

    assert not {u.block for p in plans.values() for u in p.body} & set(BLOCK_KINDS)
    sk = plans["skresnet18"].unit("stages.1.0")
    assert sk.has("conv1.paths.1.conv") and sk.op("conv1.paths.1.conv").dilation == 2
    assert sk.op("conv1.attn.fc_reduce").cout == 16 and sk.has("downsample.0")
    tree = plans["dla34"].unit("stages.1.0")
    assert tree.op("tree2.root.conv").cin == 448 and tree.has("tree1.tree1.conv1")


def test_expand_writes_every_sub_block_so_the_hash_covers_them(tmp_path):
    """The expanded spec holds sk_basic and the blocks it uses; it reloads to the same network; and a
    change to a sub-block's file (declared in the spec, which every block of the spec then uses) changes
    the sha256 and the network."""
    from archspec.plan.expand import canonical_yaml, spec_hash

    spec = archspec.load(spec_path("skresnet18"))
    text = canonical_yaml(spec)
    (tmp_path / "expanded.yaml").write_text(text)
    again = archspec.load(tmp_path / "expanded.yaml")
    assert sorted(again.blocks) == ["conv_norm_act", "selective_kernel", "sk_basic"]
    assert spec_hash(again) == spec_hash(spec) and archspec.plan(again).params == archspec.plan(spec).params

    library = ROOT / "archspec" / "blocks_lib"
    shutil.copy(library / "conv_norm_act.yaml", tmp_path / "cna.yaml")
    body = spec_path("skresnet18").read_text().split("reference:")[0]
    (tmp_path / "spec.yaml").write_text(body + "blocks: {conv_norm_act: cna.yaml}\n")
    before = archspec.load(tmp_path / "spec.yaml")
    assert spec_hash(before) == spec_hash(archspec.load(spec_path("skresnet18"), ["reference=null", "checkpoint=null"]))
    (tmp_path / "cna.yaml").write_text((library / "conv_norm_act.yaml").read_text()
                                       .replace("{name: bn, op: bn}", "{name: bn, op: bn, eps: 0.001}"))
    after = archspec.load(tmp_path / "spec.yaml")
    assert spec_hash(after) != spec_hash(before)
    assert archspec.plan(after).unit("stages.0.0").op("conv1.paths.0.bn").eps == 0.001


def test_verify_at_batch_1_says_why_a_bn_over_a_1x1_map_cannot_be_measured():
    """SK's attention BN sees one value per channel at batch 1, which PyTorch refuses in training:
    one located line and exit 2, not a traceback; --batch 2 verifies."""
    path = str(spec_path("skresnet18"))
    result = CliRunner().invoke(app, ["report", "--verify", "--input-size", "32", path])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "stages.0.0.conv1.attn.bn sees one value per channel" in result.output and "--batch 2" in result.output
    result = CliRunner().invoke(app, ["report", "--verify", "--input-size", "32", "-b", "2", path])
    assert result.exit_code == 0, result.output
    assert "train_saved_bytes == autograd's saved tensors at batch 2" in result.output


@pytest.mark.parametrize("spec", ["repvgg-a2", "ghostnet-100", "mixnet-s", "resnest50d"])
def test_report_verify_proves_counts_and_saved_bytes(spec):
    """At batch 2: ResNeSt's split attention batch-normalises a pooled 1x1 map, which training refuses at batch 1."""
    result = CliRunner().invoke(app, ["report", "--verify", "--batch", "2", "--input-size", "64", str(spec_path(spec))])
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert "train_saved_bytes == autograd's saved tensors at batch 2" in result.output


def test_verifying_resnest_at_batch_1_says_to_use_batch_2():
    result = CliRunner().invoke(app, ["report", "--verify", "--input-size", "64", str(spec_path("resnest50d"))])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "stages.0.0.conv2.bn1 sees one value per channel" in result.output and "--batch 2" in result.output


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
