"""Fuzzing: bundled specs mutated at random must end cleanly in validate, report and build.

Hypothesis drops, replaces and retypes fields, writes weird scalars (empty, huge, NaN,
control characters, 5,000-character strings), nests values deeply, and mangles the YAML
text itself (tags, aliases, tabs, control characters). Every outcome must be clean:
success, or a SpecError whose problems all carry a message (in process), or exit 2 with
``error:`` and no traceback (CLI); a failed build writes nothing. Limits are lowered so
that the worst case stays cheap; builds run only on a tiny spec under a low --max-memory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import SpecError, load_text
from archspec.spec.limits import configure, reset

ROOT = Path(__file__).resolve().parent.parent
BASES = ["resnet-20", "wrn-16-4", "densenet-bc-100-12", "pyramidnet-110-a270", "vgg-16", "efficientnet-b0",
         "googlenet", "resnext-29-8x64d"]
TEXTS = {name: (ROOT / "specs" / f"{name}.yaml").read_text() for name in BASES}
FUZZ_LIMITS = dict(max_units=400, max_params=10**9, max_macs=10**11, max_memory=256 << 20)
runner = CliRunner()

WEIRD = st.one_of(
    st.sampled_from([None, "", " ", 0, -1, 1, 2**31, 10**12, 10**400, 1e308, math.inf, -math.inf, math.nan, -0.0,
                     True, False, "yes", "no", "1e5", "0x10", "\x1b[31mred\x07", "\u202eevil", "a" * 5000, [], {},
                     [[[[[[1]]]]]], {"type": "nonsense"}, {"rule": "nonsense"}, "basic", "bn", "relu", "avg"]),
    st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
RAW = ['!!int ""', '!!float ""', '!!bool "maybe"', "!!python/object:os.system", "&a", "*a", "<<: *a", "\t", "\x1b",
       "\x00", "\ufeff", "{", "]", ": :", "---\n", "%YAML 1.1\n", "? ", "- ", "'", '"']


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into the nested data, the root's children first."""
    out = []
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))
    else:
        return out
    for key, value in items:
        out.append(prefix + (key,))
        out += paths(value, prefix + (key,))
    return out


def mutate(data: Any, path: tuple, how: str, value: Any, small: int) -> None:
    """Change ``data`` at ``path``; ``tweak`` keeps a number a number (``small``), so most such
    specs stay valid and reach the planner and the builder."""
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if how == "drop":
        del parent[key]
    elif how == "replace":
        parent[key] = value
    elif how == "retype":
        old = parent[key]
        parent[key] = [old] if not isinstance(old, list) else {"items": old}
    elif how == "tweak" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        parent[key] = small if isinstance(parent[key], int) else small / 100
    elif how == "stringify":
        parent[key] = str(parent[key])
    elif how == "nest":
        for _ in range(40):
            parent[key] = [parent[key]]
    elif how == "unknown" and isinstance(parent[key], dict):
        parent[key][f"x{value!s:.20}"] = value


@st.composite
def mutated_specs(draw: st.DrawFn, bases: list[str] = BASES) -> str:
    """YAML text: a bundled spec with 1-3 data mutations, then maybe a raw text mutation."""
    base = draw(st.sampled_from(bases))
    data = yaml.safe_load(TEXTS[base])
    for _ in range(draw(st.integers(1, 3))):
        choices = paths(data)
        if not choices:
            break
        path = draw(st.sampled_from(choices))
        how = draw(st.sampled_from(["drop", "replace", "retype", "stringify", "nest", "unknown", "tweak", "tweak"]))
        mutate(data, path, how, draw(WEIRD), draw(st.integers(-1, 300)))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))
    if draw(st.integers(0, 3)) == 0:  # one in four: mangle the text too
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(RAW)) + text[at:]
    return text


@pytest.fixture(autouse=True)
def low_limits():
    configure(**FUZZ_LIMITS)
    yield
    reset()


def clean_in_process(text: str, file: str) -> None:
    """validate (load + plan) and report: success, or a SpecError with a message per problem."""
    try:
        resolved = archspec.plan(load_text(text, file))
        archspec.report(load_text(text, file))
    except SpecError as exc:
        assert exc.problems and all(p.message.strip() for p in exc.problems)
        assert len(str(exc)) < 20_000 and "\x1b" not in str(exc)
        return
    assert resolved.params > 0


def clean_cli(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "\x1b" not in result.output
    if result.exit_code == 2:
        assert "error:" in result.output


# ARCHSPEC_FUZZ_EXAMPLES=2000 fuzzes harder (the suite keeps to a few seconds)
EXAMPLES = int(os.environ.get("ARCHSPEC_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=mutated_specs())
def test_mutated_specs_validate_and_report_cleanly(tmp_path, text):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    clean_in_process(text, str(spec))
    clean_cli(runner.invoke(app, ["validate", str(spec)]))
    clean_cli(runner.invoke(app, ["report", "--format", "csv", str(spec)]))


TINY_BUILD = ["--set", "input.size=16"]  # builds only at a tiny input, of the smallest bundled spec


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 1))
@given(text=mutated_specs(["resnet-20"]))
def test_mutated_tiny_specs_build_cleanly_and_write_nothing_on_failure(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("fuzz")
    spec, out = folder / "spec.yaml", folder / "out"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = runner.invoke(app, ["--max-memory", "256MiB", "build", str(spec), *TINY_BUILD, "-e", "state_dict",
                                 "-o", str(out)])
    clean_cli(result)
    if result.exit_code == 0:
        assert [p.suffix for p in out.iterdir()] == [".pt"]
    else:
        assert not out.exists() or list(out.iterdir()) == []
    try:
        module = archspec.build(str(spec), overrides=TINY_BUILD[1:])
    except SpecError as exc:
        assert result.exit_code == 2 and exc.problems
    else:
        assert result.exit_code == 0, result.output
        assert sum(p.numel() for p in module.parameters()) > 0


OVERRIDES = st.lists(st.one_of(
    st.from_regex(r"[a-z_.\[\]0-9]{0,16}=[ -~]{0,16}", fullmatch=True),
    st.builds(lambda path, value: f"{path}={value}",
              st.sampled_from(["name", "classes", "input.size", "body.depth", "body.stages[1].stride", "body.block",
                               "body.widening.base", "stem.width", "head", "body.stages.0", "."]),
              st.sampled_from(RAW + ["null", "[]", "{}", "1e400", "-1", "0", "{type: bottleneck}", "[1, 2]"])),
), min_size=1, max_size=3)


@settings(FUZZ, max_examples=max(EXAMPLES // 2, 1))
@given(sets=OVERRIDES)
def test_random_set_overrides_end_cleanly(sets):
    spec = str(ROOT / "specs" / "resnet-20.yaml")
    args = [arg for override in sets for arg in ("--set", override)]
    clean_cli(runner.invoke(app, ["validate", spec, *args]))
    try:
        archspec.plan(spec, overrides=sets)
    except SpecError as exc:
        assert exc.problems and all(p.message.strip() for p in exc.problems)


# --- design-space inputs: space files and sample directories ----------------------------------

SPACE = """base: base.yaml
vary:
  body.depth: {choice: [8, 14, 20]}
  body.widening.base: {int: [8, 16], step: 4}
tie: {body.widening.base: [stem.width]}
budget: {params: [null, 400K]}
"""


@st.composite
def mutated_yaml(draw: st.DrawFn, text: str) -> str:
    """``text`` (YAML) with 1-3 data mutations, then maybe a raw text mutation."""
    data = yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 3))):
        choices = paths(data)
        if not choices:
            break
        how = draw(st.sampled_from(["drop", "replace", "retype", "stringify", "nest", "unknown", "tweak"]))
        mutate(data, draw(st.sampled_from(choices)), how, draw(WEIRD), draw(st.integers(-1, 300)))
    text = yaml.safe_dump(data, sort_keys=False)
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(RAW)) + text[at:]
    return text


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 1))
@given(text=mutated_yaml(SPACE))
def test_mutated_space_files_sample_and_fit_cleanly(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("space")
    (folder / "base.yaml").write_text(TEXTS["resnet-20"])
    (folder / "space.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    result = runner.invoke(app, ["sample", str(folder / "space.yaml"), "-n", "2", "--max-draws", "30", "--workers", "1",
                                 "-o", str(folder / "out")])
    if result.exit_code == 1:  # the draws ran out: what was found is written
        assert "found" in result.output and (folder / "out" / "index.jsonl").exists()


# --- the number reader through `sample` and `fit` ------------------------------------------------

NUMBER_SPACE = {
    "base": "resnet-20.yaml",  # beside the space file: bases are confined to the space's directory
    "vary": {"body.depth": {"choice": [8, 14, 20]}, "body.widening.base": {"int": [8, 16], "step": 4},
             "head.dropout": {"float": [0.0, 0.5]}},
    "tie": {"body.widening.base": ["stem.width"]},
    "budget": {"params": [None, "400K"], "macs": [None, "100M"]},
}
HOSTILE_NUMBERS = st.sampled_from(["010", "0x10", "0o7", "1_000", "0b101", "1:30", "1e999999999", "9" * 5000, "²",
                                   ".inf", "-.inf", ".nan", "-1", "0", "1.5M", "1e3", "1e-999", "1.0e+30"])


@st.composite
def spaces_with_hostile_numbers(draw: st.DrawFn) -> str:
    """The space file with 1-3 of its values replaced by a hostile number, written as YAML text
    (unquoted: as a user's file would hold it), so that they reach the YAML 1.2 number reader."""
    import copy

    data = copy.deepcopy(NUMBER_SPACE)
    for _ in range(draw(st.integers(1, 3))):
        mutate(data, draw(st.sampled_from(paths(data))), "replace", f"@{draw(HOSTILE_NUMBERS)}@", 0)
    text = yaml.safe_dump(data, sort_keys=False, width=10**6)
    return text.replace("'@", "").replace("@'", "").replace("@", "")


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 1))
@given(text=spaces_with_hostile_numbers())
def test_space_files_with_hostile_numbers_sample_cleanly(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("numbers")
    path, out = folder / "space.yaml", folder / "out"
    path.write_text(text, encoding="utf-8")
    (folder / "resnet-20.yaml").write_text(TEXTS["resnet-20"])
    result = runner.invoke(app, ["sample", str(path), "-n", "2", "--max-draws", "40", "--workers", "1",
                                 "-o", str(out)])
    if result.exit_code == 1:  # fewer in-budget networks than asked for within --max-draws
        assert "Traceback" not in result.output, result.output
    else:
        clean_cli(result)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    """Two samples of resnet-20's depth, swept once with a command that writes metrics."""
    from archspec.space import load_space_text, sample
    from archspec.space.sweep import RESULTS, RunResult, append_result

    folder = tmp_path_factory.mktemp("samples")
    (folder / "base.yaml").write_text(TEXTS["resnet-20"])
    text = "base: base.yaml\nvary:\n  body.depth: {choice: [8, 14]}\n"
    done = sample(load_space_text(text, str(folder / "space.yaml")), 2, seed=0, out=folder / "s", workers=1)
    for i, s in enumerate(done.samples):
        append_result(folder / "s" / RESULTS, RunResult(s.sha256, "ok", 0, 1.0, {"acc": 0.5 + i / 10}))
    return folder / "s"


@st.composite
def mutated_rows(draw: st.DrawFn, lines: list[str]) -> str:
    """JSON lines with one row mutated like a spec, or a line replaced by raw text."""
    import json

    rows = [json.loads(line) for line in lines]
    i = draw(st.integers(0, len(rows) - 1))
    if draw(st.booleans()):
        choices = paths(rows[i])
        how = draw(st.sampled_from(["drop", "replace", "retype", "stringify", "nest", "unknown", "tweak"]))
        mutate(rows[i], draw(st.sampled_from(choices)), how, draw(WEIRD), draw(st.integers(-1, 300)))
        out = [json.dumps(r) for r in rows]
    else:
        out = [json.dumps(r) for r in rows]
        out[i] = draw(st.one_of(st.sampled_from(RAW + ["[]", "null", "1e999", "{" * 5000, "\x00" * 8]),
                                st.text(max_size=40)))
    return "\n".join(out) + "\n"


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 1))
@given(data=st.data())
def test_mutated_sample_directories_analyze_and_sweep_cleanly(tmp_path_factory, sample_dir, data):
    import shutil

    name = data.draw(st.sampled_from(["index.jsonl", "results.jsonl"]))
    folder = tmp_path_factory.mktemp("dir") / "s"
    shutil.copytree(sample_dir, folder)
    lines = (folder / name).read_text().splitlines()
    (folder / name).write_text(data.draw(mutated_rows(lines)), encoding="utf-8", errors="surrogatepass")
    clean_cli(runner.invoke(app, ["analyze", str(folder), "-m", "acc", "--format", "json"]))
    clean_cli(runner.invoke(app, ["sweep", str(folder), "--run", "true {spec}", "--retry-failed"]))


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 1))
@given(vary=st.sampled_from(["body.widening.alpha", "body.depth", "head.dropout", "classes", "name", "body", "",
                             "body.stages[9999999999999999999999].x", "²"]),
       target=st.one_of(HOSTILE_NUMBERS, st.text(max_size=12)), which=st.sampled_from(["--params", "--macs"]))
def test_random_fit_requests_end_cleanly(vary, target, which):
    result = runner.invoke(app, ["fit", str(ROOT / "specs" / "pyramidnet-110-a270.yaml"), "--vary", vary,
                                 which, target, "--format", "json"])
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
