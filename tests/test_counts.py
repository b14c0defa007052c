"""Analytic counts == what PyTorch measures: every bundled spec, unit by unit; torchvision; input sizes.

Modules are built on the ``meta`` device: no weights, no arithmetic, so even the
100M-parameter nets take well under a second each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec.blocks.network import Network
from archspec.complexity.verify import measure, verify
from conftest import SPECS, spec_path

ALL_SPECS = sorted(SPECS.glob("*.yaml"))

# The ImageNet specs and the torchvision models they reproduce (test_golden.py holds the
# REFERENCES.md figures; here the report is checked against torchvision's modules themselves).
TORCHVISION = {
    "resnet-18": "resnet18",
    "resnet-50": "resnet50",
    "resnext-50-32x4d": "resnext50_32x4d",
    "wide-resnet-50-2": "wide_resnet50_2",
}


def measured(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """(params, MACs) by PyTorch's own counters, on the meta device (conftest.measure runs on CPU)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.empty(shape, device="meta"))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return sum(p.numel() for p in model.parameters()), flops // 2


def network_counts(plan: archspec.Plan) -> tuple[int, int]:
    with torch.device("meta"):
        model = Network(plan)
    return measured(model, (1, plan.in_channels, *plan.input_size))


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.stem)
def test_every_bundled_spec_counts_exactly(path: Path) -> None:
    """Per unit and in total: params == sum(p.numel()), 2 x MACs == FlopCounterMode."""
    assert verify(archspec.plan(path)) == []


def test_verify_measures_what_pytorch_measures() -> None:
    """``verify``'s totals are the plain module-level counts, computed here independently."""
    plan = archspec.plan(spec_path("resnet-56-b"))
    total = measure(plan)[-1]
    assert (total.params, total.macs) == network_counts(plan) == (plan.params, plan.macs)


@pytest.mark.parametrize("spec", sorted(TORCHVISION))
def test_imagenet_reports_equal_torchvision_models(spec: str) -> None:
    import torchvision  # a declared test dependency (pyproject's test extra)

    report = archspec.report(spec_path(spec))
    with torch.device("meta"):
        model = getattr(torchvision.models, TORCHVISION[spec])()
    assert measured(model, (1, 3, 224, 224)) == (report["params"], report["macs"])


@pytest.mark.parametrize(
    ("spec", "sizes"), [("resnet-18", [(160, 160), (320, 256)]), ("resnet-20", [(64, 64), (48, 40)])]
)
def test_macs_follow_the_input_size(spec: str, sizes: list[tuple[int, int]]) -> None:
    """At each resolution the analytic MACs equal FlopCounterMode's at that resolution."""
    path = spec_path(spec)
    for size in sizes:
        plan = archspec.plan(path, input_size=size)
        assert plan.input_size == size
        assert verify(plan) == []


def test_doubling_the_resolution_quadruples_the_conv_macs() -> None:
    """Every conv's MACs scale with its output area; only the classifier's stay fixed."""
    path = spec_path("resnet-50")
    small, large = archspec.report(path, 224), archspec.report(path, 448)
    fc = small["units"][-1]["macs"]
    assert large["units"][-1]["macs"] == fc
    assert large["macs"] - fc == 4 * (small["macs"] - fc)
    assert large["params"] == small["params"]
    assert [u["out_size"] for u in large["units"][:-1]] == [[2 * h, 2 * w] for h, w in
                                                            (u["out_size"] for u in small["units"][:-1])]


def test_googlenet_with_aux_heads_equals_torchvision_in_training() -> None:
    """``report --aux`` == torchvision's googlenet(aux_logits=True) and our aux build, both run in train mode
    (where the aux classifiers run): 13,004,888 params, FlopCounterMode's MACs."""
    import torchvision

    def training_counts(model: torch.nn.Module) -> tuple[int, int]:
        counter = FlopCounterMode(display=False)
        with counter:
            model.train()(torch.empty(1, 3, 224, 224, device="meta"))
        return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2

    report = archspec.report(spec_path("googlenet"), aux=True)
    with torch.device("meta"):
        reference = torchvision.models.googlenet(aux_logits=True, init_weights=False)
        ours = archspec.build(spec_path("googlenet"), aux=True)
    assert training_counts(reference) == training_counts(ours) == (report["params"], report["macs"])
    assert report["params"] == 13_004_888  # torchvision's figure with the aux classifiers
