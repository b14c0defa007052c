"""The Vision Transformer: torchvision's layout as step graphs, attention counted step by step.

Params and MACs of all five bundled ViTs against torchvision's own modules are in
tests/test_references.py (FlopCounterMode with the mha fast path off and SDPA's math kernel);
here: what the attention counts and saves, weights and outputs against torchvision, the
exports, timm's ViT-S/16 and DeiT-Ti as `--set` variants, and the input sizes a ViT refuses. Small inputs (32x32: 4 patches + the class token)
and few layers keep it fast.
"""

from __future__ import annotations

import json
import operator

import pytest
import torch
from torchvision.models.vision_transformer import VisionTransformer
from typer.testing import CliRunner

import archspec
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.complexity.memory import memory
from archspec.complexity.verify import verify, verify_memory, verify_peak
from archspec.convert import from_torchvision
from archspec.plan.steps import MatMul
from conftest import meta_device, spec_path
from test_families import meta_counts

runner = CliRunner()
SMALL = ["input.size=32", "body.stages.0.units=2"]


def small_torchvision() -> VisionTransformer:
    """torchvision's ViT-B/16 layout at 32x32 with 2 encoder layers, every tensor random (its head starts at 0)."""
    torch.manual_seed(0)
    model = VisionTransformer(32, 16, 2, 12, 768, 3072).eval()
    with torch.no_grad():
        for p in (model.heads.head.weight, model.heads.head.bias, model.class_token):
            p.normal_(0, 0.02)
    return model


def test_attention_matmuls_are_counted_steps_of_2_t2_d_macs_per_layer():
    plan = archspec.plan(spec_path("vit-b-16"))
    tokens, width = 197, 768
    for unit in plan.body:
        matmuls = [n.step for n in unit.graph.nodes if isinstance(n.step, MatMul)]
        assert [m.macs for m in matmuls] == [tokens * tokens * width] * 2
        linears = tokens * width * (3 * width + width + 2 * 3072)
        assert unit.macs == linears + 2 * tokens * tokens * width
    assert plan.macs == 17_563_828_224 and plan.params == 86_567_656


def test_counts_and_saved_bytes_equal_torch_at_a_small_input():
    """Per unit: params == sum(numel), 2 x MACs == FlopCounterMode, train-saved bytes == autograd's, peak as traced."""
    plan = archspec.plan(spec_path("vit-b-16"), overrides=SMALL)
    assert verify(plan) == [] and verify_memory(plan) == [] and verify_memory(plan, batch=3) == []
    assert verify_peak(plan) == []
    per_layer = memory(plan).units["stages.0.0"].train_saved_bytes
    t, d, heads, mlp = 5, 768, 12, 3072
    # ln_1 input + stats, in_proj input, q/k/v (one storage), scaled q, softmax, out_proj input, ln_2 input +
    # stats, mlp.0 input, GELU input, mlp.3 input
    assert per_layer == 4 * (t * d + 2 * t + t * d + 3 * t * d + t * d + heads * t * t + t * d
                             + t * d + 2 * t + t * d + t * mlp + t * mlp)


def test_torchvision_weights_give_torchvision_s_outputs():
    theirs = small_torchvision()
    plan = archspec.plan(spec_path("vit-b-16"), overrides=SMALL)
    ours = Network(plan, initialised=False)
    ours.load_state_dict(from_torchvision(theirs.state_dict(), plan), strict=True)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected, got = theirs(x), ours.eval()(x)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_build_with_torchvision_weights_exports_a_verified_onnx(tmp_path):
    weights = tmp_path / "vit.pt"
    torch.save(small_torchvision().state_dict(), weights)
    result = runner.invoke(app, ["build", "vit-b-16", *[a for s in SMALL for a in ("--set", s)], "-e", "onnx",
                                 "-w", str(weights), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "onnxruntime vs torch" in result.output and "checker ok" in result.output
    assert len(list((tmp_path / "out").glob("vit-b-16-*.onnx"))) == 1


def test_report_verify_passes_at_a_small_input():
    result = runner.invoke(app, ["report", "vit-b-32", "-i", "64", "--set", "body.stages.0.units=1", "--verify"])
    assert result.exit_code == 0, result.output
    assert "verified vit-b-32" in result.output and "train_saved_bytes == autograd" in result.output


def test_position_embedding_params_grow_with_the_input():
    at = {size: archspec.plan(spec_path("vit-b-16"), input_size=size).stem.params for size in (224, 384)}
    assert at[384] - at[224] == (24 * 24 - 14 * 14) * 768


def test_input_not_divisible_by_the_patch_is_a_located_error_with_the_nearest_sizes():
    result = runner.invoke(app, ["report", "vit-b-16", "-i", "30"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "vit-b-16.yaml:12:" in result.stderr and "stem.patch" in result.stderr
    assert "use an input of 16x16 or 32x32 (multiples of 16)" in result.stderr
    wide = runner.invoke(app, ["report", "vit-b-16", "-i", "224,200"])
    assert wide.exit_code == 2 and "224x192 or 224x208" in wide.stderr


def test_heads_that_do_not_divide_the_width_are_refused():
    result = runner.invoke(app, ["report", "vit-b-16", "--set", "body.block.heads=5"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "body.block.heads: 5 heads do not divide the token width 768; use 4 or 6" in result.stderr


def test_report_says_the_position_embedding_follows_the_input():
    result = runner.invoke(app, ["report", "vit-b-16", "-i", "384"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    assert ("Position embedding stem.pos_embedding: one vector per token, 577 tokens x 768 = 443,136 params at "
            "384x384") in said and "interpolate_embeddings" in said
    assert "Attention: its two matmuls are MACs" in said


def test_fit_finds_an_embedding_width_the_heads_divide():
    result = runner.invoke(app, ["fit", "vit-b-16", "--vary", "stem.width", "--macs", "12G", "-f", "json"])
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.stdout)
    below, above = fitted["below"]["value"], fitted["above"]["value"]
    assert (below, above) == (564, 576) and below % 12 == above % 12 == 0  # 12 heads: every other width is refused
    plan = archspec.plan(spec_path("vit-b-16"), overrides=["stem.width=576"])
    assert fitted["above"]["macs"] == plan.macs > 12e9 > fitted["below"]["macs"]


@pytest.mark.parametrize(("name", "sets"), [
    ("vit_small_patch16_224", ["stem.width=384", "body.block.heads=6", "body.block.mlp_dim=1536"]),
    ("deit_tiny_patch16_224", ["stem.width=192", "body.block.heads=3", "body.block.mlp_dim=768"]),
])
def test_timm_vits_are_vit_b_16_at_other_widths(name, sets):
    """timm 1.0.31's ViT-S/16 and DeiT-Ti (F.scaled_dot_product_attention, counted under the math kernel)."""
    import timm

    with meta_device():
        theirs = meta_counts(timm.create_model(name, pretrained=False), (3, 224, 224))
    plan = archspec.plan(spec_path("vit-b-16"), overrides=sets)
    assert (plan.params, plan.macs) == theirs


def test_weights_start_as_torchvision_s_vit_initialises_them():
    """torchvision_vit: the patch embedding truncated normal std sqrt(1/fan_in), the MLP xavier uniform with biases
    normal(0, 1e-6), the attention's input projection xavier uniform and its output projection torch's default
    (biases 0), the class token 0 and the position embedding normal(0, 0.02)."""
    plan = archspec.plan(spec_path("vit-b-16"), overrides=SMALL)
    assert plan.init.preset == "torchvision_vit"
    net = Network(plan, seed=3)
    state = net.state_dict()
    d, mlp = 768, 3072
    conv = state["stem.conv_proj.weight"]
    assert abs(conv.std().item() / (1 / (3 * 16 * 16)) ** 0.5 - 1) < 0.05 and not state["stem.conv_proj.bias"].any()
    assert not state["stem.class_token"].any() and abs(state["stem.pos_embedding"].std().item() / 0.02 - 1) < 0.1
    layer = "stages.0.1."
    for name, fan_in, fan_out in (("self_attention.in_proj", d, 3 * d), ("mlp.0", d, mlp), ("mlp.3", mlp, d)):
        w = state[f"{layer}{name}.weight"]
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound, name
    assert not state[f"{layer}self_attention.in_proj.bias"].any()
    assert 0 < state[f"{layer}mlp.0.bias"].abs().max() < 1e-5
    out = state[f"{layer}self_attention.out_proj.weight"]
    assert 0.99 / d ** 0.5 < out.abs().max() <= 1 / d ** 0.5 and not state[f"{layer}self_attention.out_proj.bias"].any()


def test_fx_trace_and_torch_export_run_the_generated_attention():
    plan = archspec.plan(spec_path("vit-b-16"), overrides=[*SMALL, "stem.width=48", "body.block.heads=4",
                                                            "body.block.mlp_dim=64"])
    net = Network(plan).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = net(x)
        traced = torch.fx.symbolic_trace(net)
        assert any(n.target is operator.matmul for n in traced.graph.nodes)  # the attention's matmuls, as steps
        assert torch.equal(traced(x), expected)
        exported = torch.export.export(net, (x,))
        torch.testing.assert_close(exported.module()(x), expected)


def test_mlp_ratio_gives_the_mlp_width_and_a_fractional_width_is_refused():
    by_ratio = archspec.plan(spec_path("vit-b-16"), overrides=["body.block.mlp_dim=null", "body.block.mlp_ratio=4"])
    by_dim = archspec.plan(spec_path("vit-b-16"))
    assert (by_ratio.params, by_ratio.macs) == (by_dim.params, by_dim.macs)
    assert {u.inner_channels for u in by_ratio.units if u.block == "vit"} == {3072}
    result = runner.invoke(app, ["validate", str(spec_path("vit-b-16")), "--set", "body.block.mlp_dim=null",
                                 "--set", "body.block.mlp_ratio=3.3"])
    assert result.exit_code == 2 and "2534.4 is not a whole width" in result.output and "2534 or 2535" in result.output
    both = runner.invoke(app, ["validate", str(spec_path("vit-b-16")), "--set", "body.block.mlp_ratio=4"])
    assert both.exit_code == 2 and "exactly one of `mlp_dim`" in both.output


def test_deit_space_samples_vits_in_its_macs_band_with_deit_ti_in_it(tmp_path):
    """spaces/vit-deit.yaml: depth, heads, width and MLP ratio drawn; each sample is a whole ViT in the band."""
    from archspec.space import load_space, sample

    space = load_space(spec_path("vit-b-16").parent.parent / "spaces" / "vit-deit.yaml")
    result = sample(space, 12, seed=0, out=tmp_path)
    assert len(result.samples) == 12
    for s in result.samples:
        plan = archspec.plan(tmp_path / f"{s.sha256[:12]}.yaml")
        width, heads = s.values["stem.width"], s.values["body.block.heads"]
        assert 1.2e9 <= plan.macs == s.macs <= 4.7e9 and width % heads == 0
        assert {u.inner_channels for u in plan.units if u.block == "vit"} == {width * s.values["body.block.mlp_ratio"]}
    deit_ti = archspec.plan(spec_path("vit-b-16"), overrides=["stem.width=192", "body.block.heads=3",
                                                              "body.block.mlp_dim=768"])  # timm's, test above
    base = tmp_path / "base.yaml"
    base.write_text(json.dumps(space.base_data))
    point = archspec.plan(base, overrides=["stem.width=192", "body.block.heads=3", "body.block.mlp_ratio=4.0",
                                           "body.stages.0.units=12"])
    assert (point.params, point.macs) == (deit_ti.params, deit_ti.macs)  # DeiT-Ti is a point of the space


def test_analyze_draws_a_vit_space_beside_a_cnn_space(tmp_path):
    from archspec.space import RunResult, load_space, plot, sample, table
    from archspec.space.sweep import RESULTS, append_result

    spaces = spec_path("vit-b-16").parent.parent / "spaces"
    dirs = []
    for name in ("vit-cifar", "cifar-resnets"):
        result = sample(load_space(spaces / f"{name}.yaml"), 4, seed=0, out=tmp_path / name)
        for s in result.samples:  # a stand-in metric that depends on the network (the sweep's own tests run real ones)
            append_result(tmp_path / name / RESULTS, RunResult(s.sha256, "ok", 0, 1.0, {"score": s.params / s.macs}))
        dirs.append(tmp_path / name)
    rows = table(dirs, "score")
    assert sorted({r.dir for r in rows}) == sorted(map(str, dirs)) and len(rows) == 8
    vit_rows = [r for r in rows if r.dir == str(dirs[0])]
    assert all(archspec.plan(dirs[0] / f"{r.sha256[:12]}.yaml").units[1].block == "vit" for r in vit_rows)
    plot(rows, "score", tmp_path / "edf.png", False)
    assert (tmp_path / "edf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


FUSED = ["input.size=32", "stem.width=48", "body.block.heads=4", "body.block.mlp_dim=64", "body.stages.0.units=2"]


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_fused_attention_counts_and_computes_as_the_explicit_steps_and_saves_what_the_kernel_saves(dropout):
    """``attention: sdpa``: the same params, MACs and outputs; the saved bytes are the CPU kernel's, checked
    against autograd at batch 1 and 3, in fp32 and bf16. Without dropout the flash kernel keeps q, k and v
    (one storage), its output and an fp32 log-sum-exp per query row; with dropout the math kernel runs."""
    sets = FUSED + [f"body.block.attention_dropout={dropout}"]
    fused = archspec.plan(spec_path("vit-b-16"), overrides=sets + ["body.block.attention=sdpa"])
    explicit = archspec.plan(spec_path("vit-b-16"), overrides=sets)
    assert (fused.params, fused.macs) == (explicit.params, explicit.macs)
    assert verify(fused) == [] and verify_memory(fused) == [] and verify_memory(fused, batch=3) == []
    assert verify_memory(fused, dtype="bf16") == [] and verify_peak(fused) == []
    t, d, heads, mlp = 5, 48, 4, 64
    around = t * d + 2 * t + t * d + t * d + t * d + 2 * t + t * d + t * mlp + t * mlp  # ln_1 .. mlp.3, as explicit
    attention = 3 * t * d + heads * t + t * d if not dropout else 3 * t * d + 2 * t * d + 3 * heads * t * t
    assert memory(fused).units["stages.0.0"].train_saved_bytes == 4 * (around + attention)
    torch.manual_seed(0)
    a = Network(fused).eval()
    torch.manual_seed(0)
    b = Network(explicit).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = a(x)
        torch.testing.assert_close(out, b(x))
    assert torch.isfinite(out).all() and float((out - out[:1]).abs().max()) > 0


@pytest.mark.parametrize("attention", ["explicit", "sdpa"])
def test_both_attentions_export_verified_onnx_fx_and_python(attention, tmp_path):
    sets = [a for s in FUSED + [f"body.block.attention={attention}"] for a in ("--set", s)]
    result = runner.invoke(app, ["build", str(spec_path("vit-b-16")), *sets, "-e", "onnx", "-e", "fx", "-e", "python",
                                 "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.suffixes[-1] for p in tmp_path.iterdir()) == [".onnx", ".py", ".py"]
