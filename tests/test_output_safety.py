"""The one writer (archspec/files.py), tested by class: every command that writes a file.

Each writing command is run with a symbolic link, then a FIFO, where its output goes: it
must end with exit status 2 and one message naming the file, leave the link, its target
and the FIFO as they were, and leave no staged file behind. Then each is run under a file
size limit (a real short write, as a full disk gives): one message naming the file, nothing
written. A new writing command belongs in ``WRITERS``, and gets both tests.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from typer.testing import CliRunner

from archspec.cli import app
from conftest import deadline
from archspec.spec.limits import reset

ROOT = Path(__file__).resolve().parent.parent
RESNET56 = (ROOT / "specs" / "resnet-56.yaml").read_text()
TINY = "".join(line for line in RESNET56.replace("depth: 56", "depth: 8").replace("size: 32", "size: 8")
               .replace("name: resnet-56", "name: tiny").splitlines(True) if not line.startswith("reference:"))
SPACE = """base: tiny.yaml
vary:
  body.depth: {choice: [8, 14]}
"""
TRAIN = "import sys\nopen(sys.argv[1] + '/metrics.json', 'w').write('{\"acc\": 0.5}')\n"
runner = CliRunner()


@pytest.fixture(autouse=True)
def default_limits():
    yield
    reset()


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """A sample directory with two samples, swept once: what sweep and analyze read."""
    root = tmp_path_factory.mktemp("swept")
    (root / "tiny.yaml").write_text(TINY)
    (root / "space.yaml").write_text(SPACE)
    (root / "train.py").write_text(TRAIN)
    made = runner.invoke(app, ["sample", str(root / "space.yaml"), "-n", "2", "-o", str(root / "samples")])
    assert made.exit_code == 0, made.output
    ran = runner.invoke(app, ["sweep", str(root / "samples"), "--run", metrics_command(root)])
    assert ran.exit_code == 0 and "2 run (2 ok" in ran.output, ran.output
    return root / "samples"


def metrics_command(root: Path) -> str:
    return f"{sys.executable} {root / 'train.py'} {{out}} {{spec}}"


Setup = Callable[[Path, Path], tuple[list[str], Path]]  # (work dir, swept dir) -> (arguments, the output)


def _build(kind: str, *extra: str) -> Setup:
    suffix = {"onnx": ".onnx", "state_dict": ".pt", "safetensors": ".safetensors", "pt2": ".pt2",
              "python": ".py", "fx": ".fx.py"}[kind]
    return lambda work, _: (["build", str(work / "tiny.yaml"), "-e", kind, *extra, "-o", str(work / "out")],
                            work / "out" / f"tiny{suffix}")


def _sweep(work: Path, swept: Path) -> tuple[list[str], Path]:
    shutil.copytree(swept, work / "s")
    (work / "s" / "results.jsonl").unlink()
    shutil.rmtree(work / "s" / "runs")
    return ["sweep", str(work / "s"), "--run", metrics_command(swept.parent)], work / "s" / "results.jsonl"


WRITERS: dict[str, Setup] = {
    "build onnx": _build("onnx"),
    "build onnx --dynamic batch": _build("onnx", "--dynamic", "batch"),
    "build state_dict": _build("state_dict"),
    "build safetensors": _build("safetensors"),
    "build pt2": _build("pt2"),
    "build python": _build("python"),
    "build fx": _build("fx"),
    "expand": lambda w, _: (["expand", str(w / "tiny.yaml"), "-o", str(w / "x.yaml")], w / "x.yaml"),
    "fit": lambda w, _: (["fit", str(w / "tiny.yaml"), "--vary", "body.widening.base", "--params", "300K", "-o",
                          str(w / "fit.yaml")], w / "fit.yaml"),
    "diagram svg": lambda w, _: (["diagram", str(w / "tiny.yaml"), "-o", str(w / "fig.svg")], w / "fig.svg"),
    "diagram dot": lambda w, _: (["diagram", str(w / "tiny.yaml"), "-o", str(w / "fig.dot")], w / "fig.dot"),
    "plot": lambda w, _: (["plot", str(w / "tiny.yaml"), "-o", str(w / "fig.png")], w / "fig.png"),
    "sample": lambda w, _: (["sample", str(w / "space.yaml"), "-n", "2", "-o", str(w / "samples")],
                            w / "samples" / "index.jsonl"),
    "sweep": _sweep,
    "analyze": lambda w, s: (["analyze", str(s), "-m", "acc", "-o", str(w / "edf.png")], w / "edf.png"),
    "bench --table": lambda w, _: (["bench", str(w / "tiny.yaml"), "--rounds", "1", "--warmup", "1", "--no-progress",
                                    "--threads", "1", "--table", str(w / "table.json")], w / "table.json"),
}


def prepare(tmp_path: Path, swept: Path, name: str) -> tuple[list[str], Path]:
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "space.yaml").write_text(SPACE)
    args, target = WRITERS[name](tmp_path, swept)
    target.parent.mkdir(parents=True, exist_ok=True)
    return args, target


def files_in(folder: Path) -> dict[str, bytes]:
    """The regular files directly in ``folder`` (staged files included: none may be left)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


def invoke(args: list[str]):
    with deadline():
        return runner.invoke(app, args)


def refused(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_refuses_a_symlink_in_place_of_its_output(tmp_path, swept, name):
    args, target = prepare(tmp_path, swept, name)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target.symlink_to(victim)
    before = files_in(target.parent)
    refused(invoke(args), f"{target}: is a symbolic link")
    assert target.is_symlink() and os.readlink(target) == str(victim) and victim.read_text() == "keep me"
    assert files_in(target.parent) == before


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_refuses_a_fifo_in_place_of_its_output_without_waiting(tmp_path, swept, name):
    args, target = prepare(tmp_path, swept, name)
    os.mkfifo(target)  # nobody reads it: opening it to write would block for ever
    before = files_in(target.parent)
    refused(invoke(args), f"{target}: is not a regular file (a FIFO")
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert files_in(target.parent) == before


@contextmanager
def file_size_limit(size: int = 64) -> Iterator[None]:
    """Writes past ``size`` bytes fail with EFBIG: as on a full disk, the OS takes part of a
    write and refuses the rest (Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_names_its_file_when_the_disk_refuses_a_write(tmp_path, swept, name):
    args, target = prepare(tmp_path, swept, name)
    before = files_in(target.parent)
    with file_size_limit():
        result = invoke(args)
    where = target.parent if name == "sample" else target  # sample: the first spec file does not fit
    refused(result, f"cannot use {where}", "File too large; nothing was written")
    assert files_in(target.parent) == before  # no output, no staged file, no partial line


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_one_message_naming_the_file(tmp_path, monkeypatch, code):
    import archspec.files as files

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    (tmp_path / "tiny.yaml").write_text(TINY)
    monkeypatch.setattr(files, "_create_beside", refuse)  # where a read-only place refuses
    target = tmp_path / "x.yaml"
    refused(runner.invoke(app, ["expand", str(tmp_path / "tiny.yaml"), "-o", str(target)]),
            f"cannot use {target}: {os.strerror(code)}; nothing was written")
    assert not target.exists()


def test_staged_writers_that_need_the_target_name_check_the_target_too(tmp_path):
    from archspec.files import Batch, OutputError

    victim = tmp_path / "victim.py"
    victim.write_text("keep me")
    (tmp_path / "net.py").symlink_to(victim)
    os.mkfifo(tmp_path / "net.pt2")
    for name, why in (("net.py", "symbolic link"), ("net.pt2", "not a regular file")):
        with pytest.raises(OutputError, match=why), Batch() as batch:
            batch.named_path_for(tmp_path / name)
    assert victim.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["net.pt2", "net.py", "victim.py"]


def test_the_dot_fallback_never_replaces_an_existing_file(tmp_path):
    """Without `dot`, `diagram -o fig.svg` writes fig.dot instead, but not over the user's own fig.dot."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "tiny.yaml").write_text(TINY)
    mine = tmp_path / "fig.dot"
    mine.write_text("digraph mine {}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(tmp_path / "bin")}
    done = subprocess.run([sys.executable, "-m", "archspec", "diagram", str(tmp_path / "tiny.yaml"), "-o",
                           str(tmp_path / "fig.svg")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"the DOT source was not written: {mine} exists and is left as it was" in done.stderr
    assert mine.read_text() == "digraph mine {}" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["bin", "fig.dot", "tiny.yaml"]


STAGE_DIR_AND_WAIT = """
import sys, time
from pathlib import Path
from archspec.files import Batch
with Batch() as batch:
    batch.named_path_for(Path(sys.argv[1]) / "net.pt2").write_bytes(b"half")
    print("staged", flush=True)
    time.sleep(60)
"""


def test_sigterm_removes_staging_directories_and_a_later_write_removes_stale_ones(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", STAGE_DIR_AND_WAIT, str(tmp_path)], stdout=subprocess.PIPE,
                             text=True, env=env)
    assert child.stdout.readline().strip() == "staged"
    [staging] = list(tmp_path.iterdir())
    assert staging.is_dir() and staging.name.startswith(".net.pt2.") and (staging / "net.pt2").exists()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == []

    child = subprocess.Popen([sys.executable, "-c", STAGE_DIR_AND_WAIT, str(tmp_path)], stdout=subprocess.PIPE,
                             text=True, env=env)
    assert child.stdout.readline().strip() == "staged"
    child.kill()  # SIGKILL: nothing can clean up
    child.wait(timeout=30)
    [stale] = list(tmp_path.iterdir())
    old = time.time() - 3600
    os.utime(stale, (old, old))
    from archspec.files import Batch

    with Batch() as batch:
        batch.named_path_for(tmp_path / "net.pt2").write_bytes(b"whole")
        batch.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt2"] and (tmp_path / "net.pt2").read_bytes() == b"whole"
