"""Block types written as data (spec/user_blocks.py, plan/user_block.py): Res2Net as timm builds it,
blocks declared inline, and every mistake in a block file located in that file."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import expressions
from archspec.spec.errors import SpecError
from conftest import ROOT, measure, spec_path

RES2NET = spec_path("res2net50-26w-4s")
BLOCK_FILE = ROOT / "blocks" / "res2net.yaml"


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


# -- the worked example: timm's res2net50_26w_4s


def _timm_res2net(device: str = "cpu"):
    import timm
    import torch

    with torch.device(device):
        return timm.create_model("res2net50_26w_4s", pretrained=False)


def test_res2net_counts_are_timm_s_own():
    """params == timm's sum(numel), MACs == FlopCounterMode / 2 of timm's module at its default 224x224 (meta)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = _timm_res2net("meta")
    assert model.default_cfg["input_size"] == (3, 224, 224)
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    plan = archspec.plan(RES2NET)
    assert plan.params == sum(p.numel() for p in model.parameters())
    assert plan.macs * 2 == counter.get_total_flops()
    reference = archspec.load(RES2NET).reference
    assert (reference.timm, reference.params, reference.macs) == ("res2net50_26w_4s", plan.params, plan.macs)


def test_res2net_loads_timm_s_state_dict_strictly_and_gives_its_outputs():
    import torch
    from archspec.convert import from_timm

    torch.manual_seed(0)
    theirs = _timm_res2net().eval()
    with torch.no_grad():  # running statistics that are not the identity, so BN's use is checked too
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = archspec.build(RES2NET).eval()
    state = theirs.state_dict()
    converted = from_timm(state, RES2NET)  # the spec's checkpoint: names; the blocks' step names are timm's
    assert len(converted) == len(state) and {id(t) for t in converted.values()} == {id(t) for t in state.values()}
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert torch.isfinite(got).all() and got.std() > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_res2net_report_verify_proves_counts_and_saved_bytes():
    result = run("report", "--verify", "--input-size", "64", str(RES2NET))
    assert result.exit_code == 0, result.output
    assert "train_saved_bytes == autograd's saved tensors" in result.output


def test_res2net_validates_without_torch_and_reports_its_block():
    result = run("validate", str(RES2NET))
    assert result.exit_code == 0, result.output
    assert "25,699,120 params" in result.output
    report = run("report", str(RES2NET))
    assert report.exit_code == 0 and "res2net" in report.output


def test_expand_writes_the_definition_inline_so_the_hash_covers_it(tmp_path):
    """The expanded spec stands alone (its block inline, every parameter written out), is a fixed point,
    and a change to the block file changes the spec's sha256."""
    from archspec.plan.expand import canonical_yaml, spec_hash

    spec = archspec.load(RES2NET)
    text = canonical_yaml(spec)
    assert "blocks:" in text and "res2net:" in text and "cardinality: 1" in text
    (tmp_path / "expanded.yaml").write_text(text)
    again = archspec.load(tmp_path / "expanded.yaml")
    assert spec_hash(again) == spec_hash(spec) and archspec.plan(again).params == archspec.plan(spec).params

    shutil.copy(BLOCK_FILE, tmp_path / "r2.yaml")
    body = RES2NET.read_text().replace("reference:", "# reference:")
    (tmp_path / "spec.yaml").write_text(body + "blocks: {res2net: r2.yaml}\n")
    before = spec_hash(archspec.load(tmp_path / "spec.yaml"))
    (tmp_path / "r2.yaml").write_text(BLOCK_FILE.read_text().replace("out: part, kernel: 3", "out: part, kernel: 5"))
    after = archspec.load(tmp_path / "spec.yaml")
    assert spec_hash(after) != before
    assert archspec.plan(after).unit("stages.0.1").op("convs.0").kernel == 5


# -- a block declared inline in a spec

INLINE = """\
name: tiny-user
input: {channels: 3, size: 16}
classes: 10
stem: {type: conv, kernel: 3, width: 8, norm: bn, act: relu}
body:
  stages: [{units: 2, stride: 1}, {units: 1, stride: 2}]
  block: {type: split_sum, parts: 2}
  widening: {rule: step_doubling, base: 8}
blocks:
  split_sum:
    params:
      parts: {type: int, default: 2, min: 1}
      gate: {type: bool, default: true}
    let:
      out: width * 2
      half: out // parts
    steps:
      - {name: conv1, op: conv, out: out, kernel: 1, stride: stride}
      - {name: bn1, op: bn}
      - {name: act1, op: silu}
      - repeat: i
        count: parts
        steps:
          - {name: "part.{i}", op: chunk, in: act1, parts: parts, index: i}
          - {name: "convs.{i}", op: conv, out: half, kernel: 3, groups: half}
      - {name: cat, op: concat, in: ["convs.*"]}
      - {name: se_mean, op: mean, when: gate}
      - {name: se_fc, op: conv, out: out, kernel: 1, bias: true, when: gate}
      - {name: se_gate, op: sigmoid, when: gate}
      - {name: scaled, op: mul, in: [cat, se_gate], when: gate}
      - {name: add, op: add, in: [scaled, shortcut]}
      - {name: relu, op: relu}
    shortcut: {out: out}
"""


def test_an_inline_block_builds_with_the_counts_pytorch_measures(write_spec):
    import torch

    path = write_spec(INLINE)
    plan = archspec.plan(path)
    assert [u.block for u in plan.body] == ["split_sum"] * 3
    unit = plan.unit("stages.1.0")
    assert (unit.in_channels, unit.out_channels, unit.out_size, unit.shortcut) == (16, 32, (8, 8), "projection")
    model = archspec.build(path)
    assert measure(model, (3, 16, 16)) == (plan.params, plan.macs)
    assert torch.isfinite(model(torch.randn(2, 3, 16, 16))).all()
    no_gate = archspec.plan(path, overrides=["body.block.gate=false"])
    assert not no_gate.unit("stages.0.0").has("se_fc") and no_gate.params < plan.params


def test_a_bundled_block_is_used_by_name_and_a_declared_one_by_path(write_spec, tmp_path):
    shutil.copy(BLOCK_FILE, tmp_path / "mine.yaml")
    text = RES2NET.read_text().split("reference:")[0]
    via_path = write_spec(text.replace("type: res2net", "type: mine") + "blocks: {mine: mine.yaml}\n")
    result = run("validate", str(via_path))
    assert result.exit_code == 2 and "defines `res2net`, but the spec uses it as `mine`" in result.output
    (tmp_path / "mine.yaml").write_text(BLOCK_FILE.read_text().replace("block: res2net", "block: mine"))
    assert archspec.plan(via_path).params == archspec.plan(RES2NET).params


# -- located errors: exit 2, FILE:LINE, one paragraph


def _line(text: str, needle: str) -> int:
    return next(i for i, row in enumerate(text.splitlines(), start=1) if needle in row)


@pytest.mark.parametrize("old, new, words", [
    ("op: conv, out: out, kernel: 1, stride", "op: cnov, out: out, kernel: 1, stride",
     ["unknown op `cnov`", "did you mean `conv`?"]),
    ('in: ["convs.*"]', 'in: ["conv.*"]', ["`conv.*` matches no value"]),
    ("in: [scaled, shortcut]", "in: [scaled, shortcu]", ["unknown input 'shortcu'", "did you mean `shortcut`?"]),
    ("in: [scaled, shortcut]", 'in: ["part.0", shortcut]', ["adds shapes", "an add needs equal shapes"]),
    ("half: out // parts", "half: out // (parts - parts)", ["division by zero"]),
    ("half: out // parts", "half: out / 3", ["`half` gives 5.33", "not a whole number", "floor()"]),
    ("half: out // parts", "half: 0 - out", ["`half` gives -16; it must be at least 1"]),
    ("half: out // parts", "half: __import__('os')", ["calling `__import__` is not allowed"]),
    ("half: out // parts", "half: __import__('os').system('true')", ["calling `__import__('os').system` is not"]),
    ("half: out // parts", "half: out ** 99", ["the operator `**` is not allowed"]),
    ("half: out // parts", "half: out * 99999 * 99999", ["exceeds the bound 2**31"]),
    ("half: out // parts", "half: out // partz", ["unknown name `partz`", "did you mean `parts`?"]),
    ("count: parts", "count: 100000", ["repetitions exceed the limit of 256"]),
    ("{name: act1, op: silu}", "{name: conv1.act, op: silu}", ["modules `conv1.act` and `conv1` clash"]),
])
def test_mistakes_in_a_block_are_located_in_its_file(write_spec, old, new, words):
    """At the line that wrote the mistake; a width that is not whole, where it is used as one."""
    assert old in INLINE
    text = INLINE.replace(old, new)
    path = write_spec(text)
    result = run("validate", str(path))
    assert result.exit_code == 2, result.output
    at = 'op: conv, out: half' if "gives" in words[0] else new
    assert f"{path}:{_line(text, at)}:" in result.output, result.output
    for word in words:
        assert word in result.output, result.output
    assert len(result.output.strip().splitlines()) <= 3  # one paragraph (wrapped by the terminal at most)


def test_a_mistake_in_a_block_file_names_the_block_file(write_spec, tmp_path):
    bad = BLOCK_FILE.read_text().replace("base_width / 64", "base_width / 0")
    (tmp_path / "r2.yaml").write_text(bad.replace("block: res2net", "block: broken"))
    text = RES2NET.read_text().split("reference:")[0].replace("type: res2net", "type: broken")
    path = write_spec(text + "blocks: {broken: r2.yaml}\n")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert f"r2.yaml:{_line(bad, 'base_width / 0')}:" in result.output and "division by zero" in result.output


def test_an_unknown_block_type_suggests_the_bundled_block_files(write_spec):
    text = RES2NET.read_text().replace("type: res2net", "type: res2nte")
    result = run("validate", str(write_spec(text)))
    assert result.exit_code == 2
    assert "unknown type `res2nte`; did you mean `res2net`?" in result.output
    assert f":{_line(text, 'res2nte')}:" in result.output


def test_a_block_s_parameters_are_checked_against_its_definition(write_spec):
    for old, new, words in [("scale: 4", "scal: 4", ["unknown field `scal`", "did you mean `scale`?"]),
                            ("scale: 4", "scale: 1", ["must be at least 2"]),
                            ("scale: 4", "scale: 2.5", ["must be a whole number"])]:
        text = RES2NET.read_text().replace(old, new)
        result = run("validate", str(write_spec(text)))
        assert result.exit_code == 2 and all(w in result.output for w in words), result.output
        assert "body.block" in result.output


def test_block_files_are_confined_to_the_spec_s_tree(tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text("password: hunter2\n")
    inside = tmp_path / "project"
    inside.mkdir()
    text = RES2NET.read_text().split("reference:")[0].replace("type: res2net", "type: mine")
    (inside / "spec.yaml").write_text(text + "blocks: {mine: ../secret.yaml}\n")
    result = run("validate", str(inside / "spec.yaml"))
    assert result.exit_code == 2
    assert "is outside the directory of the spec" in result.output and "`blocks.mine: ../secret.yaml`" in result.output and "blocks.mine" in result.output
    assert "hunter2" not in result.output
    (inside / "notes.yaml").write_text("token: abc123\nuser: me\n")  # inside the tree, but no block file
    (inside / "spec.yaml").write_text(text + "blocks: {mine: notes.yaml}\n")
    result = run("validate", str(inside / "spec.yaml"))
    assert result.exit_code == 2 and "not a block file" in result.output
    assert "token" not in result.output and "abc123" not in result.output
    (inside / "spec.yaml").write_text(text + "blocks: {mine: /etc/passwd}\n")
    result = run("validate", str(inside / "spec.yaml"))
    assert result.exit_code == 2 and "root:" not in result.output


def test_a_block_name_may_not_shadow_a_built_in_type(write_spec):
    text = INLINE.replace("split_sum:", "basic:", 1)
    with pytest.raises(SpecError, match="`basic` is a built-in block type"):
        archspec.load(write_spec(text))


# -- the expression language


@pytest.mark.parametrize("text, env, value", [
    ("floor(width * 26 / 64) * 4", {"width": 128}, 208),
    ("make_divisible(width * 0.25, 8)", {"width": 100}, 24),
    ("a if b > 1 and not c else -a", {"a": 3, "b": 2, "c": False}, 3),
    ("max(1, min(a, 4)) % 3", {"a": 7}, 1),
    ("round(2.5) + ceil(0.1)", {}, 3),
])
def test_expressions_evaluate_as_written(text, env, value):
    assert expressions.evaluate(expressions.parse(text), env) == value


@pytest.mark.parametrize("text", ["a.b", "a[0]", "'x' * 9", "lambda: 1", "open('f')", "x ** 2", "[1, 2]",
                                  "(a := 1)", "f'{a}'", "1 << 40", "2 ** 31 ** 2", "9" * 20])
def test_expressions_refuse_everything_but_arithmetic(text):
    with pytest.raises(expressions.ExprError):
        expressions.evaluate(expressions.parse(text), {"a": 1, "x": 2})


def test_a_choice_is_compared_but_never_computed_with():
    assert expressions.evaluate(expressions.parse("2 if mode == 'wide' else 1"), {"mode": "wide"}) == 2
    with pytest.raises(expressions.ExprError, match="arithmetic on text"):
        expressions.evaluate(expressions.parse("mode * 100000"), {"mode": "wide"})


def test_a_design_space_samples_a_user_block_s_parameters(tmp_path):
    """Variants keep their block's definition; its parameters vary like any field, every sample exact."""
    from archspec.plan.expand import spec_hash

    space = tmp_path / "space.yaml"
    space.write_text(f"base: {RES2NET}\nvary:\n  body.block.scale: {{int: [2, 8]}}\n"
                     "  reference: {choice: [null]}\nbudget: {params: [null, 40M]}\n")
    result = archspec.sample(space, 5, seed=0, out=tmp_path / "out")
    assert len({s.sha256 for s in result.samples}) == 5
    for sample in result.samples:
        spec = archspec.load(tmp_path / "out" / sample.file)  # standalone: the block is inline
        assert spec.blocks and spec.body.block.scale == sample.values["body.block.scale"]
        assert spec_hash(spec) == sample.sha256 and archspec.plan(spec).params == sample.params


def test_the_block_file_reference_is_generated_from_the_models():
    from archspec.spec.schema import block_reference

    assert (ROOT / "docs" / "block-reference.md").read_text() == block_reference()
    assert "## ConvStep" in block_reference() and "`count`" in block_reference()


def test_a_declared_block_is_checked_even_where_no_stage_uses_it(write_spec):
    text = INLINE.replace("  block: {type: split_sum, parts: 2}", "  block: {type: basic}") + \
        "  unused: {steps: [{name: c, op: conv, out: width, kernel: 3, strid: 2}]}\n"
    result = run("validate", str(write_spec(text)))
    assert result.exit_code == 2 and "blocks.unused.steps[0].strid" in result.output
    assert "did you mean `stride`?" in result.output


def test_a_block_reading_a_width_the_spec_does_not_give_says_so(write_spec):
    text = INLINE.replace("  widening: {rule: step_doubling, base: 8}\n", "")
    result = run("validate", str(write_spec(text)))
    assert result.exit_code == 2 and "gives this unit no width" in result.output
    assert f":{_line(text, 'out: width * 2')}:" in result.output


def test_a_user_block_builds_to_verified_onnx_and_standalone_code(write_spec, tmp_path):
    path = write_spec(INLINE)
    result = run("build", str(path), "-e", "onnx", "-e", "python", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "onnxruntime vs torch" in result.output and "clean python" in result.output
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".onnx", ".py"]


def test_an_inline_block_s_counts_and_saved_bytes_are_verified_against_torch(write_spec):
    """Chunks, grouped convs, a gate (mean, conv, sigmoid, mul) and a projection shortcut: report --verify
    proves params, FlopCounterMode's MACs and autograd's saved bytes for each unit."""
    result = run("report", "--verify", str(write_spec(INLINE)))
    assert result.exit_code == 0, result.output
    assert "train_saved_bytes == autograd's saved tensors" in result.output


# -- sub-blocks: a block that uses another

NESTED = """\
name: tiny-nested
input: {channels: 3, size: 16}
classes: 10
stem: {type: conv, kernel: 3, width: 8, norm: bn, act: relu}
body:
  stages: [{units: 1, stride: 1}, {units: 1, stride: 2}]
  block: {type: pair}
  widening: {rule: step_doubling, base: 8}
blocks:
  cba:
    params:
      out: {type: int}
      kernel: {type: int, default: 3, min: 1}
      act: {type: choice, default: relu, choices: [relu, none]}
    steps:
      - {name: conv, op: conv, out: out, kernel: kernel, stride: stride}
      - {name: bn, op: bn}
      - {name: relu, op: relu, when: "act == 'relu'"}
  residual:
    inputs: [skip]
    params:
      out: {type: int}
    steps:
      - {name: conv1, block: {type: cba, out: out, stride: 1}}
      - {name: conv2, block: {type: cba, out: out, stride: 1, act: none}}
      - {name: add, op: add, in: [conv2, skip]}
  pair:
    steps:
      - {name: down, block: {type: cba, out: width, kernel: 1}}
      - {name: body, block: {type: residual, out: width}, in: [down, down]}
      - {name: split.0, op: chunk, parts: 2, index: 0}
      - {name: split.1, op: chunk, in: body, parts: 2, index: 1}
      - {name: cat, op: concat, in: ["split.*"]}
      - {name: sum, op: group_sum, groups: 2}
      - {name: wide, block: {type: cba, out: width, stride: 1}}
      - {name: gate, op: group_softmax, groups: 2}
      - {name: out, op: mul, in: [cat, gate]}
"""


def test_a_sub_block_s_steps_are_module_paths_under_its_name_and_counts_are_pytorch_s(write_spec):
    import torch

    path = write_spec(NESTED)
    plan = archspec.plan(path)
    unit = plan.unit("stages.1.0")
    assert unit.op("down.conv").stride == 2 and unit.op("body.conv1.conv").stride == 1  # `stride:` given at the use
    assert unit.op("body.conv2.bn").channels == 16 and not unit.has("body.conv2.relu")  # `act: none`, a choice
    model = archspec.build(path)
    keys = [k for k in model.state_dict() if k.startswith("stages.1.0.")]
    assert "stages.1.0.body.conv1.conv.weight" in keys and "stages.1.0.wide.bn.bias" in keys
    assert unit.graph.shape_of("sum") == (8, 8, 8) and unit.graph.shape_of("gate") == (16, 8, 8)
    assert measure(model, (3, 16, 16)) == (plan.params, plan.macs)
    assert torch.isfinite(model(torch.randn(2, 3, 16, 16))).all()
    result = run("report", "--verify", "-b", "2", str(path))  # group sum and softmax, a mul of views
    assert result.exit_code == 0 and "train_saved_bytes == autograd's saved tensors" in result.output, result.output


@pytest.mark.parametrize("old, new, words", [
    ("{type: cba, out: width, kernel: 1}", "{type: cbx, out: width, kernel: 1}",
     ["unknown sub-block type `cbx`; did you mean", "declares under `blocks:`"]),
    ("{type: cba, out: width, kernel: 1}", "{type: basic, out: width, kernel: 1}",
     ["unknown sub-block type `basic`", "A built-in type is no block file"]),
    ("{type: cba, out: width, kernel: 1}", "{type: pair}", ["block `pair` is used inside itself (pair -> pair)"]),
    ("{name: conv2, block: {type: cba,", "{name: conv2, block: {type: pair,",
     ["block `pair` is used inside itself (pair -> residual -> pair)"]),
    ("{type: cba, out: width, kernel: 1}", "{type: cba, out: width, kernal: 1}",
     ["unknown field `kernal`; did you mean `kernel`?", "the parameters of block `cba`"]),
    ("{type: cba, out: width, kernel: 1}", "{type: cba, kernel: 1}", ["block `cba` needs `out` (int)"]),
    ("{type: cba, out: width, kernel: 1}", "{type: cba, out: width, kernel: 0}", ["must be at least 1", "block `cba`"]),
    ("{type: cba, out: width, kernel: 1}", "{type: cba, out: width / 3, kernel: 1}",
     ["`width / 3` must be a whole number", "parameter `out` of block `cba`"]),
    ("{type: cba, out: width, kernel: 1}", "{type: cba, out: widht, kernel: 1}",
     ["unknown name `widht`", "did you mean `width`?"]),
    ("in: [down, down]}", "in: [down]}", ["block `residual` takes 2 inputs (`x`, skip), and `in` gives 1"]),
    ("in: [down, down]}", "in: [down, down, down]}", ["block `residual` takes 2 inputs", "`in` gives 3"]),
    ("in: [conv2, skip]}", "in: [conv2, shortcut]}", ["is a sub-block here, and only the unit's block has the spec's"]),
    ("{name: sum, op: group_sum, groups: 2}", "{name: sum, op: group_sum, groups: 3}",
     ["8 channels do not split into 3 equal groups", "in unit stages.0.0"]),
    ("inputs: [skip]", "inputs: [skip, x]", ["`x`: inputs are distinct names, not `x` or `shortcut`"]),
    ("inputs: [skip]", 'inputs: ["rest.*", skip]', ["only the last may take the rest (`name.*`)"]),
    ("{name: out, op: mul, in: [cat, gate]}", "{name: out, op: mul, in: [cat, sum]}",
     ["`mul` multiplies shape (8, 16, 16) by (4, 16, 16)", "a gate"]),
])
def test_mistakes_in_sub_blocks_are_located_where_they_are_written(write_spec, old, new, words):
    """At the use's line (or the used block's, for what happens inside it), exit 2, one paragraph."""
    assert old in NESTED
    text = NESTED.replace(old, new)
    path = write_spec(text)
    result = run("validate", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}:{_line(NESTED, old)}:" in result.output, result.output  # the line that was changed
    for word in words:
        assert word in result.output, result.output
    assert len(result.output.strip().splitlines()) <= 3


def test_a_unit_block_cannot_read_inputs_only_a_use_gives(write_spec):
    text = NESTED.replace("  block: {type: pair}", "  block: {type: residual, out: 8}")
    result = run("validate", str(write_spec(text)))
    assert result.exit_code == 2 and "reads inputs besides `x` (skip): it is a sub-block" in result.output
    assert f":{_line(text, 'inputs: [skip]')}:" in result.output


def test_nesting_and_the_unit_s_step_count_are_bounded(write_spec):
    """Blocks nest at most MAX_DEPTH deep; the steps of every sub-block count toward one unit's limit."""
    from archspec.spec.user_blocks import MAX_DEPTH, MAX_STEPS

    chain = "".join(f"  b{k}:\n    steps: [{{name: n, block: {{type: b{k + 1}}}}}]\n" for k in range(MAX_DEPTH + 1))
    chain += f"  b{MAX_DEPTH + 1}:\n    steps: [{{name: c, op: conv, out: 8, kernel: 1, stride: 1}}]\n"
    deep = NESTED.replace("  block: {type: pair}", "  block: {type: b0}").replace("blocks:\n", "blocks:\n" + chain)
    result = run("validate", str(write_spec(deep)))
    assert result.exit_code == 2 and f"blocks nest more than {MAX_DEPTH} deep (b0 -> b1" in result.output

    many = NESTED.replace("  block: {type: pair}", "  block: {type: many}").replace("blocks:\n", """blocks:
  many:
    steps:
      - repeat: i
        count: 250
        steps: [{name: "r.{i}", block: {type: residual, out: 8}, in: [x, x]}]
""")
    result = run("validate", str(write_spec(many)))
    assert result.exit_code == 2 and f"more than {MAX_STEPS} steps per unit" in result.output
    assert "(i = " in result.output and len(result.output.strip().splitlines()) <= 3  # the repeat's index


def test_a_user_block_unit_is_planned_once_per_distinct_context_and_equals_planning_it_afresh(monkeypatch):
    """Res2Net-50's later units of a stage repeat the second's inputs: one planning each, handed back
    at each unit's place; the plan equals one made with nothing remembered, record for record. A block
    that reads its position (``index``) is remembered per place."""
    from archspec.plan import user_block

    class Forgetful(dict):
        def __setitem__(self, key, value):  # remembers nothing: every unit planned afresh
            pass

    user_block._PLANNED.clear()
    calls = []
    real = user_block._Planner.unit
    monkeypatch.setattr(user_block._Planner, "unit", lambda self: calls.append(self.ctx.name) or real(self))
    remembered = archspec.plan(RES2NET)
    assert len(calls) == 8  # per stage: the first unit (it projects) and the second (the rest repeat it)
    assert [u.name for u in remembered.body] == [f"stages.{s}.{j}" for s, n in enumerate((3, 4, 6, 3)) for j in range(n)]
    monkeypatch.setattr(user_block, "_PLANNED", Forgetful())
    calls.clear()
    assert archspec.plan(RES2NET) == remembered
    assert len(calls) == 16

    spec = archspec.load(RES2NET)
    definition = spec.body.block.definition
    assert not user_block._reads_position(definition)
    monkeypatch.setitem(definition.trees, "index", expressions.parse("index"))
    user_block._READS_POSITION.clear()
    assert user_block.reads_position(spec.body.block)
