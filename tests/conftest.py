"""Shared helpers: the bundled specs and measuring a built module the way users would."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def spec_path(name: str) -> Path:
    return SPECS / f"{name}.yaml"


def measure(model, input_shape) -> tuple[int, int]:
    """(params, MACs) of a module as PyTorch itself counts them: numel and FlopCounterMode / 2."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, *input_shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return params, flops // 2


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text to a spec file in a temporary directory and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write



def zeros_build(plan):
    """A plan's module on CPU, all zeros, without He initialisation (shape-only measurements)."""
    from archspec.complexity.measure import zeros_module

    return zeros_module(plan)
