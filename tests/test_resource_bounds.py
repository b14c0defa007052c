"""Resources are estimated from the Plan before they are spent: ``report --verify`` and weights
loading refuse up front, with the estimate, what would not fit; and inputs that used to end in a
traceback deep in a library (a long ``extends`` chain, mathtext in plot labels) end in one message.
Nested JSON (metrics, results, tables) is the one reader's (archspec/files.py, on main)."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.convert import ConversionError, read_weights
from archspec.plan.memory_budget import checkpoint_limit
from archspec.spec import SpecError, load
from conftest import spec_path

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_report_verify_refuses_up_front_with_the_estimate(dtype):
    """classes=140000000 gives resnet-20 a 9-billion-weight head: 34 GiB that --verify's CPU build
    would allocate. Refused before any table is printed, as build refuses it."""
    result = runner.invoke(app, ["--max-memory", "1GiB", "report", "resnet-20", "--verify", "--dtype", dtype,
                                 "--set", "classes=140000000", "--set", "name=x"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = flat(result.output)
    assert "head: building x would need about" in text and "of weights" in text
    assert "above the memory limit of 1.0 GiB" in text and "params" not in result.stdout  # no table first


def test_report_verify_runs_what_fits():
    result = runner.invoke(app, ["--max-memory", "1GiB", "report", "resnet-20", "--verify", "--format", "csv"])
    assert result.exit_code == 0 and "verified resnet-20" in result.output


def inflated_checkpoint(state: dict[str, torch.Tensor], inflate_to: int) -> bytes:
    """A torch.save archive whose first storage record is deflated zeros ``inflate_to`` bytes long:
    small on disk, large once read."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            if info.filename.endswith("/data/0"):
                archive.writestr(info.filename, b"\0" * inflate_to, compress_type=zipfile.ZIP_DEFLATED)
            else:
                archive.writestr(info, source.read(info))
    return out.getvalue()


def test_a_checkpoint_declaring_more_than_the_plan_holds_is_refused_before_loading(tmp_path, monkeypatch):
    plan = archspec.plan("resnet-20")
    state = archspec.build("resnet-20").state_dict()
    limit = checkpoint_limit(plan)
    bomb = tmp_path / "bomb.pt"
    bomb.write_bytes(inflated_checkpoint(state, limit + 1))
    assert bomb.stat().st_size < limit // 10  # small on disk

    def no_load(*args, **kwargs):
        raise AssertionError("torch.load ran on a checkpoint larger than the Plan")

    monkeypatch.setattr(torch, "load", no_load)
    with pytest.raises(ConversionError, match=r"the checkpoint declares .* of data, more than a state_dict of "
                                              r"resnet-20 can hold"):
        read_weights(bomb, plan, "archspec")


def test_the_checkpoint_bound_admits_every_real_checkpoint(tmp_path):
    """float64 weights and the training-only heads a torchvision GoogLeNet checkpoint carries fit."""
    for name in ("resnet-20", "googlenet"):
        plan = archspec.plan(name)
        model = archspec.build(name, aux=bool(plan.aux)).double()
        path = tmp_path / f"{name}.pt"
        torch.save(model.state_dict(), path)
        assert path.stat().st_size < checkpoint_limit(plan)


def test_a_safetensors_file_larger_than_the_plan_is_refused(tmp_path):
    from safetensors.torch import save_file

    plan = archspec.plan("resnet-20")
    path = tmp_path / "big.safetensors"
    save_file({"x": torch.zeros(checkpoint_limit(plan) // 4 + 1)}, str(path))
    with pytest.raises(ConversionError, match="holds .* of data, more than a state_dict of resnet-20"):
        read_weights(path, plan, "archspec")


# --- inputs that used to raise deep in a library ------------------------------------------------

def test_a_long_extends_chain_is_a_located_limit_error(tmp_path):
    (tmp_path / "s0.yaml").write_text(spec_path("resnet-20").read_text())
    for i in range(1, 200):
        (tmp_path / f"s{i}.yaml").write_text(f"extends: s{i - 1}.yaml\nname: s{i}\n")
    with pytest.raises(SpecError) as caught:
        load(tmp_path / "s199.yaml")
    [problem] = caught.value.problems
    assert problem.path == "extends" and "chains more than 32 files" in problem.message and problem.line == 1
    assert load(tmp_path / "s30.yaml").name == "s30"  # a chain within the limit


@pytest.mark.parametrize("text", ["$x^{$", r"$\frac{$", r"$\nosuchcommand$"])
def test_mathtext_in_user_text_is_drawn_literally(tmp_path, text):
    from archspec.diagram.plot import figure
    from archspec.space.analyze import Row, plot

    rows = [Row(str(tmp_path / text), f"{i:064x}", 10 + i, 20 + i, 0.5 + i / 10, True, True) for i in range(3)]
    assert plot(rows, f"acc {text}", tmp_path / "edf.png").stat().st_size > 0
    figure([archspec.plan("resnet-20")], title=text).savefig(io.BytesIO(), format="png")
