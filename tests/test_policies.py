"""Other tools' MAC counts reproduced from the Plan, checked against the tools themselves.

The tools are test dependencies (pyproject's ``test`` extra): fvcore, ptflops, thop, torchinfo.
ImageNet specs are counted at 32x32 (every rule is per element or per output position, so
the size changes the figure, not the rule); PyramidNet at its full CIFAR size, 38 layers deep.
torchvision's figure is FlopCounterMode's, which ``report --verify`` checks for every spec
(tests/test_counts.py); here it must equal the Plan's conv + linear MACs.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging

import pytest
import torch
from typer.testing import CliRunner

from archspec.api import plan, report
from archspec.cli import app
from archspec.complexity.policies import POLICIES, policy_macs
from archspec.plan.ops import Linear
from archspec.plan.steps import Attention, MatMul
from conftest import spec_path, zeros_build

runner = CliRunner()
CASES = {"cspresnet50": ["input.size=32", *(f"body.stages[{i}].block.depth=1" for i in range(1, 5))],  # LeakyReLU
         "skresnet18": ["input.size=32"],  # YAML sub-blocks: group sum and softmax, a gate of full width
         "resnet-50": ["input.size=32"], "densenet-121": ["input.size=32"], "efficientnet-b0": ["input.size=32"],
         "shufflenet-v2-x0.5": ["input.size=32"],  # channel split and shuffle: no tool counts them
         "pyramidnet": ["body.depth=38"], "resnet-20": [],  # resnet-20: the whole net at its full size
         "convnext-tiny": ["input.size=32", "body.stages[2].units=2"],  # layer norms both ways, GELU, layer scale
         "squeezenet-1.1": ["input.size=32"],  # fire modules, ceil-mode max-pools, conv-pool head, no BN
         "mobilenet-v3-small": ["input.size=32"], "mobilenet-v2": ["input.size=32"],  # hardswish, hardsigmoid, ReLU6
         "vit-b-16": ["input.size=32", "body.stages.0.units=3"],  # attention's matmuls, softmax, token LayerNorms
         "vit-b-16 sdpa": ["input.size=32", "body.stages.0.units=3", "body.block.attention=sdpa"],  # fused: no tool sees it
         # YAML blocks: a none edge (x * 0, which no tool counts), 3x3/1 average pools that count no padding
         "nas-bench-201": ["body.block.e1_0=none", "body.block.e3_1=nor_conv_1x1", "reference=null"],
         # MBConv with SE, block and grid attention with a relative position bias, Tanh pre-logits
         "maxvit-t": ["input.size=64", "body.block.partition=2", *(f"body.stages.{s}.units=1" for s in range(4))],
         "swin-t": ["input.size=32", "body.stages[2].units=2"],  # window attention: functional qkv/proj, bias gathers
         "swin-v2-t": ["input.size=32", "body.stages[2].units=2"]}  # cosine attention, the position MLP on its table


def fvcore_count(model, x) -> int:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def ptflops_count(model, x) -> int:
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False)
    return macs


def thop_count(model, x) -> int:
    from thop import profile

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = profile(copy.deepcopy(model), inputs=(x,), verbose=False)  # thop adds buffers to the model
    assert macs == int(macs)
    return int(macs)


def torchinfo_count(model, x) -> int:
    from torchinfo import summary

    return summary(model, input_data=x, verbose=0).total_mult_adds


def flopcounter_count(model, x) -> int:
    """FlopCounterMode as a user runs it by default: eval, no_grad, SDPA's default kernel; FLOPs / 2."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


TOOLS = {"flopcounter": flopcounter_count, "fvcore": fvcore_count, "ptflops": ptflops_count, "thop": thop_count,
         "torchinfo": torchinfo_count}


@pytest.fixture(scope="module", params=sorted(CASES))
def measured(request):
    """Every tool's count of one built module (built once), and the spec's Plan."""
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    name = request.param
    resolved = plan(spec_path(name.split()[0]), overrides=CASES[name])
    model = zeros_build(resolved).eval()
    x = torch.randn(1, resolved.in_channels, *resolved.input_size)
    return resolved, {tool: count(model, x) for tool, count in TOOLS.items()}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_policy_reproduces_the_tools_total(measured, tool):
    resolved, counts = measured
    assert sum(policy_macs(resolved, tool).values()) == counts[tool]


def test_policies_differ_where_the_docs_say(measured):
    """Every tool but torchvision counts more than conv + linear on these nets (BN at least), except
    torchinfo on ConvNeXt: a Linear applied at every position counts only its parameters there."""
    resolved, counts = measured
    assert sum(policy_macs(resolved, "torchvision").values()) == resolved.macs
    per_position = any(isinstance(op, Linear) and op.size != (1, 1) for u in resolved.units for op in u.ops)
    # attention's matmuls are tensor operators (``@``): module hooks (ptflops, thop) never see them
    matmuls = sum(n.step.macs for u in resolved.units if u.graph is not None for n in u.graph.nodes
                  if isinstance(n.step, MatMul))
    # a fused F.scaled_dot_product_attention call: no tool has a rule for it; nor do the module hooks see
    # layers called as functions on their module's tensors (Swin's F.linear qkv and proj, as torchvision's)
    fused = sum(n.step.macs for u in resolved.units if u.graph is not None for n in u.graph.nodes
                if isinstance(n.step, Attention))
    functional = sum(op.macs for u in resolved.units for op in u.ops if getattr(op, "functional", False))
    assert counts["fvcore"] > resolved.macs - fused
    assert all(counts[t] > resolved.macs - matmuls - fused - functional for t in ("ptflops", "thop"))
    assert (counts["torchinfo"] < resolved.macs) if per_position else (counts["torchinfo"] > resolved.macs)


def test_policy_json_names_the_tool_and_holds_its_figure():
    data = report(spec_path("resnet-20"), policy="thop")
    assert data["policy"]["name"] == "thop"
    assert data["macs"] == sum(u["macs"] for u in data["units"]) == sum(policy_macs(plan(spec_path("resnet-20")), "thop").values())
    assert data["flops"] == 2 * data["macs"]
    assert report(spec_path("resnet-20"))["policy"]["name"] == "archspec"


def test_policy_cli():
    result = runner.invoke(app, ["report", str(spec_path("resnet-20")), "--policy", "fvcore", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["policy"]["name"] == "fvcore"
    table = runner.invoke(app, ["report", str(spec_path("resnet-20")), "--policy", "ptflops"])
    assert "ptflops's count" in table.stdout and "MACs as ptflops counts them" in table.stdout
    assert runner.invoke(app, ["report", str(spec_path("resnet-20")), "--policy", "flops"]).exit_code == 2
    both = runner.invoke(app, ["report", str(spec_path("googlenet")), "--policy", "thop", "--aux"])
    assert both.exit_code == 2 and "--aux" in both.stderr and "Traceback" not in both.output


def test_every_policy_is_documented():
    docs = (spec_path("resnet-20").parents[1] / "docs" / "report.md").read_text()
    assert all(f"`{name}`" in docs for name in POLICIES)
