"""Python plugin blocks (spec/plugins.py, plan/plugins.py): the example package examples/plugin-eca
end to end, found by its entry point, by --plugin and by a spec's `plugins:`; a plugin step's
declared counts checked against its module; and every way a plugin can fail, as one paragraph."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import archspec
from archspec.plan.plugins import Saves
from archspec.spec.errors import SpecError
from conftest import ROOT, spec_path

EXAMPLE = ROOT / "examples" / "plugin-eca"
SPEC = EXAMPLE / "eca-resnet-20.yaml"
RESNET20_PARAMS = 269_722  # specs/resnet-20.yaml: the same network without ECA
ECA_UNITS, ECA_KERNEL = 9, 3  # k = 3 at 16, 32 and 64 channels (eq. 12 with gamma 2, b 1)


def cli(*args: str, path: tuple[Path, ...] = (), cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m archspec ARGS`` in a fresh process, with ``path`` (and this tree) on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *map(str, path)]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)
    assert "Traceback" not in done.stderr + done.stdout
    return done


def without_plugins_key(tmp_path: Path) -> Path:
    """The example spec without its `plugins:` line: its block type must be found some other way."""
    spec = tmp_path / "eca-resnet-20.yaml"
    spec.write_text("".join(line for line in SPEC.read_text().splitlines(keepends=True)
                            if not line.startswith("plugins:")))
    return spec


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example package installed (pip, no dependencies, no build isolation) into a directory of its
    own: an installed distribution, with its dist-info and entry point, as `pip install` makes it."""
    tmp = tmp_path_factory.mktemp("plugin")
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    assert (next(target.glob("archspec_eca-*.dist-info")) / "entry_points.txt").read_text().split() == \
        ["[archspec.blocks]", "eca_basic", "=", "archspec_eca"]
    return target


@pytest.fixture
def eca(monkeypatch) -> None:
    """The example plugin importable in this process (its directory on sys.path)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))


# -- end to end, as a user runs it


def test_an_installed_plugin_is_found_by_its_entry_point_and_validates(installed, tmp_path):
    spec = without_plugins_key(tmp_path)
    done = cli("validate", str(spec), path=(installed,))
    assert done.returncode == 0, done.stderr
    assert f"{RESNET20_PARAMS + ECA_UNITS * ECA_KERNEL:,} params" in done.stdout


def test_an_installed_plugin_s_counts_and_declarations_verify_against_torch(installed, tmp_path):
    done = cli("report", "--verify", str(without_plugins_key(tmp_path)), path=(installed,))
    assert done.returncode == 0, done.stderr
    assert "verified eca-resnet-20" in done.stdout
    assert f"of its {ECA_UNITS} plugin steps == their modules'" in done.stdout


def test_an_installed_plugin_builds_to_verified_onnx(installed, tmp_path):
    out = tmp_path / "out"
    done = cli("build", str(without_plugins_key(tmp_path)), "-e", "onnx", "-o", str(out), path=(installed,))
    assert done.returncode == 0, done.stderr
    assert "onnxruntime vs torch" in done.stdout and "torch.onnx" not in done.stdout  # the step's own onnx()
    import onnx

    model = onnx.load(out / "eca-resnet-20.onnx")
    names = {t.name for t in model.graph.initializer}
    assert "stages.0.0.eca.conv.conv.weight" in names


def test_the_plugins_key_loads_the_module_from_pythonpath(tmp_path):
    done = cli("report", "--format", "json", str(SPEC), path=(EXAMPLE,))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["params"], report["depth"]) == (RESNET20_PARAMS + ECA_UNITS * ECA_KERNEL, 20)
    assert {u["block"] for u in report["units"]} >= {"eca_basic"}


def test_the_plugin_option_loads_the_module_and_nothing_finds_it_otherwise(tmp_path):
    spec = without_plugins_key(tmp_path)
    found = cli("validate", "--plugin", "archspec_eca", str(spec), path=(EXAMPLE,))
    assert found.returncode == 0, found.stderr
    unknown = cli("validate", str(spec), path=(EXAMPLE,))  # importable, but neither named nor installed
    assert unknown.returncode == 2
    assert "unknown type `eca_basic`" in unknown.stderr and "--plugin MODULE" in unknown.stderr


def test_the_plugin_option_builds_onnx(eca, tmp_path):
    """In process (CliRunner), the example on sys.path: `--plugin` loads it before the spec is read."""
    from typer.testing import CliRunner

    from archspec.cli import app

    out = tmp_path / "out"
    done = CliRunner().invoke(app, ["build", "--plugin", "archspec_eca", str(without_plugins_key(tmp_path)),
                                    "-e", "onnx", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert (out / "eca-resnet-20.onnx").stat().st_size > 0


def test_validating_a_plugin_spec_imports_no_torch():
    code = ("import sys, archspec; p = archspec.validate(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(p.params)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLE)])}
    done = subprocess.run([sys.executable, "-c", code, str(SPEC)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == RESNET20_PARAMS + ECA_UNITS * ECA_KERNEL


# -- in process: the API, expand, the declarations


def test_a_plugin_block_s_fields_are_validated_by_its_model_and_located(eca, tmp_path):
    text = SPEC.read_text().replace("block: {type: eca_basic}", "block: {type: eca_basic, kernal: 5, gamma: 0}")
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as caught:
        archspec.load(spec)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "kernal" in t)
    messages = {p.path: (p.line, p.message) for p in caught.value.problems}
    assert messages["body.block.kernal"][0] == line and "did you mean `kernel`" in messages["body.block.kernal"][1]
    assert messages["body.block.gamma"][0] == line and "greater than or equal to 1" in messages["body.block.gamma"][1]


def test_a_plugin_block_plans_with_its_own_model_and_expands_with_its_module(eca):
    from archspec.plan.expand import expand

    spec = archspec.load(SPEC)
    assert spec.body.block.plugin.kernel is None and spec.body.block.layers_per_unit == 2
    plan = archspec.plan(spec)
    assert [len(s.units) for s in plan.stages] == [3, 3, 3]  # depth 20 = 3 x 3 units x 2 layers + 2
    unit = plan.unit("stages.1.0")
    assert unit.block == "eca_basic" and (unit.in_channels, unit.out_channels, unit.out_size) == (16, 32, (16, 16))
    data = expand(spec)
    assert data["plugins"] == ["archspec_eca"]
    assert data["body"]["block"] == {"type": "eca_basic", "gamma": 2, "beta": 1}


def test_a_plugin_block_s_parameters_vary_in_a_design_space(eca, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(f"base: {SPEC}\nvary:\n  body.block.kernel: {{choice: [1, 3, 5, 7]}}\n")
    result = archspec.sample(space, 4, seed=0, out=tmp_path / "out")
    for sample in result.samples:
        k = sample.values["body.block.kernel"]
        assert sample.params == RESNET20_PARAMS + ECA_UNITS * k
        assert archspec.plan(archspec.load(tmp_path / "out" / sample.file)).params == sample.params


def _plan_with(step_overrides: dict) -> "archspec.Plan":
    """The example's plan with each ChannelConv replaced by a subclass whose declarations are overridden."""
    from dataclasses import replace

    from archspec_eca.steps import ChannelConv

    wrong = dataclass(frozen=True)(type("WrongChannelConv", (ChannelConv,), step_overrides))
    plan = archspec.plan(archspec.load(SPEC))
    stages = []
    for stage in plan.stages:
        units = []
        for u in stage.units:
            steps = {n.name: wrong(n.step.path, n.step.channels, n.step.kernel) for n in u.graph.nodes
                     if isinstance(n.step, ChannelConv)}
            graph = u.graph.with_steps(steps)
            units.append(replace(u, graph=graph, ops=graph.weighted))
        stages.append(replace(stage, units=tuple(units)))
    return replace(plan, stages=tuple(stages))


@pytest.mark.parametrize("overrides, quantity, declared, measured", [
    ({"macs": property(lambda self: self.channels)}, "MACs", 16, 48),  # C x k = 16 x 3
    ({"tensors": property(lambda self: {"conv.weight": (1, 1, self.kernel + 2)})}, "params", 5, 3),
    ({"saves": lambda self, ins, out: Saves()}, "saved bytes (batch 1, fp32)", 0, 64),  # conv1d keeps its input
])
def test_report_verify_names_a_plugin_step_whose_declaration_its_module_contradicts(eca, overrides, quantity,
                                                                                      declared, measured):
    from archspec.complexity.verify import verify_steps

    found = verify_steps(_plan_with(overrides))
    assert len(found) == ECA_UNITS  # every unit's step, the first at 16 channels
    first = found[0]
    assert first.unit.startswith("stages.0.0.eca.conv (WrongChannelConv")
    assert (first.quantity, first.analytic, first.measured) == (quantity, declared, measured)
    assert "fix the declaration in" in str(first)


def test_the_example_s_declarations_hold(eca):
    from archspec.complexity.verify import module_steps, verify_steps

    plan = archspec.plan(archspec.load(SPEC))
    assert len(module_steps(plan)) == ECA_UNITS and verify_steps(plan) == []


def test_report_verify_exits_1_on_a_wrong_declaration(eca, monkeypatch):
    """From the CLI: a plugin whose step declares too few MACs fails --verify with the step named."""
    from typer.testing import CliRunner

    import archspec_eca
    from archspec.cli import app
    from archspec_eca.steps import ChannelConv

    @dataclass(frozen=True)
    class Undercounted(ChannelConv):
        @property
        def macs(self) -> int:
            return self.channels  # forgets the kernel

    monkeypatch.setattr(archspec_eca, "ChannelConv", Undercounted)  # the planner reads it from its module
    done = CliRunner().invoke(app, ["report", "--verify", str(SPEC)])
    assert done.exit_code == 1
    text = " ".join(done.output.split())
    assert "stages.0.0.eca.conv (Undercounted): declared MACs 16 != measured 48" in text
    assert f"fix the declaration in {__name__}." in text and "Traceback" not in text


# -- a plugin that cannot load, or clashes: one paragraph, exit 2


def _plugin(tmp_path: Path, name: str, body: str) -> Path:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    return tmp_path


CLASHING = """
    from typing import Literal
    from pydantic import BaseModel
    from archspec.plan.plugins import register_block

    class Block(BaseModel):
        type: Literal["{kind}"]

    register_block(Block, lambda block, ctx: None)
"""


@pytest.mark.parametrize("body, words", [
    ("raise RuntimeError('needs a GPU driver')", "plugin `broken` could not be imported: `RuntimeError: needs a GPU driver`"),
    ("import no_such_dependency", "plugin `broken` could not be imported: no module named `no_such_dependency` "
                                  "(it needs `no_such_dependency`)"),
    ("def oops(:\n", "plugin `broken` could not be imported: `SyntaxError"),
    (CLASHING.format(kind="basic"), "plugin `broken` cannot register its block: block type `basic` is built into archspec"),
    (CLASHING.format(kind="res2net"), "block type `res2net` is a bundled block file's"),
])
def test_a_plugin_that_fails_to_load_is_one_located_paragraph(tmp_path, body, words):
    _plugin(tmp_path, "broken", body)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("plugins: [archspec_eca]", "plugins: [broken]"))
    done = cli("validate", str(spec), path=(tmp_path,))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {spec}:4:11: plugins[0]: "), done.stderr
    assert words in lines[0]


def test_two_plugins_defining_one_type_clash(tmp_path):
    _plugin(tmp_path, "first", CLASHING.format(kind="gate"))
    _plugin(tmp_path, "second", CLASHING.format(kind="gate"))
    done = cli("validate", "--plugin", "first", "--plugin", "second", str(spec_path("resnet-20")), path=(tmp_path,))
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: --plugin: plugin `second` cannot register its block: block type `gate` is "
                                   "already registered by plugin `first`; two plugins cannot define one type")


def test_a_plugin_name_is_a_module_name_never_a_path(tmp_path):
    done = cli("validate", "--plugin", "../evil.py", str(spec_path("resnet-20")))
    assert done.returncode == 2 and "is not a module name" in done.stderr
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("plugins: [archspec_eca]", "plugins: [/tmp/evil]"))
    done = cli("validate", str(spec))
    assert done.returncode == 2 and "plugins[0]" in done.stderr


def test_specs_of_known_types_never_read_entry_points(monkeypatch):
    """Entry points are read only for a type nobody knows: loading a built-in spec scans nothing."""
    import importlib.metadata

    def refuse(**kwargs):
        raise AssertionError("entry points read")

    monkeypatch.setattr(importlib.metadata, "entry_points", refuse)
    assert archspec.plan(archspec.load(spec_path("resnet-20"))).params == RESNET20_PARAMS
    assert archspec.plan(archspec.load(spec_path("res2net50-26w-4s"))).params > 0  # a bundled block file


def test_a_plugin_planner_s_error_is_located_at_the_block_and_names_the_plugin(tmp_path):
    _plugin(tmp_path, "miswired", """
        from typing import Literal
        from pydantic import BaseModel
        from archspec.plan.graph import INPUT, GraphBuilder
        from archspec.plan.ops import Conv
        from archspec.plan.plugins import register_block

        class Miswired(BaseModel):
            type: Literal["miswired"]

        def plan(block, ctx):
            g = GraphBuilder(ctx.in_channels, ctx.in_size)
            g.add(Conv("conv", ctx.in_channels + 1, ctx.width, 3, ctx.in_size), INPUT)  # one channel too many
            return g.build()

        register_block(Miswired, plan)
    """)
    spec = tmp_path / "spec.yaml"
    text = SPEC.read_text().replace("plugins: [archspec_eca]", "plugins: [miswired]").replace("eca_basic", "miswired")
    spec.write_text(text)
    done = cli("report", str(spec), path=(tmp_path,))
    assert done.returncode == 2
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "miswired}" in t)
    assert done.stderr.strip().splitlines() == [
        f"error: {spec}:{line}:3: body.block: the planner of plugin block `miswired` (module miswired), in unit "
        "stages.0.0: GraphError: step 'conv' expects 17 channels, its input has 16"]


def test_a_declared_block_may_not_take_a_plugin_s_type(eca, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text() + "blocks:\n  eca_basic: {steps: [{name: id, op: identity}]}\n")
    with pytest.raises(SpecError, match="`eca_basic` is the block type of plugin `archspec_eca`; name yours otherwise"):
        archspec.load(spec)


def test_a_plugin_module_is_initialised_by_its_own_rule_seeded_per_step(eca):
    """Two builds with one seed give the same ECA kernels; each unit's kernel is drawn on its own."""
    import torch

    spec = archspec.load(SPEC)
    first, again, other = (archspec.build(spec, seed=s).state_dict() for s in (0, 0, 1))
    keys = [k for k in first if k.endswith("eca.conv.conv.weight")]
    assert len(keys) == ECA_UNITS and all(torch.equal(first[k], again[k]) for k in keys)
    assert not torch.equal(first[keys[0]], other[keys[0]]) and not torch.equal(first[keys[0]], first[keys[1]])
    bound = 1 / ECA_KERNEL ** 0.5  # Conv1d's own reset_parameters: uniform within 1 / sqrt(fan_in)
    assert all(first[k].abs().max() <= bound for k in keys)


def test_a_spec_validated_without_the_loader_is_checked_by_its_plugin_s_model(eca):
    import yaml

    from archspec.plan.planner import make_plan
    from archspec.spec.models import Spec

    archspec.load(SPEC)  # the plugin loaded
    data = yaml.safe_load(SPEC.read_text())
    assert make_plan(Spec.model_validate(data)).params == RESNET20_PARAMS + ECA_UNITS * ECA_KERNEL
    data["body"]["block"]["gamma"] = 0
    from archspec.plan.errors import PlanError

    with pytest.raises(PlanError, match="plugin block `eca_basic`: Input should be greater than or equal to 1"):
        make_plan(Spec.model_validate(data))


def test_list_blocks_shows_an_installed_plugin_by_its_entry_point_without_importing_it(installed):
    """An installed plugin's type is listed from its entry point alone: no plugin code runs for a listing."""
    done = cli("list", "--blocks", "eca*", "-f", "json", path=(installed,))
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert (row["type"], row["source"], row["where"], row["params"]) == ("eca_basic", "plugin", "archspec_eca", [])
    assert "imported when a spec names it" in row["description"]


def test_list_blocks_with_the_plugin_option_shows_the_plugin_s_parameters():
    """With --plugin the module is imported, and its spec model's fields are the parameters."""
    done = cli("list", "--blocks", "eca_basic", "--plugin", "archspec_eca", "-f", "json", path=(EXAMPLE,))
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    sys.path.insert(0, str(EXAMPLE))
    try:
        import archspec_eca
    finally:
        sys.path.remove(str(EXAMPLE))
    model = next(m for m in vars(archspec_eca).values() if isinstance(m, type) and "type" in getattr(m, "model_fields", {}))
    assert row["source"] == "plugin" and row["where"] == "archspec_eca"
    assert [p.split("=")[0] for p in row["params"]] == [n for n in model.model_fields if n != "type"]
