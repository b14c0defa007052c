"""A refactor changes no network: every bundled spec against the baseline recorded from main
before the step graph (``scripts/record_baseline.py`` says what is recorded and how)."""

from __future__ import annotations

import json
import math
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import record_baseline  # noqa: E402

BASELINE = json.loads(record_baseline.OUT.read_text())


def test_the_baseline_covers_every_bundled_spec():
    from archspec import api

    assert sorted(BASELINE) == api.list_specs()


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_plan_counts_memory_and_expansion_are_unchanged(name):
    now, then = record_baseline.analytic(name), BASELINE[name]
    assert {k: now[k] for k in now} == {k: then[k] for k in now}


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_built_state_dict_and_outputs_are_unchanged(name):
    now, then = record_baseline.built(name), BASELINE[name]
    assert (now["state_dict"], now["tensors"]) == (then["state_dict"], then["tensors"])
    if "logits" in then:
        assert all(math.isfinite(v) for v in now["logits"])
        assert now["logits"] == pytest.approx(then["logits"], rel=1e-4, abs=1e-3)
