"""``fit``: one numeric field to a params or MACs target, checked against brute force on every bundled spec."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from archspec.space import Counter, Unresolved, fit, with_changes
from archspec.space.load import value_at
from archspec.spec import SpecError, load
from archspec.spec.compose import override_path
from archspec.plan.expand import spec_hash
from conftest import ROOT, SPECS

BUNDLED = sorted(p.stem for p in SPECS.glob("*.yaml"))
FIELDS = ("body.widening.alpha", "body.widening.k", "body.block.growth", "scaling.width_mult", "body.block.mlp_dim",
          "body.block.mlp_ratio", "stem.width", "classes")  # a ViT: mlp_dim (stem.width takes multiples of the heads
# only, see test_vit.py); a Swin: mlp_ratio (its stem.width is the first stage's, which its widening rule writes)


# fit assumes counts grow with the field (space/fit.py). MobileNetV3's stem.width does not: its
# first bneck row has an expand conv only where the stem's width differs from the row's expanded
# width, so its counts drop at the written width. Its bundled specs round the stem width under
# `scaling` (to a multiple of 8), and fit varies scaling.width_mult, torchvision's width_mult.
# GhostNet's stem.width is not monotone either: its first bottleneck's shortcut is the identity only where
# the stem's width equals the unit's (16), and a depthwise conv-BN and a 1x1 conv-BN elsewhere.
NOT_MONOTONE = {"ghostnet-100": "stem.width"}


def field_of(spec) -> str:
    """The first numeric field of the spec that a user would fit (a widening, growth, scaling, stem width...)."""
    for path in FIELDS:
        if NOT_MONOTONE.get(spec.name) == path:
            continue
        if isinstance(value_at(spec, override_path(path)), (int, float)):
            return path
    raise AssertionError("no numeric field")


@pytest.mark.parametrize("name", ["mobilenet-v3-large", "mobilenet-v3-small"])
def test_mobilenet_v3_s_stem_width_is_not_monotone_and_not_what_fit_varies(name):
    spec = load(SPECS / f"{name}.yaml", ["scaling=null"])
    table = counts(spec, "stem.width", [15, 16, 17], Counter())
    assert table[16][0] < min(table[15][0], table[17][0])
    assert field_of(load(SPECS / f"{name}.yaml")) == "scaling.width_mult"


def test_ghostnet_s_stem_width_is_not_monotone_and_not_what_fit_varies():
    spec = load(SPECS / "ghostnet-100.yaml")
    table = counts(spec, "stem.width", [15, 16, 17], Counter())
    assert table[16][0] < min(table[15][0], table[17][0])
    assert field_of(spec) == "classes"


def counts(spec, path: str, values, counter: Counter) -> dict:
    """Brute force: the counts at each value that resolves."""
    out = {}
    for value in values:
        try:
            counted = counter.count(with_changes(spec, [(override_path(path), value)]))
        except Unresolved:
            continue
        out[value] = (counted.params, counted.macs)
    return out


@pytest.mark.parametrize("name", BUNDLED)
def test_fit_agrees_with_brute_force(name):
    spec = load(SPECS / f"{name}.yaml")
    path = field_of(spec)
    start = value_at(spec, override_path(path))
    counter = Counter()
    if isinstance(start, int):
        values = list(range(max(1, start - 3), start + 4))
    else:
        values = [round(start * (0.9 + 0.02 * i), 6) for i in range(11)]
    table = counts(spec, path, values, counter)
    assert len(table) >= 3, table
    for metric, column in (("params", 0), ("macs", 1)):
        ordered = sorted(table.items())
        (x0, c0), (x1, c1) = ordered[1], ordered[2]
        if c0[column] == c1[column]:
            continue  # this field does not move this count here (e.g. MACs of `classes`)
        target = (c0[column] + c1[column]) // 2 + 1  # strictly between two neighbours
        result = fit(spec, path, **{metric: target})
        below, above = result.below, result.above
        assert getattr(below, metric) < target < getattr(above, metric)
        if isinstance(start, int):  # whole numbers: the two neighbours around the target, exactly
            lo, hi = (x0, x1) if c0[column] < c1[column] else (x1, x0)
            assert (below.value, above.value) == (lo, hi)
            assert (below.params, below.macs) == table[lo] and (above.params, above.macs) == table[hi]
        else:  # reals: no value brute force tried lands strictly between the two sides
            between = [x for x, c in table.items() if getattr(below, metric) < c[column] < getattr(above, metric)]
            assert not between, between
        closer = min((below, above), key=lambda p: (abs(getattr(p, metric) - target), p is above))
        assert result.value == closer.value and (result.params, result.macs) == (closer.params, closer.macs)


def test_fit_pyramidnet_272_bottleneck_to_1_7m_params():
    result = fit(SPECS / "pyramidnet-272-a200.yaml", "body.widening.alpha", params=1_700_000)
    assert result.below.params < 1_700_000 < result.above.params
    assert result.spec.body.widening.alpha == result.value
    assert (result.params, result.macs) == (result.below.params, result.below.macs) or \
        (result.params, result.macs) == (result.above.params, result.above.macs)


def test_fit_hits_an_exact_target_exactly():
    spec = load(SPECS / "wrn-28-10.yaml")
    exact = Counter().count(with_changes(spec, [(("body", "widening", "k"), 8)])).params
    result = fit(spec, "body.widening.k", params=exact)
    assert (result.value, result.params, result.below, result.above) == (8, exact, None, None)


@pytest.mark.parametrize("path, target, message", [
    ("body.block.type", {"params": 10**6}, "`basic` is not a number"),
    ("head.dropout", {"params": 10**6}, "does not change the params"),
    ("body.widening.k", {"params": 1000}, "out of reach"),
    ("body.depth", {"macs": 1}, "out of reach"),
    ("body.widening.kk", {"params": 10**6}, "unknown field `kk`; did you mean `k`?"),
    ("body.stages[7].units", {"params": 10**6}, "there is no body.stages[7]"),
])
def test_fit_refuses_what_it_cannot_do_at_the_field(path, target, message):
    with pytest.raises(SpecError) as caught:
        fit(SPECS / "resnet-56.yaml", path, **target)
    problem = caught.value.problems[0]
    assert message in problem.message and problem.path == path
    assert problem.file.endswith("resnet-56.yaml")


def test_fit_cli_prints_json_and_writes_the_fitted_spec(tmp_path):
    out = tmp_path / "fitted.yaml"
    run = subprocess.run([sys.executable, "-m", "archspec", "fit", str(SPECS / "pyramidnet-110-mult.yaml"), "--vary",
                          "body.widening.alpha", "--params", "1.7M", "--format", "json", "-o", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) >= {"path", "value", "params", "macs", "target", "below", "above"}
    assert data["target"] == 1_700_000 and data["below"]["params"] < 1_700_000 < data["above"]["params"]
    fitted = load(out)
    assert fitted.body.widening.alpha == data["value"] and spec_hash(fitted) == data["sha256"]
    bad = subprocess.run([sys.executable, "-m", "archspec", "fit", str(SPECS / "resnet-56.yaml"), "--vary",
                          "body.block.type", "--params", "1M", "-o", str(tmp_path / "no.yaml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "resnet-56.yaml:" in bad.stderr and "not a number" in bad.stderr
    assert not (tmp_path / "no.yaml").exists() and "Traceback" not in bad.stderr
