"""Every bundled residual spec: exact reference params, analytic == measured, traces, runs."""

from __future__ import annotations

import pytest
import torch
import torch.fx

import archspec
from conftest import measure, spec_path

# Exact figures from ../shared/REFERENCES.md (papers' reference implementations, torchvision).
REFERENCE_PARAMS = {
    "resnet-20": 269_722,
    "resnet-56": 853_018,
    "resnet-110": 1_727_962,
    "resnet-56-b": 855_770,
    "preact-resnet-164": 1_703_258,
    "wrn-28-10": 36_479_194,
    "wrn-16-4": 2_748_890,
    "pyramidnet": 1_772_706,
    "pyramidnet-110-a270": 28_485_477,
    "pyramidnet-272-a200": 26_210_842,
    "resnext-29-8x64d": 34_426_698,
    "resnet-18": 11_689_512,
    "resnet-50": 25_557_032,
    "resnext-50-32x4d": 25_028_904,
    "wide-resnet-50-2": 68_883_240,
}
# MACs: exact where REFERENCES gives them exactly (torchvision), else to its 0.01M rounding.
REFERENCE_MACS = {
    "resnet-18": 1_814_073_344,
    "resnet-50": 4_089_184_256,
    "resnext-50-32x4d": 4_230_479_872,
    "wide-resnet-50-2": 11_398_021_120,
}
REFERENCE_MMACS = {
    "resnet-20": 40.55,
    "resnet-56": 125.49,
    "resnet-110": 252.89,
    "preact-resnet-164": 244.50,
    "wrn-28-10": 5243.33,
    "wrn-16-4": 392.61,
    "pyramidnet": 403.81,
    "pyramidnet-110-a270": 4717.98,
    "pyramidnet-272-a200": 4488.78,
    "resnext-29-8x64d": 5387.27,
}
ALL = sorted(REFERENCE_PARAMS) + ["pyramidnet-110-mult", "se-resnet-50"]


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS))
def test_reference_params(name):
    assert archspec.plan(spec_path(name)).params == REFERENCE_PARAMS[name]


@pytest.mark.parametrize("name", sorted(REFERENCE_MACS))
def test_reference_macs_exact(name):
    assert archspec.plan(spec_path(name)).macs == REFERENCE_MACS[name]


@pytest.mark.parametrize("name", sorted(REFERENCE_MMACS))
def test_reference_macs_rounded(name):
    assert round(archspec.plan(spec_path(name)).macs / 1e6, 2) == REFERENCE_MMACS[name]


@pytest.mark.parametrize("name", ALL)
def test_analytic_counts_equal_measured(name):
    plan = archspec.plan(spec_path(name))
    model = archspec.build(spec_path(name))
    params, macs = measure(model, (plan.in_channels, *plan.input_size))
    assert (params, macs) == (plan.params, plan.macs)


@pytest.mark.parametrize("name", ALL)
def test_traces_and_runs(name):
    plan = archspec.plan(spec_path(name))
    model = archspec.build(spec_path(name)).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, plan.in_channels, *plan.input_size)
    with torch.no_grad():
        out = traced(x)
        torch.testing.assert_close(out, model(x))
    assert out.shape == (2, plan.classes)
    assert torch.isfinite(out).all()


def test_se_adds_about_2_5m_params_to_resnet50():
    extra = archspec.plan(spec_path("se-resnet-50")).params - archspec.plan(spec_path("resnet-50")).params
    assert 2_400_000 < extra < 2_600_000


def test_stride_on_first_1x1_is_the_paper_layout():
    """Same params, fewer MACs: the v1 paper layout gives ResNet-50 3.858 GMACs."""
    v15 = archspec.plan(spec_path("resnet-50"))
    v1 = archspec.plan(spec_path("resnet-50"), overrides=["body.block.stride_on=1x1"])
    assert v1.params == v15.params
    assert round(v1.macs / 1e9, 3) == 3.858
