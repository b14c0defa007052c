"""The figures in the docs are what their scripts give: docs/design-spaces.md's EDF table.

scripts/gen_design_spaces_table.py samples two design spaces and trains each network at
three seeds (minutes). Here, in seconds: the sampling is rerun (which networks, their
sha256, params and MACs must equal the table's exactly), the fronts are recomputed from
the table's own losses, and the cheapest network is trained again at seed 0, whose loss
must be within the noise the page states. A drift beyond that means the page no longer
describes what the script measures: rerun the script and commit what it writes.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def script():
    loaded = importlib.util.spec_from_file_location("gen_design_spaces_table",
                                                    ROOT / "scripts" / "gen_design_spaces_table.py")
    module = importlib.util.module_from_spec(loaded)
    sys.modules[loaded.name] = module  # its dataclass looks its module up
    loaded.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def table(script):
    return script.committed(script.DOC.read_text())


@pytest.fixture(scope="module")
def sampled(script, tmp_path_factory):
    return script.sampled(tmp_path_factory.mktemp("samples"))


def test_the_table_s_networks_are_what_the_spaces_sample(script, table, sampled):
    rows, losses, *_ = table
    assert len(rows) == len(sampled) == 16
    assert rows == [(n.space, n.depth, n.width, n.sha256[:12], n.params, f"{n.macs / 1e6:.1f}M") for n in sampled]


def test_the_fronts_and_the_stated_noise_follow_from_the_table(script, table, sampled):
    rows, losses, spreads, flags, stated = table
    networks = [script.Network(**{**n.__dict__, "losses": (loss,)}) for n, loss in zip(sampled, losses)]
    assert script.fronts(networks) == flags
    assert stated == max(spreads) > 0  # the page's noise is its widest spread


def test_the_page_records_the_versions_and_the_machine(script):
    text = script.DOC.read_text()
    stamp = text[text.index(script.START):text.index(script.END)]
    assert re.search(r"on \d{4}-\d\d-\d\d: archspec \S+, torch \S+, Python \d+\.\d+\.\d+, \w+ \S+ \(.+, \d+ CPUs\)",
                     stamp), stamp


def test_the_cheapest_network_trains_to_the_table_s_loss_within_the_noise(script, table, sampled):
    rows, losses, _, _, stated = table
    cheapest = min(range(len(sampled)), key=lambda i: (sampled[i].depth, sampled[i].macs))  # the fastest to train
    [again] = script.trained([sampled[cheapest]], seeds=(0,))
    assert abs(again.losses[0] - losses[cheapest]) <= stated, (
        f"{rows[cheapest]}: {again.losses[0]:.3f} now, {losses[cheapest]:.3f} on the page (noise {stated}); "
        "rerun `PYTHONPATH=$PWD python scripts/gen_design_spaces_table.py`")

