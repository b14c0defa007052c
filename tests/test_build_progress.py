"""build says what it does as it happens, echoes what it applied and loaded, and never
replaces another network's files under the old name (docs/getting-started.md)."""

from __future__ import annotations

import io
import re

import torch
from rich.console import Console
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.cli.progress import Progress
from conftest import spec_path

runner = CliRunner()
SMALL = ["--set", "input.size=16"]


def build(*args: str):
    return runner.invoke(app, ["build", str(spec_path("resnet-20")), *args])


def test_piped_build_prints_each_step_with_its_time_in_order(tmp_path):
    result = build(*SMALL, "-e", "state_dict", "-e", "fx", "-o", str(tmp_path))  # onnx: test_verification.py
    assert result.exit_code == 0, result.output
    steps = re.findall(r"^(plan|build|trace|verify torch|export state_dict|export fx): \d+\.\d\d s$",
                       result.output, re.M)
    assert steps == ["plan", "build", "trace", "verify torch", "export state_dict", "export fx"]
    assert result.output.index("export fx ...") < result.output.index("export fx: ")
    assert "--set applied: input.size=16" in result.output
    assert "init: cifar_resnet, seed 0" in result.output


def test_trace_runs_only_when_an_export_needs_it(tmp_path):
    result = build(*SMALL, "-e", "state_dict", "-o", str(tmp_path))
    assert result.exit_code == 0 and not re.search(r"^trace", result.output, re.M)


def test_quiet_prints_nothing(tmp_path):
    result = build(*SMALL, "-e", "state_dict", "-o", str(tmp_path), "--quiet")
    assert result.exit_code == 0 and result.output == ""
    assert len(list(tmp_path.iterdir())) == 1


def test_build_without_exports_says_how_to_export(tmp_path):
    result = build(*SMALL, "-o", str(tmp_path / "out"))
    assert result.exit_code == 0 and "nothing exported: add -e KIND (repeatable: onnx," in result.output
    assert not (tmp_path / "out").exists()


def test_loaded_weights_are_echoed(tmp_path):
    weights = tmp_path / "w.pt"
    torch.save(archspec.build(spec_path("resnet-20")).state_dict(), weights)
    result = build(*SMALL, "-w", str(weights), "--weights-format", "archspec", "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert f"weights loaded: {weights} (archspec names, 116 tensors)" in result.output


def test_a_variant_never_replaces_the_named_networks_files(tmp_path):
    (tmp_path / "resnet-20.pt").write_bytes(b"the real resnet-20")
    result = build("--set", "classes=100", "-e", "state_dict", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert re.search(r"^files named resnet-20-[0-9a-f]{8}: --set changed the network", result.output, re.M)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and "resnet-20.pt" in names
    assert any(re.fullmatch(r"resnet-20-[0-9a-f]{8}\.pt", name) for name in names)
    assert (tmp_path / "resnet-20.pt").read_bytes() == b"the real resnet-20"
    assert build("--set", "body.depth=20", "-o", str(tmp_path / "same"), "-e", "fx").exit_code == 0
    assert [p.name for p in (tmp_path / "same").iterdir()] == ["resnet-20.fx.py"]  # no change: the name stays
    assert build("--set", "classes=100", "--set", "name=r20-c100", "-e", "fx", "-o", str(tmp_path / "n")).exit_code == 0
    assert [p.name for p in (tmp_path / "n").iterdir()] == ["r20-c100.fx.py"]  # a new name is used as given


def test_validate_echoes_the_overrides():
    result = runner.invoke(app, ["validate", str(spec_path("resnet-20")), "--set", "classes=100"])
    assert result.exit_code == 0 and "--set applied to each spec: classes=100" in result.output


def test_terminal_shows_a_live_status_and_the_finished_steps():
    out = io.StringIO()
    progress = Progress(Console(file=out, force_terminal=True, width=80))
    assert progress.live
    with progress.step("export onnx"):
        pass
    assert re.search(r"export onnx: \d\.\d\d s", out.getvalue())
