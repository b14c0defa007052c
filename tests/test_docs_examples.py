"""Every example in docs/*.md can be pasted: the test runs them as a reader would.

The code fence's info string says what an example is (docs/getting-started.md, "The
examples in these docs"): ``sh`` commands are run, each line in bash at the root of a
scratch copy of the repository (so what they write lands there), and must exit 0;
``sh slow`` commands (builds, exports) are parsed by the CLI, and run too when
``ARCHSPEC_DOCS_SLOW=1``; ``python`` blocks are run, ``python slow`` ones compiled (run
with ``ARCHSPEC_DOCS_SLOW=1``), ``python excerpt`` ones compiled; ``sh setup``,
``synopsis``, ``console`` and ``text`` blocks are not commands. A fence with another info
string, or a bare one holding a command, fails the test: every example is marked.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = sorted((ROOT / "docs").glob("*.md"))
SLOW = os.environ.get("ARCHSPEC_DOCS_SLOW") == "1"
RUN = {"sh", "python"}
CHECK = {"sh slow", "python slow", "python excerpt"}
NOT_RUN = {"sh setup", "synopsis", "console", "text", "yaml", "json"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.M | re.S)


@dataclass(frozen=True)
class Example:
    doc: str
    line: int  # of the opening fence
    kind: str  # the fence's info string
    code: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"

    def commands(self) -> list[str]:
        """Shell lines, a trailing backslash joining a line to the next."""
        return [c.strip() for c in self.code.replace("\\\n", " ").splitlines() if c.strip()]


def examples() -> list[Example]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            found.append(Example(doc.name, text[:match.start()].count("\n") + 1, match.group(1).strip(),
                                 match.group(2)))
    return found


ALL = examples()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A scratch repository root: the package, specs and examples linked, scripts copied (they write
    relative to themselves), an empty docs/img; ``archspec`` on PATH runs this checkout."""
    root = tmp_path_factory.mktemp("docs-root")
    for name in ("archspec", "specs", "examples"):
        (root / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "scripts", root / "scripts")
    (root / "docs" / "img").mkdir(parents=True)
    bin_dir = root / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "archspec"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m archspec "$@"\n')
    shim.chmod(0o755)
    python = bin_dir / "python"
    python.symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT),
           "COLUMNS": "100"}
    return {"root": root, "env": env}


def marking_problems(found: list[Example]) -> list[str]:
    """Examples whose fence does not say what they are, or says it wrongly."""
    problems = [f"{e}: unknown code-fence info string {e.kind!r}" for e in found
                if e.kind not in RUN | CHECK | NOT_RUN | {""}]
    for example in found:
        if example.kind == "" and re.search(r"^\s*\$?\s*(archspec|python|pip|PYTHONPATH)\b", example.code, re.M):
            problems.append(f"{example}: a bare fence holding a command: mark it sh, sh slow, synopsis, console...")
        if example.kind in ("sh", "sh slow"):
            code = "\n".join(line.split(" #")[0] for line in example.code.splitlines())  # comments may say a|b
            if re.search(r"\[--|\{[a-z]+,[a-z]+}|\w\|\w", code):
                problems.append(f"{example}: a synopsis ([--opt], {{a,b}}, a|b) in a runnable block: use a synopsis fence")
    return problems


def test_every_example_is_marked_with_what_it_is() -> None:
    assert marking_problems(ALL) == []
    assert sum(e.kind == "sh" for e in ALL) >= 8 and sum(e.kind == "synopsis" for e in ALL) >= 3
    bad = [Example("x.md", 1, "sh", "archspec report SPEC [--by stage] [-f json|csv]\n"),
           Example("x.md", 5, "", "archspec validate specs/\n"), Example("x.md", 9, "bash", "ls\n")]
    assert len(marking_problems(bad)) == 3


@pytest.mark.parametrize("doc", [d.name for d in DOCS])
def test_examples_run(doc: str, sandbox: dict) -> None:
    for example in (e for e in ALL if e.doc == doc):
        if example.kind == "sh" or (example.kind == "sh slow" and SLOW):
            for command in example.commands():
                done = subprocess.run(["bash", "-c", command], cwd=sandbox["root"], env=sandbox["env"],
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, f"{example}: `{command}` exited {done.returncode}:\n{done.stderr}"
                assert "Traceback" not in done.stderr, f"{example}: `{command}`:\n{done.stderr}"
        elif example.kind == "sh slow":
            for command in example.commands():
                check_parses(example, command)
        elif example.kind.startswith("python"):
            compile(example.code, str(example), "exec")
            if example.kind == "python" or (example.kind == "python slow" and SLOW):
                done = subprocess.run([sys.executable, "-c", example.code], cwd=sandbox["root"], env=sandbox["env"],
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, f"{example} exited {done.returncode}:\n{done.stderr}"


def check_parses(example: Example, command: str) -> None:
    """An ``archspec`` line's command, options and choices, as the CLI parses them (nothing runs)."""
    import typer
    import typer.main

    from archspec.cli import app

    words = shlex.split(command, comments=True)
    if not words or words[0] != "archspec":
        return
    group = typer.main.get_command(app)
    name, *args = words[1:]
    assert name in group.commands, f"{example}: no command {name!r} in `{command}`"  # type: ignore[attr-defined]
    try:
        group.commands[name].make_context(name, args)  # type: ignore[attr-defined]
    except typer.TyperException as exc:  # typer's click: usage errors, bad option values
        # a file an earlier line of the example writes (a checkpoint) does not exist yet
        if "does not exist" not in str(exc.format_message()):
            raise AssertionError(f"{example}: `{command}`: {exc.format_message()}") from None


def test_a_broken_example_fails(sandbox: dict) -> None:
    """The checks can fail: a mistyped option and a bare command are caught."""
    bad = Example("x.md", 1, "sh slow", "archspec build specs/resnet-56.yaml --exprot onnx\n")
    with pytest.raises(AssertionError, match="No such option"):
        check_parses(bad, bad.commands()[0])
    done = subprocess.run(["bash", "-c", "archspec report specs/no-such.yaml"], cwd=sandbox["root"],
                          env=sandbox["env"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no-such.yaml" in done.stderr
