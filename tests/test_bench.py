"""``archspec bench`` on CPU: structure and sanity of the figures, table reuse, refusals (exit 2)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from archspec.api import bench, plan
from archspec.cli import app
from archspec.export.bench import unit_key
from conftest import spec_path

runner = CliRunner()
FAST = ["--rounds", "2", "--warmup", "1", "--batch", "2", "--threads", "1", "--no-progress"]
SMALL = ["body.depth=8", "input.size=16"]  # resnet-8: stem, 3 units, head


@pytest.fixture(scope="module")
def first_run():
    """resnet-8 at 16x16 alone; resnet-20 and resnet-56 interleaved (their units share keys)."""
    small = bench([spec_path("resnet-20")], overrides=SMALL, batch=2, rounds=2, warmup=1, threads=1)
    pair = bench([spec_path("resnet-20"), spec_path("resnet-56")], batch=2, rounds=2, warmup=1, threads=1)
    return small, pair


def test_results_are_positive_medians_and_ratios_to_the_first(first_run):
    _, run = first_run
    first, second = run.results
    assert first.ratio == 1.0 and second.ratio == pytest.approx(second.seconds / first.seconds)
    assert all(0 < r.best <= r.seconds and r.predicted > 0 for r in run.results)
    resolved, deeper = plan(spec_path("resnet-20")), plan(spec_path("resnet-56"))
    keys = {unit_key(u) for u in resolved.units + deeper.units}
    assert set(run.table.units) == keys and run.timed_units == len(keys) < len(resolved.units)  # repeats share a key
    assert first.predicted == pytest.approx(sum(run.table.units[unit_key(u)] for u in resolved.units))


def test_a_reused_table_skips_timing(first_run):
    small, _ = first_run
    again = bench([spec_path("resnet-20")], overrides=SMALL, table=small.table, batch=2, rounds=2, warmup=1,
                  threads=1)
    assert again.timed_units == 0 and again.table.units == small.table.units


def test_cli_writes_and_reuses_the_table(tmp_path):
    table = tmp_path / "units.json"
    args = ["bench", str(spec_path("resnet-20")), *FAST, "--table", str(table), "-f", "json",
            *sum((["--set", s] for s in SMALL), [])]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    saved = json.loads(table.read_text())
    assert data["timed_units"] == len(saved["units"]) == 5 and saved["config"]["batch"] == 2
    assert data["results"][0]["ratio"] == 1.0 and data["results"][0]["images_per_second"] > 0
    second = json.loads(runner.invoke(app, args).stdout)
    assert second["timed_units"] == 0 and second["units"] == saved["units"]
    other = runner.invoke(app, [*args[:-4], "--batch", "3"])  # a table measured at another batch
    assert other.exit_code == 2 and "measured under" in other.stderr


def test_end_to_end_only():
    run = bench([spec_path("resnet-20")], overrides=SMALL, units=False, batch=2, rounds=2, warmup=1, threads=1)
    assert run.timed_units == 0 and not run.table.units and run.results[0].predicted is None
    assert run.results[0].as_dict(2)["predicted_over_measured"] is None and run.results[0].seconds > 0


def test_train_mode_and_table_output():
    result = runner.invoke(app, ["bench", str(spec_path("resnet-20")), *FAST, "--mode", "train",
                                 *sum((["--set", s] for s in SMALL), [])])
    assert result.exit_code == 0, result.output
    assert "train on cpu" in result.stdout and "predicted/measured" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--batch", "0"], "--batch"),
    (["--dtype", "fp8"], "--dtype"),
    (["--device", "tpu"], "--device"),
    (["--runtime", "tvm"], "--runtime"),
    (["--cuda-graphs"], "--cuda-graphs needs --device cuda"),
    (["--runtime", "onnxruntime", "--mode", "train"], "inference only"),
    (["--runtime", "onnxruntime", "--dtype", "bf16"], "fp32 ONNX export"),
    (["--max-memory", "1000"], "lower --batch or raise --max-memory"),
])
def test_bad_options_exit_2(args, message, tmp_path):
    table = tmp_path / "t.json"
    result = runner.invoke(app, ["bench", str(spec_path("resnet-20")), "--table", str(table), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not table.exists()


def test_cuda_without_a_gpu_exits_2(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, ["bench", str(spec_path("resnet-20")), "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device" in result.stderr and "Traceback" not in result.output


def test_a_corrupt_table_exits_2(tmp_path):
    table = tmp_path / "t.json"
    table.write_text("{not json")
    result = runner.invoke(app, ["bench", str(spec_path("resnet-20")), *FAST, "--table", str(table)])
    assert result.exit_code == 2 and "not a latency table" in result.stderr
