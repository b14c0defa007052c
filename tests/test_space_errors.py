"""Bad space files: one located message each (file:line:col, the field, what is allowed), exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archspec.space import load_space
from archspec.spec import SpecError
from conftest import ROOT, SPECS

BASE = f"base: {SPECS / 'pyramidnet.yaml'}\n"


def problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_space(path)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("text, where, expected", [
    (BASE + "vary:\n  body.widening.alhpa: {float: [24, 300]}\n", ":3:3: vary.body.widening.alhpa:",
     "unknown field `alhpa`; did you mean `alpha`?"),
    (BASE + "vary:\n  body.dpeth: {choice: [110, 164]}\n", ":3:3: vary.body.dpeth:", "did you mean `depth`?"),
    (BASE + "vary:\n  body.depth: {int: [300, 24]}\n", ":3:3: vary.body.depth:", "lo > hi: 300 > 24"),
    (BASE + "vary:\n  body.depth: {int: [20, 30], stpe: 2}\n", ":3:31: vary.body.depth.stpe:",
     "did you mean `step`?"),
    (BASE + "vary:\n  body.depth: {range: [20, 30]}\n", ":3:3: vary.body.depth:",
     "give exactly one of {int: [lo, hi]}, {float: [lo, hi]} or {choice: [a, b, ...]}"),
    (BASE + "vary:\n  body.depth: {int: [20, 30]}\nbudget: {params: [3M, 1M]}\n", ":4:10: budget.params:",
     "the params band [3M, 1M] is empty: lo > hi"),
    (BASE + "vary:\n  body.depth: {int: [20, 30]}\nbudget: {params: [1.5Q, null]}\n", ":4:19: budget.params[0]:",
     "`1.5Q` is not a count"),
    (BASE + "vary:\n  body.depth: {int: [20, 30]}\nbudgte: {}\n", ":4:1: budgte:", "did you mean `budget`?"),
    (BASE + "vary:\n  head.dropout: {float: [0.0, 1.5]}\n", ":3:3: vary.head.dropout:",
     "the value `1.5` is not allowed here: must be less than 1"),
    (BASE + "vary:\n  body.stages[5].stride: {choice: [1, 2]}\n", ":3:3: vary.body.stages[5].stride:",
     "there is no body.stages[5] to set (it has 3 items) in the base spec"),
    (BASE + "vary:\n  body.depth: {choice: [110]}\ntie: {body.depth: [head.dropout]}\n", ":4:7: tie.body.depth:", "different types: body.depth (int), head.dropout (float)"),
    (BASE + "vary:\n  body.depth: {choice: [110]}\ntie: {body.dpth: [stem.width]}\n", ":4:7: tie.body.dpth:",
     "did you mean `body.depth`?"),
    ("base: nowhere.yaml\nvary:\n  body.depth: {choice: [110]}\n", ":1:1: base:", "`base: nowhere.yaml`: no such file"),
    (BASE + "vary: {}\n", ":2:1: vary:", "at least 1 item"),
])
def test_a_bad_space_file_gets_one_located_message(tmp_path, text, where, expected):
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    assert where in found[0] and expected in found[0], found[0]
    assert found[0].startswith(str(tmp_path / "space.yaml"))


def test_the_space_file_is_read_as_safely_as_a_spec(tmp_path):
    found = problems(tmp_path, BASE + "vary:\n  body.depth: !!python/object:os.system {choice: [1]}\n")
    assert "YAML tag" in found[0] and "not allowed" in found[0]
    found = problems(tmp_path, BASE + "vary:\n  body.depth: {choice: [110]}\n  body.depth: {choice: [164]}\n")
    assert "given twice" in found[0]


def test_an_inline_base_is_located_in_the_space_file(tmp_path):
    text = ("base:\n  name: tiny\n  input: {size: 32}\n  classes: 10\n  stem: {type: conv, width: 16}\n"
            "  body: {depth: 20, stages: [{stride: 1}], block: {type: basci}, widening: {rule: step_doubling}}\n"
            "vary:\n  body.depth: {choice: [20]}\n")
    found = problems(tmp_path, text)
    assert ":6:" in found[0] and "body.block.type" in found[0] and "did you mean `basic`?" in found[0]


def test_the_cli_exits_2_with_the_message_and_writes_nothing(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(BASE + "vary:\n  body.widening.alhpa: {float: [24, 300]}\n")
    out = subprocess.run([sys.executable, "-m", "archspec", "sample", str(space), "-n", "3", "-o", str(tmp_path / "o")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2
    assert f"{space}:3:3: vary.body.widening.alhpa: unknown field `alhpa`; did you mean `alpha`?" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "o").exists()
