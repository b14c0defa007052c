"""Analytic counts == what PyTorch measures, for every bundled spec; golden figures.

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

SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.yaml"))

# ../shared/REFERENCES.md, ImageNet table: torchvision's exact params and MACs.
TORCHVISION = {
    "resnet-18": ("resnet18", 11_689_512, 1_814_073_344),
    "resnet-50": ("resnet50", 25_557_032, 4_089_184_256),
    "resnext-50-32x4d": ("resnext50_32x4d", 25_028_904, 4_230_479_872),
    "wide-resnet-50-2": ("wide_resnet50_2", 68_883_240, 11_398_021_120),
}

# ../shared/REFERENCES.md, CIFAR-10 table, by spec file: exact params, MACs in millions as printed.
CIFAR = {
    "resnet-20": (269_722, 40.55),
    "resnet-56": (853_018, 125.49),
    "resnet-110": (1_727_962, 252.89),
    "resnet-56-b": (855_770, None),
    "preact-resnet-164": (1_703_258, 244.50),
    "wrn-28-10": (36_479_194, 5243.33),
    "wrn-16-4": (2_748_890, 392.61),
    "pyramidnet": (1_772_706, 403.81),  # pyramidnet-110-a48
    "pyramidnet-110-a270": (28_485_477, 4717.98),
    "pyramidnet-272-a200": (26_210_842, 4488.78),
    "resnext-29-8x64d": (34_426_698, 5387.27),
}


def measured(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """(params, MACs) of a module on the meta device, by PyTorch's own counters."""
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


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_bundled_spec_counts_exactly(path: Path) -> None:
    """Per unit and in total: params == sum(p.numel()), 2 x MACs == FlopCounterMode."""
    assert verify(archspec.plan(path)) == []


def test_verify_measures_what_pytorch_measures() -> None:
    """``verify``'s totals are the plain module-level counts, computed here independently."""
    plan = archspec.plan(Path(__file__).parent.parent / "specs" / "resnet-56-b.yaml")
    total = measure(plan)[-1]
    assert (total.params, total.macs) == network_counts(plan) == (plan.params, plan.macs)


@pytest.mark.parametrize("spec", sorted(TORCHVISION))
def test_imagenet_specs_equal_torchvision(spec: str) -> None:
    torchvision = pytest.importorskip("torchvision")  # a declared test dependency; see pyproject
    name, params, macs = TORCHVISION[spec]
    report = archspec.report(Path(__file__).parent.parent / "specs" / f"{spec}.yaml")
    assert (report["params"], report["macs"]) == (params, macs)
    with torch.device("meta"):
        model = getattr(torchvision.models, name)()
    assert measured(model, (1, 3, 224, 224)) == (params, macs)


@pytest.mark.parametrize("spec", sorted(CIFAR))
def test_cifar_specs_match_the_reference_table(spec: str) -> None:
    params, macs_m = CIFAR[spec]
    plan = archspec.plan(Path(__file__).parent.parent / "specs" / f"{spec}.yaml")
    assert plan.params == params
    if macs_m is not None:
        assert round(plan.macs / 1e6, 2) == macs_m


@pytest.mark.parametrize(
    ("spec", "sizes"),
    [("resnet-18.yaml", [(160, 160), (320, 256)]), ("resnet-20.yaml", [(64, 64), (48, 40)])],
)
def test_macs_follow_the_input_size(spec: str, sizes: list[tuple[int, int]]) -> None:
    """At each resolution the analytic MACs equal FlopCounterMode's at that resolution."""
    path = Path(__file__).parent.parent / "specs" / spec
    for size in sizes:
        plan = archspec.plan(path, input_size=size)
        assert plan.input_size == size
        assert verify(plan) == []


def test_doubling_the_resolution_quadruples_the_conv_macs() -> None:
    """Every conv's MACs scale with its output area; only the classifier's stay fixed."""
    path = Path(__file__).parent.parent / "specs" / "resnet-50.yaml"
    small, large = archspec.report(path, 224), archspec.report(path, 448)
    fc = small["units"][-1]["macs"]
    assert large["units"][-1]["macs"] == fc
    assert large["macs"] - fc == 4 * (small["macs"] - fc)
    assert large["params"] == small["params"]
    assert [u["out_size"] for u in large["units"][:-1]] == [[2 * h, 2 * w] for h, w in
                                                            (u["out_size"] for u in small["units"][:-1])]
