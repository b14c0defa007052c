"""The hostile-input gaps of issue 13: each ends in exit status 2 and one located message.

YAML tags with values they cannot read, ``extends`` outside the spec's tree or through
links, control characters and unbounded echoes in messages, a closed standard input,
empty ``--set`` paths, builds too big for the machine, outputs that are links or FIFOs,
full disks, signals during a write, unusable checkpoint tensors, and wrong argument
types in the Python API.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import SpecError, load, load_text
from archspec.spec.limits import configure, reset

ROOT = Path(__file__).resolve().parent.parent
RESNET56 = (ROOT / "specs" / "resnet-56.yaml").read_text()
TINY = "".join(line for line in RESNET56.replace("depth: 56", "depth: 8").replace("size: 32", "size: 8")
               .splitlines(True) if not line.startswith("reference:"))  # a smaller network: not resnet-56
SECRET = "root:s3cr3t-hash-do-not-print:19000:0:99999:7:::"
runner = CliRunner()


@pytest.fixture(autouse=True)
def default_limits():
    """Global options (--max-memory, --allow-root) set process-wide limits: reset them after each test."""
    yield
    reset()


def cli(*args: str):
    return runner.invoke(app, list(args))


def refused(result, *needles: str) -> str:
    """Exit 2, a message, no traceback; every needle in the output."""
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output and "error:" in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for needle in needles:
        assert needle in output, output
    return output


# --- YAML scalar tags -------------------------------------------------------------------------

TAGGED = [('!!int ""', "an empty value as `!!int`"), ('!!float ""', "an empty value as `!!float`"),
          ('!!bool "maybe"', "`maybe` as `!!bool`"), ('!!int "0x"', "`0x` as `!!int`"),
          ('!!float "."', "`.` as `!!float`")]


@pytest.mark.parametrize("tagged,message", TAGGED, ids=[t for t, _ in TAGGED])
def test_a_scalar_tag_with_a_value_it_cannot_read_is_located(write_spec, tagged, message):
    path = write_spec(RESNET56.replace("classes: 10", f"classes: {tagged}"))
    refused(cli("validate", str(path)), f"{path}:5:10: classes: cannot read {message}")


def test_a_tagged_key_that_cannot_be_read_is_located(write_spec):
    path = write_spec(RESNET56 + '!!int "": 5\n')
    line = RESNET56.count("\n") + 1  # the key's own line, after the spec's
    refused(cli("validate", str(path)), f"{path}:{line}:1: cannot read an empty value as `!!int`")


def test_a_tagged_value_through_set_names_the_option_and_field():
    out = refused(cli("validate", str(ROOT / "specs" / "resnet-56.yaml"), "--set", 'classes=!!bool "maybe"'))
    assert "classes: --set 'classes=!!bool \"maybe\"': cannot read `maybe` as `!!bool`" in out


# --- extends ---------------------------------------------------------------------------------


def test_extends_through_a_symlink_loop_is_located(tmp_path):
    (tmp_path / "loop1.yaml").symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(tmp_path / "loop1.yaml")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nextends: loop1.yaml\n")
    refused(cli("validate", str(spec)), f"{spec}:2:1: extends: `extends: loop1.yaml`: a loop of symbolic links")


def test_extends_with_a_nul_byte_is_located(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text('name: x\nextends: "base\\0.yaml"\n')
    refused(cli("validate", str(spec)), f"{spec}:2:1: extends:", "cannot contain a NUL byte", "base\\x00.yaml")


def test_an_over_long_extends_name_is_located_and_capped(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: x\nextends: {'a' * 5000}.yaml\n")
    out = refused(cli("validate", str(spec)), f"{spec}:2:1: extends:", "the name is too long", "more characters")
    assert len(out) < 1000


@pytest.fixture
def outside(tmp_path):
    """A spec tree (tmp/tree) and, outside it, a credential file and a valid base (tmp/elsewhere)."""
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"
    tree.mkdir()
    elsewhere.mkdir()
    (elsewhere / "shadow").write_text(SECRET + "\n")
    (elsewhere / "shadow.yaml").write_text(f"{SECRET}: 1\nname: x\n")
    (elsewhere / "base.yaml").write_text(TINY)
    return tree, elsewhere


@pytest.mark.parametrize("base", ["shadow", "shadow.yaml", "base.yaml"])
def test_extends_outside_the_spec_tree_is_refused_without_reading_it(outside, base):
    tree, elsewhere = outside
    spec = tree / "spec.yaml"
    spec.write_text(f"extends: {elsewhere / base}\nname: child\n")
    out = refused(cli("validate", str(spec)), f"{spec}:1:1: extends:")
    assert SECRET not in out and "s3cr3t" not in out
    assert ("*.yaml or *.yml" if base == "shadow" else "is outside the directory of the spec") in out
    with pytest.raises(SpecError, match="outside the directory|\\*.yaml"):
        load(spec)


def test_a_symlink_in_the_tree_cannot_lead_extends_out_of_it(outside):
    tree, elsewhere = outside
    (tree / "link.yaml").symlink_to(elsewhere / "shadow.yaml")
    spec = tree / "spec.yaml"
    spec.write_text("extends: link.yaml\nname: child\n")
    out = refused(cli("validate", str(spec)), "is outside the directory of the spec")
    assert "s3cr3t" not in out


def test_allow_root_lets_extends_read_specs_but_never_echoes_a_non_spec(outside):
    tree, elsewhere = outside
    good, bad = tree / "good.yaml", tree / "bad.yaml"
    good.write_text(f"extends: {elsewhere / 'base.yaml'}\nname: child\n")
    bad.write_text(f"extends: {elsewhere / 'shadow.yaml'}\nname: child\n")
    ok = cli("--allow-root", str(elsewhere), "validate", str(good))
    assert ok.exit_code == 0 and "ok" in ok.output and "child" in ok.output, ok.output
    out = refused(cli("--allow-root", str(elsewhere), "validate", str(bad)),
                  f"{bad}:1:1: extends:", "not a spec", "its content is not shown")
    assert "s3cr3t" not in out
    assert load(good, allow_roots=[elsewhere]).name == "child"  # the API's explicit option
    with pytest.raises(SpecError) as info:
        load(bad, allow_roots=[elsewhere])
    assert "s3cr3t" not in str(info.value)


def test_a_non_spec_base_in_the_tree_is_refused_before_any_of_it_is_quoted(tmp_path):
    (tmp_path / "creds.yaml").write_text(f"token: '{SECRET}'\ntoken: '{SECRET}'\n")  # a duplicate key, too
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nextends: creds.yaml\n")
    out = refused(cli("validate", str(spec)), f"{spec}:2:1: extends: `extends: creds.yaml`: not a spec")
    assert "s3cr3t" not in out and "token" not in out


# --- messages ----------------------------------------------------------------------------------


def test_control_characters_in_values_and_keys_are_escaped(write_spec):
    path = write_spec(RESNET56.replace("name: resnet-56", 'name: "a\\e[31mred\\a"') + '"\\e]0;pwned\\a": 1\n')
    out = refused(cli("validate", str(path)))
    assert "\x1b" not in out and "\x07" not in out
    assert "`a\\x1b[31mred\\x07` cannot name output files" in out and "unknown field `\\x1b]0;pwned\\x07`" in out
    with pytest.raises(SpecError) as info:
        load(path)
    assert "\x1b" not in str(info.value)


def test_a_raw_control_character_gets_file_line_and_column(write_spec):
    path = write_spec(RESNET56.replace("classes: 10", "classes: 1\x1b0"))
    refused(cli("validate", str(path)), f"{path}:5:11: not valid YAML: character U+001B is not allowed")


def test_a_900_kb_name_gives_a_short_message(write_spec):
    path = write_spec(RESNET56.replace("name: resnet-56", f"name: {'x' * 900_000}"))
    out = refused(cli("validate", str(path)), f"{path}:2:1: name:", "more characters")
    assert len(out) < 2_000


def test_9000_unknown_keys_list_twenty_problems_and_count_the_rest(write_spec):
    path = write_spec(RESNET56 + "".join(f"k{i}: 1\n" for i in range(9000)))
    out = refused(cli("validate", str(path)), "... and 8,980 more problems in")
    assert out.count("unknown field") == 20 and len(out.replace(str(path), "spec.yaml")) < 5_000  # not the folder's
    github = cli("validate", "--format", "github", str(path))
    short = github.output.replace(str(path), "spec.yaml")  # bounded by problems, not by the folder's name
    assert github.exit_code == 2 and github.output.count("::error") == 21 and len(short) < 5_000
    with pytest.raises(SpecError) as info:
        load(path)
    assert len(info.value.problems) == 9000 and len(str(info.value).replace(str(path), "spec.yaml")) < 5_000


# --- command line ------------------------------------------------------------------------------


def test_validate_with_standard_input_closed_exits_2():
    result = subprocess.run([sys.executable, "-m", "archspec", "validate", "-"], capture_output=True, text=True,
                            preexec_fn=lambda: os.close(0), timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "<stdin>: cannot read the spec from standard input: it is closed" in result.stderr


@pytest.mark.parametrize("override", [".=5", "=5", "a..b=1", "body.=1", ".body.depth=20"])
def test_an_empty_set_path_is_an_error(override):
    out = refused(cli("validate", str(ROOT / "specs" / "resnet-56.yaml"), "--set", override), f"--set '{override}'")
    assert "empty part" in out or "expected PATH=VALUE" in out


# --- resources ---------------------------------------------------------------------------------


def test_a_valid_spec_that_would_allocate_36_gb_is_refused_before_building(tmp_path):
    spec = str(ROOT / "specs" / "resnet-56.yaml")
    assert cli("validate", spec, "--set", "classes=140000000").exit_code == 0  # within --max-params
    started = time.perf_counter()
    out = refused(cli("--max-memory", "8GiB", "build", spec, "--set", "classes=140000000", "-o", str(tmp_path / "o")),
                  "head: building resnet-56 would need about 46.5 GiB (33.9 GiB of weights", "above the memory limit of 8.0 GiB")
    assert "--max-memory" in out and not (tmp_path / "o").exists()
    assert time.perf_counter() - started < 10  # refused from the Plan: 36 GB was never asked for
    configure(max_memory=8 << 30)
    with pytest.raises(SpecError, match="33.9 GiB"):
        archspec.build(spec, overrides=["classes=140000000"])


def test_exporting_a_4096_input_is_refused_at_input_size(tmp_path):
    out = refused(cli("--max-memory", "4GiB", "build", str(ROOT / "specs" / "resnet-18.yaml"), "-e", "onnx",
                      "--set", "input.size=4096", "-o", str(tmp_path / "o")),
                  "input.size: building resnet-18 would need about 43.8 GiB", "activations at batch 8",
                  "above the memory limit of 4.0 GiB")
    assert "(value from --set input.size=4096)" in out and not (tmp_path / "o").exists()


def test_the_weight_estimate_is_every_parameter_and_buffer_of_the_built_module():
    from archspec.plan.memory_budget import estimate

    resolved = archspec.plan(load_text(TINY))
    module = archspec.build(load_text(TINY))
    values = sum(t.numel() for t in module.state_dict().values())
    found = estimate(resolved)
    assert found.weights == 4 * values and found.activations == 0
    with_batch = estimate(resolved, forward_batch=3)
    biggest = max(u.in_channels * u.in_size[0] * u.in_size[1] for u in resolved.units)
    assert with_batch.activations > 3 * 4 * biggest and with_batch.total > found.total


def test_max_memory_takes_sizes_and_refuses_nonsense():
    from archspec.plan.memory_budget import parse_size

    assert [parse_size(t) for t in ("8GiB", "8G", "8GB", "512MiB", "8e9", "1024")] == \
        [8 << 30, 8 << 30, 8 * 10**9, 512 << 20, 8 * 10**9, 1024]
    bad = cli("--max-memory", "lots", "validate", str(ROOT / "specs" / "resnet-20.yaml"))
    assert bad.exit_code == 2 and "--max-memory" in bad.output and "'lots'" in bad.output


# --- outputs -----------------------------------------------------------------------------------

STAGE_AND_WAIT = """
import sys, time
from archspec.export.atomic import Batch
batch = Batch()
for name in ("net.onnx", "net.pt"):
    batch.path_for(sys.argv[1] + "/" + name).write_bytes(b"half a file")
print("staged", flush=True)
time.sleep(60)
"""


def test_sigterm_while_exports_are_staged_removes_them(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", STAGE_AND_WAIT, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout.readline().strip() == "staged"
    assert len(list(tmp_path.iterdir())) == 2  # .net.onnx.PID-XXXXXXXX.tmp and .net.pt.PID-XXXXXXXX.tmp
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM  # still killed by the signal, as without us
    assert list(tmp_path.iterdir()) == []


def test_stale_staged_files_of_a_dead_process_are_removed_on_the_next_write(tmp_path):
    from archspec.export.atomic import write_text

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    old = time.time() - 3600
    stale = [tmp_path / f".report.txt.{dead_pid}-abcd1234.tmp", tmp_path / ".report.txt.k2j4h5g6.tmp"]
    kept = [tmp_path / f".report.txt.{os.getpid()}-abcd1234.tmp",  # this process: live
            tmp_path / ".other.txt.k2j4h5g6.tmp",  # another target's
            tmp_path / ".report.txt.tmp", tmp_path / "notes.tmp"]  # not our naming
    for path in stale + kept:
        path.write_text("x")
        os.utime(path, (old, old))
    fresh = tmp_path / f".report.txt.{dead_pid}-zzzz9999.tmp"  # newer than this process: not ours to judge
    fresh.write_text("x")
    write_text(tmp_path / "report.txt", "new")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept + [fresh]) and (tmp_path / "report.txt").read_text() == "new"


def test_a_full_disk_names_the_file_and_writes_nothing(tmp_path, monkeypatch):
    import torch

    import archspec.export.build as export_build

    from archspec.export.atomic import WholeWrites

    with pytest.raises(OSError) as info, WholeWrites("/dev/full") as full:
        torch.save({"w": torch.zeros(1000)}, full)  # what build_exports relies on: an OSError, not a RuntimeError
    assert info.value.errno == errno.ENOSPC

    def save_on_a_full_disk(obj, file):
        file.write(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export_build.torch, "save", save_on_a_full_disk)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "out"
    result = cli("build", str(spec), "-e", "fx", "-e", "state_dict", "-o", str(out))
    refused(result, f"cannot use {out / 'resnet-56.pt'}: No space left on device; nothing was written")
    assert list(out.iterdir()) == []


def test_a_file_size_limit_mid_save_names_the_file_not_a_torch_traceback(tmp_path):
    """A real short write: under ``ulimit -f`` the OS takes part of torch.save's data, then refuses."""
    import resource

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "archspec", "build", str(spec), "-e", "fx", "-e", "state_dict", "-o", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)))  # the .pt is ~300 KB
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot use {out / 'resnet-56.pt'}: File too large; nothing was written" in result.stderr
    assert list(out.iterdir()) == []


def test_outputs_that_are_symlinks_or_fifos_are_refused_and_left_alone(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    real = tmp_path / "real.yaml"
    real.write_text("keep me")
    link, fifo = tmp_path / "link.yaml", tmp_path / "fifo.yaml"
    link.symlink_to(real)
    os.mkfifo(fifo)
    refused(cli("expand", str(spec), "-o", str(link)), f"{link}: is a symbolic link")
    assert link.is_symlink() and real.read_text() == "keep me"
    refused(cli("expand", str(spec), "-o", str(fifo)), f"{fifo}: is not a regular file (a FIFO")
    out = tmp_path / "out"
    out.mkdir()
    (out / "resnet-56.pt").symlink_to(real)
    refused(cli("build", str(spec), "-e", "state_dict", "-o", str(out)), "resnet-56.pt: is a symbolic link")
    assert real.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["fifo.yaml", "link.yaml", "out", "real.yaml", "tiny.yaml"]


# --- weights -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_state():
    return archspec.build(load_text(TINY)).state_dict()


UNUSABLE = {
    "meta": (lambda t: t.to("meta"), "is a meta tensor"),
    "sparse": (lambda t: t.to_sparse(), "is a sparse_coo tensor"),
    "complex": (lambda t: t.to(__import__("torch").complex64), "has dtype complex64, but the layer holds float32"),
    "float64": (lambda t: t.double(), "has dtype float64"),
}


@pytest.mark.parametrize("kind", sorted(UNUSABLE))
def test_unusable_checkpoint_tensors_are_refused_by_name(tmp_path, tiny_state, kind):
    import torch

    change, message = UNUSABLE[kind]
    state = {**tiny_state, "stem.conv.weight": change(tiny_state["stem.conv.weight"])}
    weights = tmp_path / "w.pt"
    torch.save(state, weights)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = cli("build", str(spec), "-w", str(weights), "--weights-format", "archspec", "-e", "state_dict",
                 "-o", str(tmp_path / "out"))
    refused(result, "tensor 'stem.conv.weight'", message)
    assert not (tmp_path / "out").exists()


# --- the Python API ----------------------------------------------------------------------------

WRONG = [
    (lambda: load(ROOT / "specs" / "resnet-20.yaml", limits="big"), "limits must be an archspec.spec.limits.Limits"),
    (lambda: load(ROOT / "specs" / "resnet-20.yaml", "body.depth=20"), "overrides must be a list of 'path=value'"),
    (lambda: archspec.plan(str(ROOT / "specs" / "resnet-20.yaml"), overrides="body.depth=20"), "overrides must be"),
    (lambda: archspec.plan(str(ROOT / "specs" / "resnet-20.yaml"), overrides=[20]), "overrides[0] must be"),
    (lambda: load(os.fsencode(ROOT / "specs" / "resnet-20.yaml")), "path must be a str or pathlib.Path, got bytes"),
    (lambda: archspec.report(b"specs/resnet-20.yaml"), "spec must be a str or pathlib.Path, got bytes"),
    (lambda: load(ROOT / "specs" / "resnet-20.yaml", allow_roots="/tmp"), "allow_roots must be a list"),
    (lambda: load_text(TINY.encode()), "text must be the spec's YAML text as a str"),
]


@pytest.mark.parametrize("call,message", WRONG, ids=[m.split()[0] + str(i) for i, (_, m) in enumerate(WRONG)])
def test_wrong_argument_types_raise_a_type_error_naming_the_argument(call, message):
    with pytest.raises(TypeError) as info:
        call()
    assert message in str(info.value)
