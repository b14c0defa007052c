"""``reference:`` blocks: ``validate`` holds a spec to the published figures it claims, and every
bundled spec naming a torchvision builder has exactly that builder's params and MACs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import SpecError
from conftest import meta_device, SPECS, spec_path
from test_families import meta_counts

REFERENCED = {path.stem: archspec.load(path).reference for path in sorted(SPECS.glob("*.yaml"))}
TORCHVISION = {name: ref.torchvision for name, ref in REFERENCED.items() if ref and ref.torchvision}
# torchvision's googlenet() and inception_v3() build the training-only aux heads, which no spec counts.
CONSTRUCTOR_FLAGS = {"googlenet": {"aux_logits": False, "init_weights": False},
                     "inception_v3": {"aux_logits": False, "init_weights": False}}
runner = CliRunner()


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_reference_figures_are_torchvision_s_own_counts(name):
    """sum(numel) and FlopCounterMode / 2 of torchvision's module, on the meta device, at the spec's size."""
    spec = archspec.load(spec_path(name))
    builder = TORCHVISION[name]
    with meta_device():
        theirs = meta_counts(getattr(tvm, builder)(weights=None, **CONSTRUCTOR_FLAGS.get(builder, {})),
                             (spec.input.channels, *spec.input.hw))
    plan = archspec.plan(spec)
    assert (spec.reference.params, spec.reference.macs) == theirs == (plan.params, plan.macs)


def test_every_classification_builder_of_torchvision_has_a_spec():
    """All 80 of torchvision.models' classification builders: the 68 CNNs, 5 ViTs, 6 Swins (V1 and V2) and
    MaxViT-T, each named by exactly one spec, with no builder left out."""
    builders = tvm.list_models(module=tvm)  # every classification builder, none excluded
    assert len(builders) == 80 and sum(name.startswith("vit_") for name in builders) == 5
    assert sum(name.startswith("swin_") for name in builders) == 6 and "maxvit_t" in builders
    assert sorted(TORCHVISION.values()) == sorted(builders)  # each once


def test_cifar_specs_carry_the_exact_published_params():
    assert REFERENCED["resnet-20"].params == 269_722 and REFERENCED["resnet-20"].macs is None
    assert {n for n, ref in REFERENCED.items() if ref and not ref.torchvision and not ref.timm} == {
        "resnet-20", "resnet-56", "resnet-110", "resnet-56-b", "preact-resnet-164", "wrn-28-10", "wrn-16-4",
        "densenet-bc-100-12", "pyramidnet", "pyramidnet-110-a270", "pyramidnet-272-a200", "resnext-29-8x64d",
        "nas-bench-201"}  # xautodl's network's figures: tests/test_nas_bench_201.py measures them


RESNET20 = spec_path("resnet-20").read_text()


def test_mismatched_figures_are_located_errors_naming_the_field(write_spec):
    text = RESNET20.replace("params: 269722", "params: 269723, macs: 40000000")
    path = write_spec(text)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = len(text.splitlines())
    column = text.splitlines()[-1].index("params") + 1
    assert (f"{path}:{line}:{column}: reference.params: the spec claims 269,723 parameters, but the network "
            f"it describes has 269,722 at 32x32 (-1)") in result.stderr
    assert f"reference.macs: the spec claims 40,000,000 MACs per image, but the network it describes has " \
           f"40,551,040 at 32x32 (+551,040)" in result.stderr


def test_overrides_that_change_the_network_are_told_its_reference_no_longer_applies():
    result = runner.invoke(app, ["validate", "resnet-50", "--set", "input.size=160"])
    assert result.exit_code == 0  # a variant made on the command line: the mismatch is a hint
    assert "warning:" in result.stderr and "reference.macs: the spec claims 4,089,184,256 MACs" in result.stderr
    assert "--set reference=null" in result.stderr and "reference.params" not in result.stderr
    strict = runner.invoke(app, ["validate", "resnet-50", "--set", "input.size=160", "--strict"])
    assert strict.exit_code == 2 and "reference.macs" in strict.stderr
    dropped = runner.invoke(app, ["validate", "resnet-50", "--set", "input.size=160", "--set", "reference=null"])
    assert dropped.exit_code == 0 and "reference." not in dropped.stderr, dropped.output
    assert archspec.plan("resnet-50", input_size=160).macs == 2_087_321_600  # plan() itself never checks it


@pytest.mark.parametrize("override", [
    "description=x",  # changes no count: the file's own wrong reference stays an error
    "input.size=64",  # changes the MACs, not the params the wrong figure is about
    "reference.params=5",  # a wrong figure given on the command line
    "classes=100",  # changes the params, but the reference was already wrong as written
])
def test_a_wrong_reference_stays_an_error_whatever_the_set(write_spec, override):
    path = write_spec(RESNET20.replace("params: 269722", "params: 269000"))
    result = runner.invoke(app, ["validate", str(path), "--set", override])
    assert result.exit_code == 2 and "error:" in result.stderr and "reference.params: the spec claims" in result.stderr


def test_only_a_set_that_changes_a_count_makes_a_correct_reference_a_hint():
    changed = runner.invoke(app, ["validate", "resnet-20", "--set", "classes=100"])
    assert changed.exit_code == 0 and "warning:" in changed.stderr and "reference.params" in changed.stderr
    unchanged = runner.invoke(app, ["validate", "resnet-20", "--set", "description=x"])
    assert unchanged.exit_code == 0 and "reference." not in unchanged.stderr


def test_a_spec_extending_a_reference_inherits_the_check(write_spec):
    base = write_spec(RESNET20, "resnet-20.yaml")
    wider = write_spec("extends: resnet-20.yaml\nname: wider\nbody: {widening: {base: 32}}\n", "wider.yaml")
    problems = pytest.raises(SpecError, archspec.validate, wider).value.problems
    assert [(p.file, p.path) for p in problems] == [(str(base), "reference.params")]  # the file that wrote it
    write_spec("extends: resnet-20.yaml\nname: wider\nbody: {widening: {base: 32}}\nreference: null\n", "wider.yaml")
    assert archspec.validate(wider).params == archspec.plan(wider).params > 269_722


@pytest.mark.parametrize("block, field, words", [
    ("{torchvision: resnet20, param: 1}", "reference.param", "unknown field `param`; did you mean `params`?"),
    ("{torchvision: ResNet-20}", "reference.torchvision", "should match pattern"),
    ("{params: 0}", "reference.params", "greater than 0"),
    ("{macs: '40551040'}", "reference.macs", "integer"),
])
def test_malformed_reference_blocks_are_refused(write_spec, block, field, words):
    text = RESNET20.replace(RESNET20.splitlines()[-1], f"reference: {block}")
    result = runner.invoke(app, ["validate", str(write_spec(text))])
    assert result.exit_code == 2 and f"{field}: " in result.stderr and words in result.stderr, result.stderr


def test_the_families_table_in_the_docs_is_the_bundled_specs():
    """docs/families.md's table of torchvision builders is generated from the specs' reference blocks."""
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "gen_families_table.py"
    loaded = importlib.util.spec_from_file_location("gen_families_table", script)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    text = module.DOC.read_text()
    assert module.updated(text) == text, "stale: run `PYTHONPATH=$PWD python scripts/gen_families_table.py`"
    rows = [line for line in module.table().splitlines() if line.startswith("| ") and "`" in line]
    assert sorted(line.split("`")[1] for line in rows) == sorted(TORCHVISION.values())
