"""Hostile and broken input fails fast with a clear message and exit 2; outputs are never half-written."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import SpecError, load, load_text
from archspec.spec.limits import Limits, configure, current

ROOT = Path(__file__).resolve().parent.parent
RESNET56 = (ROOT / "specs" / "resnet-56.yaml").read_text()
runner = CliRunner()


def billion_laughs() -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi"):
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return text


def only_problem(path: Path) -> str:
    """Run ``archspec validate`` on a file: it must exit 2 with one located, traceback-free error."""
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    assert result.output.startswith(f"error: {path}")
    return result.output


HOSTILE = {
    "python-tag.yaml": (b'name: !!python/object/apply:os.system ["echo pwned"]\n', "would construct a Python object"),
    "custom-tag.yaml": (RESNET56.replace("classes: 10", "classes: !include ten.yaml").encode(), "specs are plain data"),
    "binary-tag.yaml": (b"name: !!binary aGVsbG8=\n", "is not allowed"),
    "laughs.yaml": (billion_laughs().encode(), "expands to more than 20,000 nodes"),
    "huge.yaml": (b"name: x\n" + b"# padding\n" * 120_000, "larger than 1,048,576 bytes"),
    "garbage.bin": (bytes(range(256)) * 64, "binary file"),
    "empty.yaml": (b"", "an empty document"),
    "comments.yaml": (b"# just a comment\n", "an empty document"),
    "list.yaml": (b"- name: x\n", "got a list"),
    "scalar.yaml": (b"resnet\n", "got a string"),
    "latin1.yaml": ("name: café\n".encode("latin-1"), "not UTF-8 text: byte 0xe9"),
    "two-docs.yaml": (RESNET56.encode() + b"---\n" + RESNET56.encode(), "one YAML document"),
    "not-yaml.yaml": (b"name: [unclosed\n", "not valid YAML"),
    "nested.yaml": (b"name: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", "nested too deeply"),
    "dash-nested.yaml": (b"name: \n" + b"- " * 50_000 + b"x\n", "nested too deeply"),
    "long-int.yaml": (RESNET56.replace("classes: 10", "classes: 1" + "0" * 5000).encode(), "is out of range"),
    "duplicate.yaml": (RESNET56.replace("classes: 10", "classes: 10\nclasses: 100").encode(), "given twice"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_refused_with_a_clear_message(tmp_path, name):
    data, message = HOSTILE[name]
    path = tmp_path / name
    path.write_bytes(data)
    started = time.perf_counter()
    output = only_problem(path)
    assert message in output
    assert time.perf_counter() - started < 5


def test_billion_laughs_is_refused_without_expanding():
    """Expanded, the document would hold 10^9 nodes; refusing it must take a blink, not minutes.
    (A hang guard with room for a loaded CI machine; benchmarks measure speed, tests don't.)"""
    text = billion_laughs()
    started = time.perf_counter()
    with pytest.raises(SpecError, match="aliases included"):
        load_text(text)
    assert time.perf_counter() - started < 5


def test_aliases_and_merge_keys_within_the_budget_still_work():
    text = RESNET56.replace("[{stride: 1}, {stride: 2}, {stride: 2}]",
                            "[{stride: 1}, &down {stride: 2}, {<<: *down, units: 3}]").replace("  depth: 56\n", "")
    with pytest.raises(SpecError, match="body.stages\\[0\\]: required|either `depth` or `units`"):
        load_text(text)
    spec = load_text(text.replace("{stride: 1}", "{stride: 1, units: 1}").replace("&down {stride: 2}",
                                                                                   "&down {stride: 2, units: 2}"))
    assert [(s.stride, s.units) for s in spec.body.stages] == [(1, 1), (2, 2), (2, 3)]


def test_non_utf8_error_is_located(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: ok\ndescription: caf\xe9\n")
    assert f"{path}:2:17: not UTF-8" in only_problem(path)


HUGE = [  # (old, new, field path, message): numbers that must be refused before planning allocates
    ("depth: 56", "depth: 600000002", "body.depth", "units in the body"),
    ("[{stride: 1}, {stride: 2}, {stride: 2}]", "[{units: 1000000000}, {units: 1}]", "body.stages[0].units",
     "exceed the limit of 10,000 units"),
    ("base: 16", "base: 1000000000000", "body.widening", "channels alone"),
    ("width: 16", "width: 1000000000000", "stem.width", "channels alone"),
    ("classes: 10", "classes: 1000000000000", "classes", "channels alone"),
    ("base: 16", "base: 16, k: 1000000", "body.stages[2]", "parameters"),
    ("size: 32", "size: 1000000000", "body.stages[0]", "MACs per image"),
    ("{rule: step_doubling, base: 16}", "{rule: multiplicative, alpha: .inf}", "body.widening.alpha",
     "must be a finite number"),  # refused as it is read: no float field of a spec takes NaN or infinity
    ("{rule: step_doubling, base: 16}", "{rule: additive, alpha: 1.0e+308}", "body.widening", "channels alone"),
]


@pytest.mark.parametrize("old,new,path,message", HUGE, ids=[h[1][:24] for h in HUGE])
def test_huge_numbers_fail_fast_before_anything_is_allocated(old, new, path, message):
    text = RESNET56.replace(old, new)
    if "units" in new:
        text = text.replace("  depth: 56\n", "")
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        archspec.plan(load_text(text))
    [p] = info.value.problems
    assert p.path == path and message in p.message and p.line is not None
    assert time.perf_counter() - started < 5  # a hang guard: planning 10^9 units would take minutes


def test_limits_are_configurable_from_the_command_line(tmp_path, monkeypatch):
    spec = str(ROOT / "specs" / "resnet-18.yaml")
    try:
        low = runner.invoke(app, ["--max-params", "1e6", "validate", spec])
        assert low.exit_code == 2 and "above the limit of 1,000,000" in low.output and "--max-params" in low.output
        assert runner.invoke(app, ["--max-params", "2e7", "validate", spec]).exit_code == 0
        monkeypatch.setenv("ARCHSPEC_MAX_BYTES", "100")
        small = runner.invoke(app, ["validate", spec])
        assert small.exit_code == 2 and "larger than 100 bytes" in small.output
        bad = runner.invoke(app, ["--max-params", "lots", "validate", spec])
        assert bad.exit_code == 2 and "`lots`" in bad.output and "whole number" in bad.output
    finally:
        configure(**vars(Limits()))
    assert current() == Limits()


# --- nothing lost ------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


TINY = RESNET56.replace("depth: 56", "depth: 8").replace("size: 32", "size: 8")


def test_failing_build_leaves_the_output_directory_byte_identical(tmp_path, monkeypatch):
    import archspec.export.build as export_build

    out = tmp_path / "out"
    out.mkdir()
    (out / "resnet-56.pt").write_bytes(b"the previous state_dict")
    (out / "notes.txt").write_text("keep me")
    before = snapshot(out)

    def broken_onnx(model, shape, path, *args, **kwargs):
        Path(path).write_bytes(b"half an onnx file")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export_build, "export_onnx", broken_onnx)  # torch.onnx's path
    monkeypatch.setattr(export_build, "save", lambda proto, path, external: broken_onnx(None, None, path))  # the writer's
    plan = archspec.plan(load_text(TINY))
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_build.build_exports(plan, ["state_dict", "fx", "onnx"], out)
    assert snapshot(out) == before  # no new file, no temp file, the old state_dict untouched


def test_existing_file_is_replaced_only_by_a_complete_new_one(tmp_path):
    import torch

    from archspec.export.build import build_exports

    out = tmp_path / "out"
    out.mkdir()
    target = out / "resnet-56.pt"
    target.write_bytes(b"old")
    plan = archspec.plan(load_text(TINY))
    result = build_exports(plan, ["state_dict"], out)
    assert result.written == [target] and sorted(os.listdir(out)) == ["resnet-56.pt"]
    state = torch.load(target, weights_only=True)
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) == plan.params


def test_staged_write_keeps_the_old_file_until_the_rename(tmp_path):
    from archspec.export.atomic import staged

    target = tmp_path / "report.txt"
    target.write_text("old")
    with pytest.raises(ValueError):
        with staged(target) as tmp:
            tmp.write_text("new, half")
            assert target.read_text() == "old"
            raise ValueError("crash while writing")
    assert os.listdir(tmp_path) == ["report.txt"] and target.read_text() == "old"
    with staged(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["report.txt"]


def test_invalid_spec_creates_no_output(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(RESNET56.replace("depth: 56", "depth: 57"))
    result = runner.invoke(app, ["build", str(bad), "-e", "onnx", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    expanded = runner.invoke(app, ["expand", str(bad), "-o", str(tmp_path / "x.yaml")])
    assert expanded.exit_code == 2 and sorted(os.listdir(tmp_path)) == ["bad.yaml"]


def test_loading_a_directory_or_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(SpecError, match="cannot read the spec"):
        load(tmp_path / "missing.yaml")


def test_a_fifo_or_device_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)  # nobody writes to it: reading would block forever
    for path in (fifo, Path("/dev/zero")):
        start = time.monotonic()
        with pytest.raises(SpecError, match="not a regular file .* - to read the spec from standard input"):
            load(path)
        assert time.monotonic() - start < 5


def test_dash_reads_the_spec_from_standard_input_with_extends_from_the_working_directory():
    import subprocess
    import sys

    from conftest import SPECS

    def run(*args: str, text: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "archspec", *args], input=text, capture_output=True,
                              text=True, cwd=SPECS, timeout=60)

    ok = run("validate", "-", text="extends: resnet-20.yaml\nname: r20-from-stdin\n")
    assert ok.returncode == 0 and "ok <stdin>: r20-from-stdin, 269,722 params" in ok.stdout
    report = run("report", "--format", "csv", "-", text=(SPECS / "resnet-56.yaml").read_text())
    assert report.returncode == 0 and report.stdout.splitlines()[-1].startswith("total,")
    bad = run("validate", "-", text="name: x\nclasses: yes\n")
    assert bad.returncode == 2 and "<stdin>:2:1: classes: must be a valid integer" in bad.stderr
