"""MaxViT: torchvision's layout as step graphs, block and grid attention counted step by step.

Params and MACs of maxvit-t against torchvision's own module are in tests/test_references.py
(FlopCounterMode on the meta device, the mha fast path off and SDPA's math kernel); here: what the
attention counts, what it saves, weights and outputs against torchvision, the exports, the init and
the input sizes a MaxViT refuses. Small networks keep it fast: a 64x64 input with 2x2 partitions
(stage maps 16, 8, 4 and 2: the last stage attends within one window, one grid) and narrow stages.
"""

from __future__ import annotations

import operator

import pytest
import torch
from torchvision.models.maxvit import MaxVit, MaxVit_T_Weights
from typer.testing import CliRunner

import archspec
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.complexity.memory import memory
from archspec.complexity.verify import verify, verify_memory, verify_peak
from archspec.convert import from_torchvision
from archspec.plan.partition_steps import Partition, RelativePositionBias, relative_position_index
from archspec.plan.steps import MatMul
from conftest import spec_path

runner = CliRunner()
WIDTHS = [32, 32, 64, 64]
SMALL = ["input.size=64", "body.block.partition=2", "stem.layers.0.width=32", "stem.layers.1.width=32",
         f"body.widening.widths={WIDTHS}", *(f"body.stages.{s}.units=1" for s in range(4))]


def small_plan(*extra: str) -> archspec.Plan:
    return archspec.plan(spec_path("maxvit-t"), overrides=[*SMALL, *extra])


def small_torchvision() -> MaxVit:
    """torchvision's MaxVit in SMALL's layout, every tensor random: weights at std 1/sqrt(fan in) (its init's 0.02
    leaves the logits nearly the same for every input), norms' scales near 1, biases, bias tables and BN
    statistics too."""
    torch.manual_seed(0)
    model = MaxVit((64, 64), 32, 2, WIDTHS, [1, 1, 1, 1], 32, 0.2).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(1.0 if name.endswith("weight") and p.dim() == 1 else 0.0,  # norms' scales near 1
                      p[0].numel() ** -0.5 if p.dim() > 1 else 0.1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    return model


def test_each_attention_s_two_matmuls_are_counted_steps_of_tokens_x_window_x_width_macs():
    """Block and grid attention over an HxW map of width C: each matmul N x P^2 x C MACs (N = H x W tokens,
    sequences of P^2), the Linears 12 N C^2 (qkv 3, merge 1, MLP 8); maxvit-t's total is torchvision's."""
    plan = archspec.plan(spec_path("maxvit-t"))
    for unit in plan.body:
        (h, w), c = unit.out_size, unit.out_channels
        tokens = h * w
        matmuls = [n.step.macs for n in unit.graph.nodes if isinstance(n.step, MatMul)]
        assert matmuls == [tokens * 49 * c] * 4, unit.name
        attention = sum(op.macs for op in unit.ops if op.path.startswith(("window.", "grid.")))
        assert attention == 2 * 12 * tokens * c * c
        assert sorted(n.step.window for n in unit.graph.nodes if isinstance(n.step, Partition)) == sorted(
            [(7, 7), (h // 7, w // 7)])
    assert plan.macs == 5_558_046_720 and plan.params == 30_919_624
    meta = MaxVit_T_Weights.IMAGENET1K_V1.meta  # torchvision's published figures, at their printed precision
    assert (meta["num_params"], meta["_ops"]) == (plan.params, round(plan.macs / 1e9, 3))


def test_counts_and_saved_bytes_equal_torch_at_a_small_input():
    """Per unit: params == sum(numel), 2 x MACs == FlopCounterMode, train-saved bytes == autograd's (batch 1
    and 3: the same per-sample storages), the inference peak as traced."""
    plan = small_plan()
    assert verify(plan) == [] and verify_memory(plan) == [] and verify_memory(plan, batch=3) == []
    assert verify_peak(plan) == []


def test_a_unit_saves_what_its_mbconv_attentions_and_mlps_need_for_backward():
    """The last unit (64 to 64 channels, stride 2, a 4x4 map to 2x2: one window of T = 4 tokens, 2 heads):
    the MBConv's inputs of its pool, convs, BNs (and their statistics), GELUs, SE and rescale; per attention
    the LayerNorm's input and statistics, to_qkv's input, q, the scaled k and v (copies), the softmax and
    merge's input; per MLP the LayerNorm's, both Linears' and the GELU's inputs."""
    plan = small_plan("body.block.drop_path=0")
    c, mid, squeeze, t, heads = 64, 256, 16, 4, 2
    mbconv = (c * 16 + c * t + 2 * c + c * 16 + mid * 16 + 2 * mid + mid * 16 + mid * 16 + mid * t + 2 * mid
              + mid * t + mid + squeeze + squeeze + mid + mid * t + mid * t)
    attention = t * c + 2 * t + t * c + 3 * t * c + heads * t * t + t * c
    mlp = t * c + 2 * t + t * c + 4 * t * c + 4 * t * c
    assert memory(plan).units["stages.3.0"].train_saved_bytes == 4 * (mbconv + 2 * (attention + mlp))


def test_torchvision_weights_give_torchvision_s_outputs():
    theirs = small_torchvision()
    plan = small_plan()
    assert plan.params == sum(p.numel() for p in theirs.parameters())
    ours = Network(plan, initialised=False)
    ours.load_state_dict(from_torchvision(theirs.state_dict(), plan), strict=True)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected, got = theirs(x), ours.eval()(x)
    assert expected.abs().max() > 0.1 and (expected[0] - expected[1]).abs().max() > 0.1
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # torchvision's fixed index buffers (dropped by the conversion) are archspec's, rebuilt from the partition
    index = theirs.state_dict()["blocks.0.layers.0.layers.grid_attention.attn_layer.1.relative_position_index"]
    assert index.flatten().tolist() == relative_position_index(2)
    assert torch.equal(ours.get_buffer("stages.0.0.grid.attn.relative_position.relative_position_index"), index)


def test_build_with_torchvision_weights_exports_an_onnx_archspec_writes_and_onnxruntime_verifies(tmp_path):
    weights = tmp_path / "maxvit.pt"
    torch.save(small_torchvision().state_dict(), weights)
    result = runner.invoke(app, ["build", "maxvit-t", *[a for s in SMALL for a in ("--set", s)], "-e", "onnx",
                                 "-w", str(weights), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "weights loaded" in result.output and "torchvision names" in result.output
    assert "onnxruntime vs torch" in result.output and "checker ok" in result.output
    assert "torch.onnx" not in result.output  # every step emitted its own nodes
    assert len(list((tmp_path / "out").glob("maxvit-t-*.onnx"))) == 1


def test_report_verify_passes_at_a_small_input():
    result = runner.invoke(app, ["report", "maxvit-t", *[a for s in SMALL for a in ("--set", s)], "--verify"])
    assert result.exit_code == 0, result.output
    assert "verified maxvit-t" in result.output and "train_saved_bytes == autograd" in result.output


@pytest.mark.parametrize(("size", "said"), [
    ("200", "stages.0.0 makes a 50x50 map, which does not divide into 7x7 windows"),
    ("300", "use an input of 224x224 or 448x448 (multiples of 7 x the network's stride 32)"),
    ("224,200", "makes a 56x50 map"),
])
def test_input_the_partitions_cannot_divide_is_a_located_error_with_the_nearest_sizes(size, said):
    result = runner.invoke(app, ["report", "maxvit-t", "-i", size])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "maxvit-t.yaml:21:" in result.stderr and "body.block.partition:" in result.stderr
    assert said in " ".join(result.stderr.split())


def test_inputs_that_are_multiples_of_the_partition_times_the_stride_plan_non_square_too():
    plan = archspec.plan(spec_path("maxvit-t"), input_size=(224, 448))
    assert plan.body[-1].out_size == (7, 14) and plan.params == 30_919_624
    grid = next(n.step for n in plan.body[-1].graph.nodes if n.name == "grid.partition")
    assert grid.window == (1, 2)  # the grid stays 7x7: its cells are 1x2


def test_head_dim_that_does_not_divide_a_width_is_refused():
    result = runner.invoke(app, ["report", "maxvit-t", "--set", "body.block.head_dim=48"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "body.block.head_dim: stages.0.0: heads of 48 channels do not divide its width 64" in result.stderr


def test_weights_start_as_torchvision_s_maxvit_initialises_them():
    """torchvision_maxvit: Conv2d and Linear weights normal(0, 0.02), biases 0; the bias tables trunc normal
    std 0.02; BN and LayerNorm 1 and 0."""
    plan = small_plan("body.widening.widths=[64, 64, 64, 64]")
    assert plan.init.preset == "torchvision_maxvit"
    state = Network(plan, seed=3).state_dict()
    for name in ("stages.0.0.mbconv.conv_a.0.weight", "stages.1.0.window.mlp.1.weight", "head.pre_logits.weight"):
        assert abs(state[name].std().item() / 0.02 - 1) < 0.1, name
    for name in ("stages.0.0.mbconv.conv_c.bias", "stages.0.0.window.attn.to_qkv.bias", "head.pre_logits.bias"):
        assert not state[name].any(), name
    table = torch.cat([t for n, t in state.items() if n.endswith("relative_position_bias_table")])
    assert abs(table.std().item() / 0.02 - 1) < 0.2 and table.abs().max() < 2
    assert (state["stages.0.0.window.norm.weight"] == 1).all() and not state["stages.0.0.window.norm.bias"].any()


def test_fx_trace_runs_the_generated_attention():
    plan = small_plan()
    net = Network(plan).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = net(x)
        traced = torch.fx.symbolic_trace(net)
        assert sum(n.target is operator.matmul for n in traced.graph.nodes) == 4 * 4  # two per attention
        assert torch.equal(traced(x), expected)
    bias = [n.step for u in plan.body for n in u.graph.nodes if isinstance(n.step, RelativePositionBias)]
    assert [b.params for b in bias] == [(2 * 2 - 1) ** 2 * (w // 32) for w in WIDTHS for _ in range(2)]
