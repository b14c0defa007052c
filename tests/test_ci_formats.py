"""CI output of ``archspec validate``: GitHub annotations and GitLab code-quality JSON, from real runs.

Every located problem must point at the line (and, for GitHub, the column) of the spec
file where the offending key was written, so that the annotation lands on it. The
pre-commit hook is run for real, by ``pre-commit try-repo``, from a clean cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checkout import copy_checkout
from conftest import ROOT, SPECS

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
RESNET56 = (SPECS / "resnet-56.yaml").read_text()
ANNOTATION = re.compile(r"^::error file=(?P<file>[^,]+),line=(?P<line>\d+),col=(?P<col>\d+)::(?P<text>.*)$")

# file -> (text, the key each problem must point at, in reading order)
BROKEN = {
    "specs/two-errors.yaml": (RESNET56.replace("classes: 10", "classes: 0").replace("{stride: 2}, {stride: 2}",
                                                                                    "{strides: 2}, {stride: 2}"),
                              ["classes", "strides"]),
    "specs/depth.yaml": (RESNET56.replace("depth: 56", "depth: 57"), ["depth"]),
    "specs/nested/head.yaml": (RESNET56.replace("pool: avg}", "pool: max}"), ["pool"]),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A repository-like tree: one valid spec and the broken ones above, paths relative to it."""
    root = tmp_path_factory.mktemp("repo")
    (root / "specs" / "nested").mkdir(parents=True)
    (root / "specs" / "ok.yaml").write_text(RESNET56)
    for name, (text, _) in BROKEN.items():
        (root / name).write_text(text)
    return root


def validate(repo: Path, fmt: str, *paths: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archspec", "validate", "--format", fmt, *paths],
                          cwd=repo, env=ENV, capture_output=True, text=True, timeout=60)


def key_at(repo: Path, file: str, line: int, col: int | None = None) -> str:
    """The word the file has at 1-based (line, col), or the line's keys when no column is given."""
    text = (repo / file).read_text().splitlines()[line - 1]
    return re.match(r"[\w-]+", text[col - 1:]).group(0) if col else text


def test_github_annotations_land_on_the_offending_keys(repo):
    done = validate(repo, "github", "specs")
    assert done.returncode == 2
    annotations = [ANNOTATION.match(line) for line in done.stdout.splitlines() if line.startswith("::")]
    assert all(annotations), done.stdout
    by_file: dict[str, list[str]] = {}
    for found in annotations:
        by_file.setdefault(found["file"], []).append(key_at(repo, found["file"], int(found["line"]), int(found["col"])))
    assert by_file == {name: keys for name, (_, keys) in BROKEN.items()}
    assert "ok specs/ok.yaml: resnet-56" in done.stdout  # valid files are still confirmed


def test_github_annotation_escapes_newlines_and_percent(repo, tmp_path):
    bad = tmp_path / "odd.yaml"
    bad.write_text(RESNET56.replace("name: resnet-56", 'name: "50%\\n off"'))  # a real newline in the value
    done = validate(tmp_path, "github", "odd.yaml")
    [line] = [line for line in done.stdout.splitlines() if line.startswith("::")]  # one workflow command
    assert line.startswith("::error file=odd.yaml,line=2,col=1::name: ")
    assert "50%25\\n off" in line  # the newline shown escaped, as on the terminal: one line


def test_gitlab_report_is_one_json_array_with_the_right_lines(repo):
    done = validate(repo, "gitlab", "specs")
    assert done.returncode == 2
    issues = json.loads(done.stdout)  # the whole of stdout: the artifact file
    located = {}
    for issue in issues:
        assert issue["check_name"] == "archspec-validate" and issue["severity"] == "major"
        path, line = issue["location"]["path"], issue["location"]["lines"]["begin"]
        field = issue["description"].split(":")[0].split(".")[-1].split("[")[0]
        assert field in key_at(repo, path, line), (issue, key_at(repo, path, line))
        located.setdefault(path, []).append(field)
    assert located == {name: keys for name, (_, keys) in BROKEN.items()}
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
    assert "ok specs/ok.yaml" in done.stderr  # confirmations go to stderr, keeping stdout JSON


def test_gitlab_report_of_valid_specs_is_empty(repo):
    done = validate(repo, "gitlab", "specs/ok.yaml")
    assert done.returncode == 0 and json.loads(done.stdout) == []


def test_gitlab_report_names_unreadable_files_at_line_one(repo):
    done = validate(repo, "gitlab", "specs/missing.yaml", "specs/ok.yaml")
    [issue] = json.loads(done.stdout)
    assert done.returncode == 2
    assert issue["location"] == {"path": "specs/missing.yaml", "lines": {"begin": 1}}
    assert "cannot read the spec" in issue["description"]


def git(repo: Path, *argv: str) -> None:
    subprocess.run(["git", "-c", "user.name=archspec-test", "-c", "user.email=test@example.invalid", *argv],
                   cwd=repo, check=True, capture_output=True)


def committed_copy(dest: Path) -> Path:
    """The checkout as it is now, committed in a new repository: ``pre-commit try-repo`` installs
    the hook from a commit, and the work in progress (or a clean CI clone) is what must be tested."""
    copy_checkout(dest)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "archspec under test")
    return dest


def test_pre_commit_hook_passes_a_valid_spec_and_fails_an_invalid_one_with_its_location(tmp_path):
    hook_repo = committed_copy(tmp_path / "archspec")
    target = tmp_path / "models"
    (target / "specs").mkdir(parents=True)
    (target / "specs" / "good.yaml").write_text(RESNET56)
    (target / "specs" / "bad.yaml").write_text(RESNET56.replace("{stride: 2}, {stride: 2}", "{strides: 2}, {stride: 2}"))
    git(target, "init", "-q")
    git(target, "add", "-A")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}  # not the checkout
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")  # a clean cache: the hook's environment is built
    done = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "archspec-validate",
                           "--files", "specs/good.yaml", "specs/bad.yaml"],
                          cwd=target, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert re.search(r"^archspec validate\.+Failed$", out, re.M) and "- exit code: 2" in out, out
    assert ("error: specs/bad.yaml:9:26: body.stages[1].strides: unknown field `strides`; did you mean `stride`?"
            in out)
    assert "ok specs/good.yaml: resnet-56, 853,018 params" in out
    assert "Traceback" not in out
