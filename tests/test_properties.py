"""Property tests: random valid specs build, trace, run and count exactly; random mutations fail cleanly."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec.spec import SpecError, load_text
from archspec.spec.errors import dotted

import torch
import torch.fx
from torch.utils.flop_counter import FlopCounterMode

from archspec.blocks.network import Network

@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions are dominated by thread start-up on a busy 2-core machine: run them on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PREACT = {"preact_basic", "preact_bottleneck"}
POLICIES = ["zero_pad", "avgpool_zero_pad", "projection", "preact_projection", "avgpool_projection", "projection_all"]


def block_options(draw: Any, kind: str) -> dict:
    block: dict[str, Any] = {"type": kind}
    if kind in ("basic", "preact_basic"):
        block["groups"] = draw(st.sampled_from([1, 1, 2, 4]))
    if kind in ("bottleneck", "preact_bottleneck"):
        block |= {"groups": draw(st.sampled_from([1, 2])), "base_width": draw(st.sampled_from([16, 32, 64])),
                  "expansion": draw(st.sampled_from([1, 2, 4])), "stride_on": draw(st.sampled_from(["1x1", "3x3"]))}
    if kind == "pyramid_bottleneck":
        block["expansion"] = draw(st.sampled_from([1, 2, 4]))
    if draw(st.booleans()):
        block["se"] = {"reduction": draw(st.sampled_from([2, 4]))}
    block["dropout"] = draw(st.sampled_from([0.0, 0.2]))
    block["drop_path"] = draw(st.sampled_from([0.0, 0.1]))
    if kind not in PREACT:
        block["zero_init_last_bn"] = draw(st.booleans())
    return block


def widening(draw: Any, counts: list[int], multiple: int) -> dict:
    """A widening rule; with grouped convolutions, widths stay multiples of the group count."""
    rules = ["step_doubling", "explicit"] + (["additive", "multiplicative"] if multiple == 1 else [])
    rule = draw(st.sampled_from(rules))
    if rule == "step_doubling":
        return {"rule": rule, "base": draw(st.sampled_from([4, 8])), "k": draw(st.sampled_from([1, 2]))}
    if rule == "additive":
        return {"rule": rule, "alpha": draw(st.sampled_from([0, 6, 12.5, 24]))}
    if rule == "multiplicative":
        return {"rule": rule, "alpha": draw(st.sampled_from([1.0, 1.5, 3.0]))}
    width = st.integers(1, 4).map(lambda w: w * 4)
    per_unit = draw(st.booleans())
    return {"rule": rule, "widths": [draw(st.lists(width, min_size=n, max_size=n)) if per_unit else draw(width)
                                     for n in counts]}


@st.composite
def valid_specs(draw: Any) -> dict:
    """Small specs over every residual block type, widening rule and shortcut policy."""
    counts = draw(st.lists(st.integers(1, 2), min_size=1, max_size=3))
    kind = draw(st.sampled_from(["basic", "bottleneck", "preact_basic", "preact_bottleneck", "pyramid",
                                 "pyramid_bottleneck"]))
    block = block_options(draw, kind)
    if draw(st.booleans()):
        stem = {"type": "conv", "width": draw(st.sampled_from([4, 8])), "kernel": draw(st.sampled_from([1, 3, 5])),
                "stride": draw(st.sampled_from([1, 2])), "norm": draw(st.sampled_from(["bn", "none"])),
                "act": draw(st.sampled_from(["relu", "none"])), "pool": draw(st.sampled_from(["max", "none"]))}
    else:
        stem = {"type": "deep", "widths": [4, 4, 8], "pool": draw(st.sampled_from(["max", "none"]))}
    return {
        "name": "random",
        "input": {"channels": draw(st.sampled_from([1, 3])), "size": draw(st.integers(16, 32))},
        "classes": draw(st.integers(2, 10)),
        "stem": stem,
        "body": {
            "stages": [{"stride": 1 if i == 0 else draw(st.sampled_from([1, 2])), "units": n}
                       for i, n in enumerate(counts)],
            "block": block,
            "widening": widening(draw, counts, block.get("groups", 1)),
            "shortcut": {"type": draw(st.sampled_from(POLICIES))},
        },
        "head": {"type": "classifier", "pre": draw(st.sampled_from([[], ["bn"], ["relu"], ["bn", "relu"]])),
                 "dropout": draw(st.sampled_from([0.0, 0.1]))},
    }


def plan_or_none(data: dict):
    """The plan of a generated spec, or None for the few combinations the planner rightly refuses."""
    try:
        return archspec.plan(load_text(yaml.safe_dump(data), "random.yaml"))
    except SpecError as exc:
        refusals = ("cannot reduce channels", "does not divide", "collapses", "leaves no")
        assert all(any(r in p.message for r in refusals) for p in exc.problems), exc
        return None


@SETTINGS
@given(valid_specs())
def test_random_valid_specs_build_trace_run_and_count_exactly(data):
    plan = plan_or_none(data)
    assume(plan is not None)
    model = Network(plan).eval()
    assert sum(p.numel() for p in model.parameters()) == plan.params
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, plan.in_channels, *plan.input_size)
    with FlopCounterMode(display=False) as flops:
        out = model(x)
    assert out.shape == (2, plan.classes)
    assert flops.get_total_flops() == 2 * 2 * plan.macs  # batch of 2, a MAC is 2 FLOPs
    assert torch.allclose(traced(x), out)


JUNK = st.one_of(
    st.integers(-3, 10**13), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.booleans(),
    st.none(), st.lists(st.integers(-2, 64), max_size=3),
    st.lists(st.lists(st.integers(-2, 64), max_size=2), max_size=3),
    st.fixed_dictionaries({"type": st.sampled_from(["basic", "conv", "x"])}),  # fresh objects, never shared
    st.fixed_dictionaries({}),
)


def node_paths(data: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += node_paths(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += node_paths(value, path + (i,))
    return out


def mutate(data: Any, path: tuple, how: str, junk: Any) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "rename" and isinstance(parent, dict):
        parent[str(last)[1:] + str(last)[:1]] = parent.pop(last)
    else:
        parent[last] = junk


BUNDLED = [p.read_text() for p in sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.yaml"))]
SEEDS = st.one_of(valid_specs(), st.sampled_from(BUNDLED).map(yaml.safe_load))


@SETTINGS
@given(SEEDS, st.data())
def test_mutated_specs_give_a_plan_or_a_clean_spec_error(data, draw):
    for _ in range(draw.draw(st.integers(1, 3))):
        paths = node_paths(data)
        path = draw.draw(st.sampled_from(paths))
        mutate(data, path, draw.draw(st.sampled_from(["delete", "rename", "junk"])), draw.draw(JUNK))
    overrides = []
    if draw.draw(st.booleans()):  # the same through --set
        paths = node_paths(data)
        if paths:
            overrides.append(f"{dotted(draw.draw(st.sampled_from(paths))).replace('[', '.').replace(']', '')}="
                             f"{json.dumps(draw.draw(JUNK))}")
    started = time.perf_counter()
    try:
        plan = archspec.plan(load_text(yaml.safe_dump(data), "mutated.yaml", overrides))
    except SpecError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
    else:
        assert plan.params > 0
    assert time.perf_counter() - started < 10.0, "a mutated spec must fail or plan, never hang"
