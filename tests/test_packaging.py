"""The distribution: what the wheel and sdist carry, and the core install working without torch.

One sdist and one wheel built from it, installed into one fresh venv (no system site
packages, no extras: the core dependencies come from the package index) per test
session. Commands there run outside the checkout, so they can only use what the
wheel carries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from checkout import copy_checkout
from conftest import ROOT, SPECS

import archspec
from archspec.plan.expand import spec_hash

NAMES = sorted(p.stem for p in SPECS.glob("*.yaml") if not p.name.startswith("_"))
HEAVY = ("torch", "onnx", "onnxruntime", "onnxscript", "torchvision", "graphviz", "matplotlib")


def run(argv: list[str], cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def dist(tmp_path_factory) -> dict[str, Path]:
    """An sdist of (a copy of) the checkout and the wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    source = copy_checkout(tmp_path_factory.mktemp("source"))
    done = run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(out), str(source)], out)
    assert done.returncode == 0, done.stderr[-3000:]
    [sdist] = out.glob("*.tar.gz")
    done = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                str(sdist)], out)
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="session")
def core(dist, tmp_path_factory) -> dict:
    """A fresh venv with the wheel and its core dependencies only; commands run in an empty directory."""
    venv = tmp_path_factory.mktemp("core-venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}  # not the checkout
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)], venv, env).returncode == 0
    python = venv / "bin" / "python"
    done = run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(dist["wheel"])], venv, env)
    assert done.returncode == 0, done.stderr[-3000:]
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {"bin": venv / "bin", "python": python, "env": env, "cwd": tmp_path_factory.mktemp("elsewhere")}


def in_core(core: dict, *argv: str) -> subprocess.CompletedProcess:
    return run([str(core["bin"] / argv[0]), *argv[1:]], core["cwd"], core["env"])


def test_wheel_and_sdist_carry_every_bundled_spec_and_the_schema(dist):
    schema = (ROOT / "docs" / "archspec.schema.json").read_bytes()
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        assert {f"archspec/specs/{n}.yaml" for n in NAMES} <= names
        for n in NAMES:
            assert wheel.read(f"archspec/specs/{n}.yaml") == (SPECS / f"{n}.yaml").read_bytes()
        assert wheel.read("archspec/archspec.schema.json") == schema
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    with tarfile.open(dist["sdist"]) as sdist:
        members = {m.name.partition("/")[2]: m for m in sdist.getmembers()}
        for name in [f"archspec/specs/{n}.yaml" for n in NAMES] + ["archspec/archspec.schema.json"]:
            assert members[name].isfile(), name  # the files themselves, not the checkout's links
    core_requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert sorted(r.split()[1].split("<")[0].split(">")[0].lower() for r in core_requirements) == [
        "pydantic", "pyyaml", "rich", "typer"]
    assert "Name: archspec-nn" in metadata and f"Version: {archspec.__version__}" in metadata


def test_core_install_has_no_torch_onnx_or_other_extras(core):
    probe = ("import importlib.util, sys\n"
             f"print(sorted(m for m in {HEAVY!r} if importlib.util.find_spec(m)))\n"
             "try:\n    import torch\nexcept ModuleNotFoundError:\n    print('no torch')\n"
             "try:\n    import onnx\nexcept ModuleNotFoundError:\n    print('no onnx')\n"
             "import archspec; print(archspec.__file__)")
    done = in_core(core, "python", "-c", probe)
    lines = done.stdout.splitlines()
    assert lines[:3] == ["[]", "no torch", "no onnx"], done.stderr
    assert str(core["bin"].parent) in lines[3] and str(ROOT) not in lines[3]  # the wheel, not the checkout


def test_core_install_validates_and_reports_every_bundled_spec_by_name(core):
    done = in_core(core, "archspec", "validate", *NAMES)
    assert done.returncode == 0, done.stderr
    assert len([line for line in done.stdout.splitlines() if line.startswith("ok ")]) == len(NAMES)
    done = in_core(core, "archspec", "report", *NAMES, "-f", "json")
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [r["name"] for r in reports] == [archspec.load(n).name for n in NAMES]
    for name, got in zip(NAMES, reports):
        want = archspec.report(SPECS / f"{name}.yaml")
        assert (got["params"], got["macs"]) == (want["params"], want["macs"]), name


def test_core_install_expands_every_bundled_spec_to_the_checkouts_hash(core):
    script = ("import sys\nfrom typer.testing import CliRunner\nfrom archspec.cli import app\n"
              "for name in sys.argv[1:]:\n"
              "    result = CliRunner().invoke(app, ['expand', name])\n"
              "    assert result.exit_code == 0, result.output\n"
              "    print(name, result.output.splitlines()[1].split()[-1])\n"
              "print('torch' in sys.modules)")
    done = in_core(core, "python", "-c", script, *NAMES)
    assert done.returncode == 0, done.stderr
    *hashes, torch_loaded = done.stdout.splitlines()
    assert hashes == [f"{n} {spec_hash(archspec.load(SPECS / f'{n}.yaml'))}" for n in NAMES]
    assert torch_loaded == "False"


def test_core_install_names_the_extra_a_command_needs(core):
    for argv, extra in ((["build", "resnet-20", "-e", "onnx"], "torch"), (["diagram", "resnet-20", "-o", "d.svg"],
                                                                          "diagram")):
        done = in_core(core, "archspec", *argv)
        assert done.returncode == 2
        assert done.stderr.strip().endswith(f"pip install 'archspec-nn[{extra}]'"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert list(core["cwd"].iterdir()) == []


def test_core_install_lists_specs_prints_its_version_and_ships_the_schema(core):
    done = in_core(core, "archspec", "list", "-f", "csv")
    assert [line.split(",")[0] for line in done.stdout.splitlines()[1:]] == NAMES
    assert in_core(core, "archspec", "--version").stdout == f"archspec {archspec.__version__} (distribution archspec-nn)\n"
    done = in_core(core, "python", "-c", "from archspec.spec.bundled import SCHEMA_PATH; print(SCHEMA_PATH.read_text(), end='')")
    assert done.stdout == (ROOT / "docs" / "archspec.schema.json").read_text()
    assert in_core(core, "archspec", "schema").stdout == done.stdout


def test_an_editable_clone_named_archspec_does_not_shadow_itself_from_its_parent(tmp_path):
    """`git clone ... archspec && pip install -e archspec`, then Python started in the clone's parent:
    the folder `archspec` there (no __init__.py) is a namespace-package portion, which a meta-path
    finder (setuptools' default editable mode for a flat layout) loses to, giving a module without
    `build`. pyproject's `package-dir = {"" = "."}` makes the editable install a .pth that puts the
    clone on sys.path, where the regular package beats the namespace portion."""
    clone = copy_checkout(tmp_path / "archspec")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}  # not this checkout
    assert run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], tmp_path,
               env).returncode == 0
    python = venv / "bin" / "python"
    done = run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                "--no-build-isolation", "-e", str(clone)], tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
    [pth] = [p for p in (venv / "lib").glob("python*/site-packages/__editable__*.pth")]
    assert pth.read_text().strip() == str(clone)  # a path entry, not an import hook
    probe = "import archspec; print(archspec.__file__); print(archspec.build.__module__)"
    done = run([str(python), "-c", probe], tmp_path, env)  # the clone's parent: ./archspec is the clone
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(clone / "archspec" / "__init__.py"), "archspec.api"]
