"""The one reader (archspec.files.read_capped and what is built on it), tested by class.

Every file a user hands archspec besides specs (a sample directory's index.jsonl and
results.jsonl, the metrics.json a sweep command writes, a bench latency table, a space's
base) is tried with each hostile kind of file: a FIFO nobody writes to, a 300 MB file, a
directory, binary garbage, JSON nested 200,000 deep. Each ends in exit status 2 with a
message that names where it was, in seconds, without quoting what it read. A new input
belongs in ``READERS`` and gets the test.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from archspec.cli import app
from conftest import deadline
from archspec.spec.limits import reset

ROOT = Path(__file__).resolve().parent.parent
RESNET56 = (ROOT / "specs" / "resnet-56.yaml").read_text()
TINY = "".join(line for line in RESNET56.replace("depth: 56", "depth: 8").replace("size: 32", "size: 8")
               .replace("name: resnet-56", "name: tiny").splitlines(True) if not line.startswith("reference:"))
SPACE = "base: tiny.yaml\nvary:\n  body.depth: {choice: [8, 14]}\n"
SECRET = "s3cr3t-do-not-print"
TRAIN = "import sys, shutil\nshutil.copy(sys.argv[2], sys.argv[1] + '/metrics.json')\n"  # {out} METRICS-SOURCE
runner = CliRunner()


@pytest.fixture(autouse=True)
def default_limits():
    yield
    reset()


def invoke(*args: str):
    with deadline():
        return runner.invoke(app, list(args))


def metrics_command(root: Path, source: Path) -> str:
    return f"{sys.executable} {root / 'train.py'} {{out}} {source} {{spec}}"


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """A sample directory with two samples, swept once (metric acc)."""
    root = tmp_path_factory.mktemp("swept")
    (root / "tiny.yaml").write_text(TINY)
    (root / "space.yaml").write_text(SPACE)
    (root / "train.py").write_text(TRAIN)
    (root / "good.json").write_text('{"acc": 0.5}')
    assert invoke("sample", str(root / "space.yaml"), "-n", "2", "-o", str(root / "samples")).exit_code == 0
    ran = invoke("sweep", str(root / "samples"), "--run", metrics_command(root, root / "good.json"))
    assert ran.exit_code == 0 and "2 run (2 ok" in ran.output, ran.output
    return root / "samples"


def copy_of(swept: Path, work: Path, fresh: bool = False) -> Path:
    """A copy of the swept directory; ``fresh``: without its results, to be swept again."""
    shutil.copytree(swept, work / "s")
    if fresh:
        (work / "s" / "results.jsonl").unlink()
        shutil.rmtree(work / "s" / "runs")
    return work / "s"


Setup = Callable[[Path, Path], tuple[list[str], Path]]  # (work dir, swept dir) -> (arguments, the input)


def _sweep_index(work: Path, swept: Path) -> tuple[list[str], Path]:
    directory = copy_of(swept, work)
    return ["sweep", str(directory), "--run", "true {spec}", "--retry-failed"], directory / "index.jsonl"


def _analyze(name: str) -> Setup:
    def setup(work: Path, swept: Path) -> tuple[list[str], Path]:
        directory = copy_of(swept, work)
        return ["analyze", str(directory), "-m", "acc", "--format", "json"], directory / name
    return setup


def _bench_table(work: Path, swept: Path) -> tuple[list[str], Path]:
    (work / "tiny.yaml").write_text(TINY)
    return (["bench", str(work / "tiny.yaml"), "--rounds", "1", "--warmup", "1", "--no-progress", "--table",
             str(work / "table.json")], work / "table.json")


def _space_base(work: Path, swept: Path) -> tuple[list[str], Path]:
    (work / "space.yaml").write_text(SPACE)
    return ["sample", str(work / "space.yaml"), "-n", "1", "-o", str(work / "out")], work / "tiny.yaml"


READERS: dict[str, Setup] = {
    "index.jsonl (sweep)": _sweep_index,
    "index.jsonl (analyze)": _analyze("index.jsonl"),
    "results.jsonl (analyze)": _analyze("results.jsonl"),
    "bench --table": _bench_table,
    "space base": _space_base,
}


def fifo(path: Path) -> None:
    os.mkfifo(path)


def huge(path: Path) -> None:
    with open(path, "wb") as handle:
        handle.write(SECRET.encode())
        handle.truncate(300 * 2**20)  # sparse: 300 MB that cost no disk


def directory(path: Path) -> None:
    path.mkdir()


def garbage(path: Path) -> None:
    path.write_bytes(SECRET.encode() + bytes(range(256)) * 8)


def deep(path: Path) -> None:
    path.write_text(f'["{SECRET}", ' + "[" * 200_000 + "]" * 200_000 + "]\n")


HOSTILE = {"fifo": fifo, "300 MB": huge, "directory": directory, "binary": garbage, "nested 200,000 deep": deep}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_refuses_hostile_files_at_once_without_quoting_them(tmp_path, swept, reader, kind):
    args, path = READERS[reader](tmp_path, swept)
    if path.exists():
        path.unlink()
    HOSTILE[kind](path)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    assert str(path.parent) in result.output and SECRET not in result.output, result.output
    assert not (tmp_path / "out").exists()  # sample wrote nothing


def test_the_reader_caps_what_it_reads_and_reads_only_regular_files(tmp_path):
    from archspec.files import UnreadableFile, read_capped, read_json, read_json_lines, TORN

    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json(tmp_path / "ok.json", 100) == {"a": 1}
    with pytest.raises(UnreadableFile, match="larger than 5 bytes"):
        read_capped(tmp_path / "ok.json", 5)
    os.mkfifo(tmp_path / "fifo")
    with deadline(), pytest.raises(UnreadableFile, match="FIFO"):
        read_capped(tmp_path / "fifo", 100)
    with pytest.raises(UnreadableFile, match="device"):
        read_capped("/dev/zero", 100)
    with pytest.raises(FileNotFoundError):
        read_capped(tmp_path / "missing", 100)
    (tmp_path / "rows").write_text('{"a": 1}\n\n[2]\n{"torn\n')
    assert read_json_lines(tmp_path / "rows", 100) == [(1, {"a": 1}), (3, [2]), (4, TORN)]
    (tmp_path / "long").write_text("1" * 5000)
    with pytest.raises(UnreadableFile, match="number too long"):
        read_json(tmp_path / "long", 10_000)


# --- rows of a sample directory -----------------------------------------------------------------


ROWS = {  # a line of index.jsonl -> what the message says
    "../../victim": ("sha256: does not have the form", lambda row: {**row, "sha256": "../../victim"}),
    "a list": ("a row is a JSON object", lambda row: [row]),
    "a path as file": ("file: does not have the form", lambda row: {**row, "file": "../../etc/passwd.yaml"}),
    "fractional params": ("params:", lambda row: {**row, "params": 1.5}),
    "an extra field": ("command: is not a field of an index row", lambda row: {**row, "command": "rm -rf ~"}),
}


@pytest.mark.parametrize("case", sorted(ROWS))
def test_an_index_row_that_is_not_one_stops_the_sweep_before_any_command(tmp_path, swept, case):
    message, change = ROWS[case]
    directory = copy_of(swept, tmp_path, fresh=True)
    rows = [json.loads(line) for line in (directory / "index.jsonl").read_text().splitlines()]
    rows[1] = change(rows[1])
    (directory / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep me")
    marker = tmp_path / "ran"
    result = invoke("sweep", str(directory), "--run", f"touch {marker} {{spec}}")
    assert result.exit_code == 2 and f"index.jsonl:2: {message}" in result.output, result.output
    assert not marker.exists() and not (directory / "runs").exists() and (victim / "keep.txt").read_text() == "keep me"


def test_results_rows_that_are_not_results_are_skipped(tmp_path, swept):
    directory = copy_of(swept, tmp_path)
    good = (directory / "results.jsonl").read_text()
    junk = ['[1, 2]', '{"sha256": "../../x", "status": "ok", "metrics": {"acc": 0.9}}',
            '{"sha256": "' + "a" * 64 + '", "status": "mystery"}', "{" * 100_000]
    (directory / "results.jsonl").write_text("\n".join(junk) + "\n" + good)
    result = invoke("analyze", str(directory), "-m", "acc", "--format", "json")
    assert result.exit_code == 0, result.output
    assert sorted(r["metric"] for r in json.loads(result.output)) == [0.5, 0.5]


# --- metrics.json: what a sweep command leaves -------------------------------------------------


METRICS = {  # what the command leaves as metrics.json -> status, and what results.jsonl records
    "fifo": (fifo, "no-metrics", "is not a regular file"),
    "300 MB": (huge, "no-metrics", "larger than 1,048,576 bytes"),
    "directory": (directory, "no-metrics", "is a directory"),
    "binary": (garbage, "no-metrics", "not UTF-8"),
    "nested 200,000 deep": (deep, "no-metrics", "nested too deeply"),
    "a list": (lambda p: p.write_text("[1, 2]"), "no-metrics", "holds a list, not an object"),
}


@pytest.mark.parametrize("case", sorted(METRICS))
def test_a_hostile_metrics_file_is_a_no_metrics_result_not_a_hang_or_a_copy(tmp_path, swept, case):
    make, status, why = METRICS[case]
    directory = copy_of(swept, tmp_path, fresh=True)
    source = tmp_path / "metrics.source"
    make(source)
    (tmp_path / "train.py").write_text(  # put the hostile file in place as metrics.json (FIFOs and dirs included)
        "import os, shutil, stat, sys\nsrc, dst = sys.argv[2], sys.argv[1] + '/metrics.json'\n"
        "info = os.lstat(src)\n"
        "if stat.S_ISFIFO(info.st_mode): os.mkfifo(dst)\n"
        "elif stat.S_ISDIR(info.st_mode): os.mkdir(dst)\n"
        "elif info.st_size > 2**20: open(dst, 'wb').write(open(src, 'rb').read(100)); os.truncate(dst, info.st_size)\n"
        "else: shutil.copy(src, dst)\n")
    result = invoke("sweep", str(directory), "--run", metrics_command(tmp_path, source))
    assert result.exit_code == 0, result.output
    lines = (directory / "results.jsonl").read_text().splitlines()[-2:]
    rows = [json.loads(line) for line in lines]
    assert [r["status"] for r in rows] == [status] * 2 and all(why in r["error"] for r in rows), rows
    assert all(len(line) < 2000 and SECRET not in line for line in lines)


def test_metrics_are_kept_as_finite_numbers_and_results_stay_strict_json(tmp_path, swept):
    directory = copy_of(swept, tmp_path, fresh=True)
    source = tmp_path / "metrics.source"
    source.write_text('{"acc": 0.75, "loss": NaN, "big": Infinity, "name": "x", "flag": true, "nested": {"a": 1}, '
                      '"huge": 1' + "0" * 400 + ', "count": 12}')
    result = invoke("sweep", str(directory), "--run", metrics_command(swept.parent, source))
    assert result.exit_code == 0, result.output
    rows = (directory / "results.jsonl").read_text().splitlines()

    def strict(constant: str) -> None:
        raise AssertionError(f"{constant} in results.jsonl")

    last = json.loads(rows[-1], parse_constant=strict)
    assert last["status"] == "ok"
    assert last["metrics"] == {"acc": 0.75, "loss": None, "big": None, "huge": None, "count": 12}
    assert all(math.isfinite(v) for v in last["metrics"].values() if v is not None)


# --- a space's base ---------------------------------------------------------------------------


def test_a_space_base_is_confined_like_extends_and_never_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inside, outside = tmp_path / "project", tmp_path.parent / f"{tmp_path.name}-outside"
    (inside / "spaces").mkdir(parents=True)
    outside.mkdir()
    (outside / "shadow.yaml").write_text(f"root: {SECRET}\n")
    (inside / "creds.yaml").write_text(f"password: {SECRET}\nclasses: 10\n")
    (inside / "tiny.yaml").write_text(TINY)
    cases = {
        str(outside / "shadow.yaml"): "is outside the directory of the file, or the working directory,",
        "../creds.yaml": "not a spec: 1 of its 2 top-level keys are not spec fields; its content is not shown",
        "../creds.txt": "a base is a spec file, named *.yaml or *.yml",
        "../missing.yaml": "no such file",
    }
    monkeypatch.chdir(inside)
    for base, message in cases.items():
        space = inside / "spaces" / "space.yaml"
        space.write_text(f"base: {base}\nvary:\n  body.depth: {{choice: [8, 14]}}\n")
        result = invoke("sample", str(space), "-n", "1", "-o", str(tmp_path / "out"))
        assert result.exit_code == 2 and f"{space}:1:1: base: `base: {base[:40]}" in result.output, result.output
        assert message in result.output and SECRET not in result.output, result.output
    space.write_text("base: ../tiny.yaml\nvary:\n  body.depth: {choice: [8, 14]}\n")
    assert invoke("sample", str(space), "-n", "1", "-o", str(tmp_path / "out")).exit_code == 0
    assert len(list((tmp_path / "out").glob("*.yaml"))) == 1
    shutil.rmtree(outside)


# --- escaping: everything printed that came from outside --------------------------------------

ESC = "\x1b]0;pwned\x07\x1b[2J"  # set the terminal's title, clear the screen


def _validate_name(work: Path) -> list[str]:
    spec = work / f"a{ESC}.yaml"
    spec.write_text(TINY)
    return ["validate", str(spec)]


def _output_path(work: Path) -> list[str]:
    (work / "tiny.yaml").write_text(TINY)
    return ["expand", str(work / "tiny.yaml"), "-o", str(work / f"x{ESC}.yaml")]


def _sweep_stderr(work: Path) -> list[str]:
    (work / "tiny.yaml").write_text(TINY)
    (work / "space.yaml").write_text(SPACE)
    assert invoke("sample", str(work / "space.yaml"), "-n", "1", "-o", str(work / "s")).exit_code == 0
    (work / "fail.py").write_text(f"import sys\nsys.stderr.write({ESC!r} + '[bold]boom[/]\\n')\nsys.exit(3)\n")
    return ["sweep", str(work / "s"), "--run", f"{sys.executable} {work / 'fail.py'} {{spec}}"]


ECHOES = {"validate's ok line": _validate_name, "an -o path": _output_path, "a sweep command's stderr": _sweep_stderr}


@pytest.mark.parametrize("case", sorted(ECHOES))
def test_what_came_from_outside_is_printed_escaped(tmp_path, case):
    result = invoke(*ECHOES[case](tmp_path))
    assert "\x1b" not in result.output and "\x07" not in result.output, repr(result.output)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in result.output, result.output
    if case == "a sweep command's stderr":
        assert "[bold]boom[/]" in result.output  # rich markup shown as written, not applied
