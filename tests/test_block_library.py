"""The bundled block library (archspec/blocks_lib) against timm 1.0.31: networks written only as YAML
blocks and sub-blocks, each equal to timm's model in params, MACs and outputs under timm's weights.

skresnet18 (sk_basic > selective_kernel > conv_norm_act), cspresnet50 (csp_stem, csp_stage >
csp_bottleneck > conv_norm_act), dla34 (dla_tree2 > dla_tree1 > dla_basic). The Plan's saved bytes
equal what autograd saves in timm's module here, and in ours unit by unit in tests/test_memory.py;
per-unit counts are tests/test_counts.py's.
"""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from conftest import ROOT, spec_path

# spec -> timm model. The blocks' step names are timm's module names; the network's frame (stem, stage
# paths, head) differs, as each spec's `checkpoint:` names declare (archspec.convert.from_timm).
NETWORKS = {"skresnet18": "skresnet18", "cspresnet50": "cspresnet50", "dla34": "dla34"}


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
            if isinstance(m, torch.nn.BatchNorm2d):
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
