"""The Swin Transformer and Swin V2: torchvision's layout as step graphs, window attention counted step by step.

Params and MACs of all six bundled Swins against torchvision's own modules are in
tests/test_references.py (FlopCounterMode, on the meta device); here: what the window attention
counts, what it saves (against autograd, and against torchvision's own module), weights and outputs
against torchvision, the buffers, the exports, timm's Swin-T, and the input sizes a Swin refuses.
Small inputs (64x64: padded windows, shifted windows with and without padding) and fewer blocks
keep it fast.
"""

from __future__ import annotations

import math
import operator

import pytest
import torch
from torchvision.models import swin_t, swin_v2_t
from typer.testing import CliRunner

import archspec
from archspec.blocks.network import Network
from archspec.cli import app
from archspec.complexity.measure import measure_saved
from archspec.complexity.memory import memory
from archspec.complexity.verify import verify, verify_memory, verify_peak
from archspec.convert import from_torchvision
from archspec.plan.window_steps import WindowBuffer, WindowMatMul
from conftest import meta_device, spec_path
from test_families import meta_counts

runner = CliRunner()
SMALL = ["input.size=64", "body.stages[2].units=2"]
NARROW = [*SMALL, "stem.width=24", "body.widening.widths=[24,48,96,192]"]  # 8 channels per head: exports and traces
TORCHVISION = {"swin-t": swin_t, "swin-v2-t": swin_v2_t}


def random_torchvision(name: str) -> torch.nn.Module:
    """torchvision's Swin-T or Swin V2-T, every tensor random: V2's k bias too (its forward zeroes it)."""
    torch.manual_seed(0)
    model = TORCHVISION[name]().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02 if p.dim() > 1 else 0.1)
    return model


def test_window_attention_matmuls_are_counted_steps_of_nw_n2_c_macs_per_block():
    plan = archspec.plan(spec_path("swin-t"))
    n = 49
    for unit in plan.body:
        (h, w), c = unit.out_size, unit.out_channels
        windows = math.ceil(h / 7) * math.ceil(w / 7)
        matmuls = [node.step for node in unit.graph.nodes if isinstance(node.step, WindowMatMul)]
        assert [m.macs for m in matmuls] == [windows * n * n * c] * 2
        merging = h * w * 4 * (c // 2) * c if unit.stride == 2 else 0
        linears = windows * n * 4 * c * c + h * w * 8 * c * c  # qkv and proj over the windows; the MLP
        assert unit.macs == merging + linears + 2 * windows * n * n * c
    assert (plan.params, plan.macs) == (28_288_354, 4_490_566_656)  # torchvision's Weights.meta: 28288354, 4.491


@pytest.mark.parametrize("name", ["swin-t", "swin-s", "swin-b", "swin-v2-t", "swin-v2-s", "swin-v2-b"])
def test_counts_are_torchvision_s_weights_meta_at_its_printed_precision(name):
    """num_params exactly; GFLOPS (torchvision's ``_ops``, MACs in G) to the decimals it prints (4.491, 5.94)."""
    from torchvision.models import get_model_weights

    plan = archspec.plan(spec_path(name))
    meta = get_model_weights(archspec.load(spec_path(name)).reference.torchvision).DEFAULT.meta
    printed = repr(meta["_ops"])
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    assert plan.params == meta["num_params"]
    assert round(plan.macs / 1e9, decimals) == meta["_ops"]


def test_swin_v2_position_mlp_is_counted_once_per_forward():
    """V2's cpb_mlp runs on the (2W-1)^2 table whatever the batch: 225 x (2 x 512 + 512 x heads) MACs per block."""
    plan = archspec.plan(spec_path("swin-v2-t"))
    unit = plan.unit("stages.0.0")
    cpb = [op for op in unit.ops if op.path.startswith("attn.cpb_mlp")]
    assert [op.macs for op in cpb] == [225 * 2 * 512, 225 * 512 * 3]
    assert unit.op("attn.logit_scale").params == 3
    assert (plan.params, plan.macs) == (28_351_570, 5_939_690_496)  # torchvision's Weights.meta: 5.94 GFLOPS


@pytest.mark.parametrize("name", ["swin-t", "swin-v2-t"])
def test_counts_and_saved_bytes_equal_torch_at_a_small_input(name):
    """Per unit: params == sum(numel), 2 x MACs == FlopCounterMode, train-saved bytes == autograd's at batch 1
    and 3, the inference peak as traced."""
    plan = archspec.plan(spec_path(name), overrides=SMALL)
    assert verify(plan) == [] and verify_memory(plan) == [] and verify_memory(plan, batch=3) == []
    assert verify_peak(plan) == []


def test_a_block_saves_what_its_steps_say():
    """stages.0.0 of swin-t at 64x64: a 16x16x96 map in 9 padded 7x7 windows (N = 49), 3 heads, no shift and no
    drop path (the first unit)."""
    plan = archspec.plan(spec_path("swin-t"), input_size=64)
    hw, c, windows, n, heads, hidden = 16 * 16, 96, 9, 49, 3, 384
    tokens = windows * n * c  # a windowed tensor
    # norm1 input + stats, qkv input (the windows, a copy), the scaled q and k^T copies bmm keeps, softmax output,
    # the v copy, proj input (heads merged), norm2 input + stats, mlp.0 input, GELU input, mlp.3 input
    expected = (hw * c + 2 * hw) + tokens + 2 * tokens + windows * heads * n * n + tokens + tokens \
        + (hw * c + 2 * hw) + hw * c + 2 * hw * hidden
    assert memory(plan).units["stages.0.0"].train_saved_bytes == 4 * expected


@pytest.mark.parametrize("name", ["swin-t", "swin-v2-t"])
def test_saved_bytes_equal_torchvision_s_own_module(name):
    """The explicit copies of q, k and v are the ones torch's matmul makes inside torchvision's forward."""
    theirs = random_torchvision(name)
    units = [n for n, _ in theirs.named_modules() if n.count(".") == 1 and n.startswith("features")] + ["norm", "head"]
    x = torch.randn(2, 3, 64, 64)
    measured = sum(measure_saved(theirs, units, x).by_unit().values())
    assert memory(archspec.plan(spec_path(name), input_size=64), batch=2).train_saved_bytes == measured > 0


@pytest.mark.parametrize("name", ["swin-t", "swin-v2-t"])
@pytest.mark.parametrize("size", [(64, 64), (96, 36)])  # 96x36: odd maps merged, shifted along one side only
def test_torchvision_weights_give_torchvision_s_outputs(name, size):
    theirs = random_torchvision(name)
    plan = archspec.plan(spec_path(name), input_size=size)
    ours = Network(plan, initialised=False)
    ours.load_state_dict(from_torchvision(theirs.state_dict(), plan), strict=True)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        expected, got = theirs(x), ours.eval()(x)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_a_side_one_window_covers_is_not_shifted():
    """torchvision drops the shift per axis where the padded map is one window: a 12x5 map, 7x7 windows."""
    plan = archspec.plan(spec_path("swin-t"), input_size=(96, 36))
    assert [u.options.shift for u in plan.stages[1].units] == [(0, 0), (3, 0)]


def test_buffers_are_torchvision_s():
    """The relative position index, V2's log-spaced coordinates and the shift mask as torchvision computes them."""
    theirs = swin_v2_t().features[1][1].attn
    plan = archspec.plan(spec_path("swin-v2-t"), input_size=64)
    unit = plan.unit("stages.0.1")
    steps = {node.name: node.step for node in unit.graph.nodes if isinstance(node.step, WindowBuffer)}
    values = {name: torch.tensor(step.buffer()[0]).view(step.shape) for name, step in steps.items()}
    assert torch.equal(values["attn.relative_position_index"], theirs.relative_position_index)
    torch.testing.assert_close(values["attn.relative_coords_table"], theirs.relative_coords_table, rtol=0, atol=1e-6)
    mask = values["attn.mask"]  # 16x16 map, 8x8 windows shifted by 4: 4 windows, 3 regions in the last row/column
    assert mask.shape == (1, 4, 1, 64, 64) and not mask[0, 0].any() and set(mask.unique().tolist()) == {-100.0, 0.0}
    assert (mask[0, 3] == 0).float().mean().item() == pytest.approx((4 * 16 * 16) / (64 * 64))


def test_weights_start_as_torchvision_s_swin_initialises_them():
    """torchvision_swin: every Linear trunc_normal(0.02) (cut at +-2, torch's default) with bias 0, the patch conv
    torch's default, the bias table trunc_normal(0.02), V2's logit scale log(10)."""
    plan = archspec.plan(spec_path("swin-v2-t"), overrides=SMALL)
    assert plan.init.preset == "torchvision_swin"
    state = Network(plan, seed=3).state_dict()
    qkv = state["stages.1.0.attn.qkv.weight"]
    assert abs(qkv.std().item() / 0.02 - 1) < 0.05 and not state["stages.1.0.attn.qkv.bias"].any()
    assert torch.equal(state["stages.0.0.attn.logit_scale"], torch.full((3, 1, 1), math.log(10)))
    v1 = Network(archspec.plan(spec_path("swin-t"), overrides=SMALL), seed=3).state_dict()
    table = v1["stages.0.0.attn.relative_position_bias_table"]
    assert table.shape == (169, 3) and abs(table.std().item() / 0.02 - 1) < 0.15
    conv = v1["stem.proj.weight"]
    bound = 1 / math.sqrt(3 * 4 * 4)
    assert conv.abs().max() <= bound and conv.abs().max() > 0.95 * bound


def test_build_exports_an_onnx_written_by_archspec_and_verified(tmp_path):
    result = runner.invoke(app, ["build", "swin-t", *[a for s in NARROW for a in ("--set", s)], "-e", "onnx",
                                 "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "onnxruntime vs torch" in result.output and "checker ok" in result.output
    assert "torch.onnx" not in result.output  # archspec's writer emitted every step
    assert len(list(tmp_path.glob("swin-t-*.onnx"))) == 1


def test_build_with_torchvision_weights_exports_a_verified_onnx(tmp_path):
    weights = tmp_path / "swin_v2_t.pt"
    torch.save(random_torchvision("swin-v2-t").state_dict(), weights)
    result = runner.invoke(app, ["build", "swin-v2-t", "--set", "input.size=64", "-e", "onnx", "-w", str(weights),
                                 "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "onnxruntime vs torch" in result.output and "checker ok" in result.output
    assert "torch.onnx" not in result.output
    assert len(list((tmp_path / "out").glob("swin-v2-t-*.onnx"))) == 1


def test_report_verify_passes_at_a_small_input():
    result = runner.invoke(app, ["report", "swin-v2-t", *[a for s in SMALL for a in ("--set", s)], "--verify"])
    assert result.exit_code == 0, result.output
    assert "verified swin-v2-t" in result.output and "train_saved_bytes == autograd" in result.output


def test_input_not_divisible_by_the_patch_is_a_located_error_with_the_nearest_sizes():
    result = runner.invoke(app, ["report", "swin-t", "-i", "30"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "swin-t.yaml:13:" in result.stderr and "stem.patch" in result.stderr
    assert "use an input of 28x28 or 32x32 (multiples of 4)" in result.stderr
    wide = runner.invoke(app, ["report", "swin-t", "-i", "224,222"])
    assert wide.exit_code == 2 and "224x220 or 224x224" in wide.stderr
    tiny = runner.invoke(app, ["report", "swin-t", "-i", "2"])
    assert tiny.exit_code == 2 and "use an input of 4x4" in tiny.stderr


def test_heads_that_do_not_divide_a_stage_s_width_are_refused():
    result = runner.invoke(app, ["report", "swin-t", "--set", "body.stages[1].block.heads=5"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "5 heads do not divide the width 192 of unit stages.1.0; use 4 or 6" in " ".join(result.stderr.split())


def test_timm_swin_tiny_is_swin_t():
    """timm 1.0.31's swin_tiny_patch4_window7_224 (its attention counted under SDPA's math kernel)."""
    import timm

    with meta_device():
        theirs = meta_counts(timm.create_model("swin_tiny_patch4_window7_224", pretrained=False), (3, 224, 224))
    plan = archspec.plan(spec_path("swin-t"))
    assert (plan.params, plan.macs) == theirs


def test_fx_trace_and_torch_export_run_the_generated_window_attention():
    plan = archspec.plan(spec_path("swin-v2-t"), overrides=[*NARROW, *(f"body.stages[{i}].units=1" for i in (1, 2, 3))])
    net = Network(plan).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = net(x)
        traced = torch.fx.symbolic_trace(net)
        assert any(n.target is operator.matmul for n in traced.graph.nodes)  # the attention's matmuls, as steps
        assert any(n.target is torch.roll for n in traced.graph.nodes)  # the cyclic shift
        assert torch.equal(traced(x), expected)
        exported = torch.export.export(net, (x,))
        torch.testing.assert_close(exported.module()(x), expected)


def test_expand_and_the_module_graph_diagram(tmp_path):
    expanded = runner.invoke(app, ["expand", "swin-v2-t"])
    assert expanded.exit_code == 0 and "version: 2" in expanded.stdout and "window: 8" in expanded.stdout
    out = tmp_path / "swin.svg"
    drawn = runner.invoke(app, ["diagram", "swin-t", "--graph", "-o", str(out)])
    assert drawn.exit_code == 0, drawn.output
    assert "q @ k^T" in out.read_text() and "shift mask" in out.read_text()


def test_report_says_how_window_attention_is_counted():
    result = runner.invoke(app, ["report", "swin-t"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    assert "Window attention (Swin): T is a window's W x W tokens" in said and "(ptflops, thop, torchinfo)" in said
    vit = runner.invoke(app, ["report", "vit-b-32"])
    assert "Window attention" not in vit.stdout


@pytest.mark.parametrize(("sets", "words"), [
    (["stem.width=64"], "unit stages.0.0 widens 64 to 96 without patch merging: only the first unit of a stride-2 "
                        "stage changes the width; the stem's `width` (64) is the first stage's: make them equal"),
    (["body.stages[1].stride=1"], "body.stages[1].block: unit stages.1.0 widens 96 to 192 without patch merging"),
    (["body.block.mlp_ratio=0.001"], "body.block.mlp_ratio: an MLP ratio of 0.001 leaves unit stages.0.0's MLP no "
                                     "hidden unit"),
])
def test_layouts_swin_cannot_compute_are_located_errors(sets, words):
    result = runner.invoke(app, ["report", "swin-t", *[a for s in sets for a in ("--set", s)]])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert words in " ".join(result.stderr.split())
