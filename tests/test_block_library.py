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
    """timm's RepVGG stem is a RepVGG block (our stage 0); its stages are ours shifted by one; fc in head.fc."""
    if key.startswith("head.fc."):
        return "head." + key[len("head."):]
    stage, unit, rest = _stage_unit(key)
    return f"stem.{rest}" if stage == 0 else f"stages.{stage - 1}.{unit}.{rest}"


# Each of timm's GhostNet bottlenecks is a one-unit stage of ours: our stage -> timm's blocks.<i>.<j>.
GHOST_UNITS = ["0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "6.1", "6.2", "6.3", "6.4", "7.0", "8.0", "8.1", "8.2",
               "8.3", "9.0"]


def _ghostnet(key: str) -> str:
    """Stem conv/bn -> conv_stem/bn1; one-unit stages -> blocks.i.j; the last stage's pooled conv -> conv_head."""
    for ours, theirs in (("stem.conv.", "conv_stem."), ("stem.bn.", "bn1."), ("head.fc.", "classifier.")):
        if key.startswith(ours):
            return theirs + key[len(ours):]
    stage, _, rest = _stage_unit(key)
    return rest if stage == len(GHOST_UNITS) else f"blocks.{GHOST_UNITS[stage]}.{rest}"


# spec name -> (timm model, our state_dict key -> timm's)
MODELS: dict[str, tuple[str, Callable[[str], str]]] = {
    "repvgg-a2": ("repvgg_a2", _repvgg),
    "ghostnet-100": ("ghostnet_100", _ghostnet),
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
    result = CliRunner().invoke(app, ["report", "--verify", "--input-size", "64", str(spec_path(spec))])
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert "train_saved_bytes == autograd's saved tensors" in result.output


def test_no_block_specific_python():
    """The library's blocks are data: no Python module of archspec names them."""
    from conftest import ROOT

    names = re.compile(r"ghost|resnest|mixnet|repvgg", re.I)
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "archspec").rglob("*.py") if names.search(p.read_text())]
    assert found == []
