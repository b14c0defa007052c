"""Sweeps: the user's command per sample through the local and submitit executors; resume; SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archspec.space import load_space_text, read_results, sample, sweep
from archspec.space.sweep import SweepError, append_result, RunResult
from conftest import ROOT, SPECS

# A stand-in for a training script: logs that it ran, fails for one sample, writes no metrics for another.
WORKER = r'''
import json, os, sys, time
spec, out, sha, log = sys.argv[1:5]
with open(log, "a") as f:
    f.write(sha + "\n")
time.sleep(float(os.environ.get("WORKER_SLEEP", "0")))
if sha.startswith(os.environ.get("FAIL_PREFIX", "-")):
    sys.stderr.write("boom: this variant diverged\n")
    sys.exit(3)
if sha.startswith(os.environ.get("SILENT_PREFIX", "-")):
    sys.exit(0)
with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump({"acc": len(open(spec).read()) % 100 / 100}, f)
'''


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    """Four ResNet variants (depths 8, 14, 20, 26), sampled once for the module."""
    root = tmp_path_factory.mktemp("sweep")
    text = f"base: {SPECS / 'resnet-20.yaml'}\nvary:\n  body.depth: {{choice: [8, 14, 20, 26]}}\n"
    result = sample(load_space_text(text, str(root / "space.yaml")), 4, seed=0, out=root / "samples")
    assert len(result.samples) == 4
    (root / "worker.py").write_text(WORKER)
    return root


def fresh(samples: Path, name: str) -> Path:
    """A copy of the sample directory without results."""
    directory = samples / name
    directory.mkdir()
    for file in (samples / "samples").iterdir():
        (directory / file.name).write_bytes(file.read_bytes())
    return directory


def command(samples: Path, log: Path) -> str:
    return f"{sys.executable} {samples / 'worker.py'} {{spec}} {{out}} {{sha}} {log}"


def shas(directory: Path) -> list[str]:
    return [json.loads(line)["sha256"] for line in (directory / "index.jsonl").read_text().splitlines()]


def ran(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_local_sweep_records_ok_failed_and_no_metrics_then_resumes(samples, monkeypatch):
    directory, log = fresh(samples, "local"), samples / "local.log"
    first, second = shas(directory)[:2]
    monkeypatch.setenv("FAIL_PREFIX", first[:12])
    monkeypatch.setenv("SILENT_PREFIX", second[:12])
    result = sweep(directory, command(samples, log), jobs=2)
    assert sorted(ran(log)) == sorted(shas(directory))
    rows = read_results(directory)
    assert rows[first]["status"] == "failed" and rows[first]["exit_code"] == 3
    assert "boom: this variant diverged" in rows[first]["error"]
    assert rows[second]["status"] == "no-metrics" and rows[second]["exit_code"] == 0
    assert "metrics.json" in rows[second]["error"]
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert len(ok) == 2 and all(0 <= r["metrics"]["acc"] < 1 and r["duration_s"] >= 0 for r in ok)
    assert (result.count("ok"), result.count("failed"), result.count("no-metrics")) == (2, 1, 1)

    again = sweep(directory, command(samples, log), jobs=2)  # finished samples are skipped
    assert (len(again.results), again.skipped) == (0, 4) and len(ran(log)) == 4
    monkeypatch.setenv("FAIL_PREFIX", "-")
    monkeypatch.setenv("SILENT_PREFIX", "-")
    retried = sweep(directory, command(samples, log), retry_failed=True)
    assert sorted(r.sha256 for r in retried.results) == sorted([first, second])
    assert all(r["status"] == "ok" for r in read_results(directory).values())
    assert len((directory / "results.jsonl").read_text().splitlines()) == 6  # appended, never rewritten


def test_submitit_executor_runs_the_samples_and_resumes(samples):
    directory, log = fresh(samples, "submitit"), samples / "submitit.log"
    result = sweep(directory, command(samples, log), executor="submitit", jobs=4)  # no SLURM here: local executor
    assert result.count("ok") == 4 and sorted(ran(log)) == sorted(shas(directory))
    assert (directory / "submitit").is_dir()
    again = sweep(directory, command(samples, log), executor="submitit", jobs=4)
    assert (len(again.results), again.skipped) == (0, 4) and len(ran(log)) == 4


@pytest.mark.parametrize("executor", ["local", "submitit"])
def test_sigterm_keeps_every_finished_result_and_a_rerun_finishes_the_rest(samples, executor):
    directory, log = fresh(samples, f"kill-{executor}"), samples / f"kill-{executor}.log"
    argv = [sys.executable, "-m", "archspec", "sweep", str(directory), "--run", command(samples, log),
            "--executor", executor, "-j", "1"]
    env = {**os.environ, "WORKER_SLEEP": "0.6"}
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = directory / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (results.exists() and results.read_text().count("\n") >= 1):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted by SIGTERM" in stderr and "Traceback" not in stderr
    lines = results.read_text().splitlines()
    finished = {json.loads(line)["sha256"] for line in lines}  # every line whole
    assert 1 <= len(finished) < 4
    rerun = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    rows = read_results(directory)
    assert set(rows) == set(shas(directory)) and all(r["status"] == "ok" for r in rows.values())
    assert all(ran(log).count(sha) == 1 for sha in finished)  # finished samples were not run again


def test_bad_sweeps_are_refused_before_anything_runs(samples, tmp_path):
    directory = fresh(samples, "bad")
    with pytest.raises(SweepError, match="unknown placeholder {spce}"):
        sweep(directory, "python train.py {spce}")
    with pytest.raises(SweepError, match="must take the sample's spec"):
        sweep(directory, "python train.py")
    with pytest.raises(SweepError, match="no index.jsonl"):
        sweep(tmp_path, "python train.py {spec}")
    with pytest.raises(SweepError, match="at least 1"):
        sweep(directory, "python train.py {spec}", jobs=0)
    assert not (directory / "results.jsonl").exists()


def test_a_torn_last_line_is_ignored_and_closed_before_the_next_append(tmp_path):
    path = tmp_path / "results.jsonl"
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    path.write_text(f'{{"sha256": "{a}", "status": "ok"}}\n{{"sha256": "{b}", "sta')
    append_result(path, RunResult(c, "ok", 0, 1.0, {"acc": 0.5}))
    assert set(read_results(tmp_path)) == {a, c}
    assert path.read_text().splitlines()[-1].startswith('{"duration_s"')


def test_sweep_without_submitit_names_the_extra(samples):
    directory = fresh(samples, "no-submitit")
    code = ("import sys; sys.modules['submitit'] = None\n"
            "from archspec.cli import main\n"
            f"sys.argv = ['archspec', 'sweep', {str(directory)!r}, '--run', 'true {{spec}}', '--executor', 'submitit']\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "pip install" in out.stderr and "[sweep]'" in out.stderr
    assert "Traceback" not in out.stderr


def test_every_placeholder_is_one_quoted_argument(samples, tmp_path):
    """What a sample directory holds can add no shell syntax: {sha} is quoted like {spec} and {out}."""
    import shlex

    from archspec.space.sweep import check_template, fill

    evil = "$(touch pwned); `id` 'x\" ; rm -rf ~"
    for name in ("spec", "out", "sha"):
        filled = fill(f"prog --{name} {{{name}}} --x={{{name}}}", evil, evil, evil)
        assert shlex.split(filled) == ["prog", f"--{name}", evil, f"--x={evil}"]
    for quoted in ("prog '{spec}'", 'prog {spec} "{out}"', "prog {spec} --sha \"a {sha}\"", "prog {spec} 'it''s {sha}'"):
        with pytest.raises(SweepError, match="inside (single|double) quotes"):
            check_template(quoted)
    for bare in ("prog {spec} --out={out}", "prog {spec} 'literal' {sha}", "prog {spec} \\'{sha}", "cd {out} && x {spec}"):
        check_template(bare)
    directory = fresh(samples, "quoted")
    log = tmp_path / "log"
    done = sweep(directory, f"{sys.executable} {samples / 'worker.py'} {{spec}} {{out}} {{sha}} {log}")
    assert done.count("ok") == 4 and sorted(log.read_text().split()) == sorted(shas(directory))


def test_a_sweep_never_follows_links_out_of_its_directory(samples, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "stdout.log").write_text("keep me")
    directory = fresh(samples, "linked")
    (directory / "runs").symlink_to(victim)
    with pytest.raises(SweepError, match="runs is a symbolic link"):
        sweep(directory, "true {spec}")
    (directory / "runs").unlink()
    (directory / "runs").mkdir()
    (directory / "runs" / shas(directory)[0][:12]).symlink_to(victim)
    with pytest.raises(SweepError, match="is a symbolic link"):
        sweep(directory, "true {spec}")
    assert [p.name for p in victim.iterdir()] == ["stdout.log"] and (victim / "stdout.log").read_text() == "keep me"
    assert not (directory / "results.jsonl").exists()
