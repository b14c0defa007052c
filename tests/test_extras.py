"""A command whose optional extra is missing ends with one line naming the extra, exit 2.

The modules are made unimportable in a fresh interpreter by a ``sys.meta_path`` finder
that refuses them, as an environment without them would; the core install test
(test_packaging.py) checks the same with torch really absent, and that the core
commands run there.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, SPECS

from archspec.extras import EXTRA_OF, MissingExtra, missing_extra, require

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
BLOCKER = """
import sys
BLOCKED = set(sys.argv.pop(1).split(","))
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Refuse())
"""
CLI = BLOCKER + "from archspec.cli import main\nsys.argv[0] = 'archspec'\nmain()\n"
RESNET20 = str(SPECS / "resnet-20.yaml")


def run_blocked(blocked: str, *argv: str, code: str = CLI, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, blocked, *argv], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("blocked, argv, extra", [
    ("torch", ["build", RESNET20], "torch"),
    ("onnxruntime", ["build", RESNET20, "-e", "onnx"], "torch"),
    ("graphviz", ["diagram", RESNET20, "-o", "{out}/d.svg"], "diagram"),
    ("torch", ["report", RESNET20, "--verify"], "torch"),
])
def test_missing_extra_is_one_line_naming_it(tmp_path, blocked, argv, extra):
    done = run_blocked(blocked, *[a.format(out=tmp_path) for a in argv])
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {blocked} is not installed for {'archspec ' + argv[0] if argv[0] != 'report' else 'report --verify'}"
        f": pip install 'archspec-nn[{extra}]'"]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_lazy_import_of_an_extra_deep_inside_is_named_too():
    """The CLI's safety net: a ModuleNotFoundError of a listed module, even past ``require``."""
    code = BLOCKER + """
from archspec.cli import app, main
@app.command("needs-matplotlib")
def needs() -> None:
    import matplotlib.pyplot  # noqa: F401
sys.argv[0] = "archspec"
main()
"""
    done = run_blocked("matplotlib", "needs-matplotlib", code=code)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: matplotlib is not installed: pip install 'archspec-nn[plot]'"


def test_an_unrelated_import_error_is_not_disguised_as_an_extra():
    assert missing_extra(ModuleNotFoundError("No module named 'yaml_x'", name="yaml_x")) is None
    assert missing_extra(ImportError("cannot import name 'x' from 'torch'")) is None
    assert missing_extra(ModuleNotFoundError("No module named 'torch.fx'", name="torch.fx")).extra == "torch"


def test_api_build_without_torch_raises_missing_extra():
    code = BLOCKER + """
import archspec
from archspec.extras import MissingExtra
try:
    archspec.build("resnet-20")
except MissingExtra as exc:
    print(exc)
print(archspec.report("resnet-20")["params"])
"""
    done = run_blocked("torch", code=code)
    assert done.stdout.splitlines() == ["torch is not installed: pip install 'archspec-nn[torch]'", "269722"]


def test_require_passes_installed_modules_and_names_the_first_missing(monkeypatch):
    require("yaml", "pydantic")  # core modules: nothing raised
    monkeypatch.setitem(EXTRA_OF, "no_such_module_here", "sweep")
    with pytest.raises(MissingExtra, match=r"^no_such_module_here is not installed for x: pip install 'archspec-nn\[sweep\]'$"):
        require("yaml", "no_such_module_here", needed_for="x")


def test_extras_named_in_the_messages_exist_in_pyproject():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_OF.values()) <= set(extras)
    declared = {req.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
                for name in EXTRA_OF.values() for req in extras[name]}
    assert set(EXTRA_OF) <= declared
