"""``import archspec`` pauses the garbage collector while it loads; the process must be left as it was."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


def run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("before, after", [
    ("", "assert gc.isenabled() and gc.get_freeze_count() == 0"),
    ("gc.disable()", "assert not gc.isenabled()"),
    # a pre-fork server's frozen objects stay frozen
    ("gc.freeze(); frozen = gc.get_freeze_count()", "assert gc.isenabled() and 0 < gc.get_freeze_count() <= frozen"),
])
def test_import_leaves_the_collector_as_it_was(before: str, after: str) -> None:
    run(f"import gc\n{before}\nimport archspec, archspec.cli\n{after}")


def test_cycles_made_before_the_import_are_still_collected() -> None:
    run("""
import gc, weakref
class Node: pass
node = Node(); node.self = node; alive = weakref.ref(node); del node
import archspec
gc.collect()
assert alive() is None
""")


def test_the_console_script_imports_and_registers_only_the_command_it_runs() -> None:
    """main() imports the named command's module alone and registers that command alone; global
    options (and their values) before the command are passed over, and a word that names no module
    (a typo, ``list`` of listing.py) or no word at all imports and keeps every command."""
    run("""
import sys
from archspec import cli
from archspec.cli import common
assert cli._named_command(["--allow-root", "validate", "--max-params", "1e9", "report", "x.yaml"]) == "report"
cli._register(cli._named_command(["--max-params", "1e9", "report", "x.yaml"]))
assert [c.callback.__name__ for c in common.app.registered_commands] == ["report"]
commands = {m for m in sys.modules if m.startswith("archspec.cli.")}
assert "archspec.cli.report" in commands and not commands & {"archspec.cli.build", "archspec.cli.validate"}, commands
""")
    for argv in (["valdate", "x.yaml"], ["--help"], [], ["--debug", "list"]):
        run(f"""
import sys
from archspec import cli
from archspec.cli import common
cli._register(cli._named_command({argv!r}))
names = sorted(c.callback.__name__ for c in common.app.registered_commands)
assert ({argv!r} == ["--debug", "list"] and names == ["list_command"]) or len(names) > 10, names
assert "archspec.cli.build" in sys.modules
""")


def test_in_process_callers_get_every_command() -> None:
    """``from archspec.cli import app`` (CliRunner's way in) has every command registered."""
    run("""
from archspec.cli import app
names = {c.name or c.callback.__name__ for c in app.registered_commands}
assert {"validate", "report", "build", "sample", "fit"} <= names, names
""")


@pytest.mark.parametrize("args", [["validate", "specs/pyramidnet.yaml"], ["report", "-f", "json", "specs/pyramidnet.yaml"]])
def test_piped_light_commands_do_not_import_rich(args: list[str]) -> None:
    """Their output is plain where rich would print it unstyled anyway (a pipe or a file): rich,
    a fifteenth of their start, is not imported, and the lines are what rich would have printed."""
    code = (f"import sys\nsys.argv = ['archspec'] + {args!r}\nfrom archspec.cli import main\n"
            "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
            "assert 'rich' not in sys.modules, 'rich imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import json

    import archspec

    resolved = archspec.plan(archspec.load(ROOT / "specs/pyramidnet.yaml"))
    if args[0] == "validate":
        assert result.stdout == f"ok specs/pyramidnet.yaml: {resolved.name}, {resolved.params:,} params, {resolved.macs:,} MACs\n"
    else:
        data = json.loads(result.stdout)
        assert (data["name"], data["params"], data["macs"]) == (resolved.name, resolved.params, resolved.macs)


def test_validating_a_spec_builds_only_the_block_kinds_it_uses() -> None:
    """The block union dispatches on ``type`` to each kind's own validator, built on first use: a
    PyramidNet leaves the other kinds' validators unbuilt (their cost does not grow the start-up)."""
    run("""
import archspec
from archspec.spec.blocks import BUILT_IN_BLOCKS, PyramidBlock
archspec.load("specs/pyramidnet.yaml")
built = {b.__name__ for b in BUILT_IN_BLOCKS if b.__pydantic_complete__}
assert built == {"PyramidBlock"}, built
""")


def test_validating_a_spec_builds_only_the_stem_head_and_widening_kinds_it_uses() -> None:
    """Stems, heads, widening rules and downsampling are unions of the same kind: a PyramidNet (a conv
    stem, a classifier head, additive widening, strided stages) builds those members' validators alone."""
    run("""
import typing
import archspec
from archspec.spec.layout import DownsampleSpec
from archspec.spec.models import HeadSpec, StemSpec
from archspec.spec.widening import WideningSpec
archspec.load("specs/pyramidnet.yaml")
built = {m.__name__ for union in (StemSpec, HeadSpec, WideningSpec, DownsampleSpec)
         for m in typing.get_args(typing.get_args(union)[0]) if m.__pydantic_complete__}
assert built == {"ConvStem", "ClassifierHead", "Additive", "Strided"}, built
""")


@pytest.mark.parametrize("text, says", [
    ("stem: {type: convv, width: 16}", ["stem.type: unknown type `convv`; use one of conv, deep,", "did you mean `conv`?"]),
    ("body: {widening: {rule: additve, alpha: 48}}", ["body.widening.rule: unknown rule `additve`",
                                                      "did you mean `additive`?"]),
    ("head: {type: classifier, pool: avg, extra: 1}", ["head.extra: unknown field `extra`"]),
])
def test_kinds_validated_on_first_use_keep_pydantic_s_located_errors(tmp_path, text: str, says: list[str]) -> None:
    """A union validated member by member reports what Pydantic's discriminated union reports."""
    import yaml

    from archspec.spec.compose import merge
    from archspec.spec.errors import SpecError

    import archspec

    base = yaml.safe_load((ROOT / "specs" / "pyramidnet.yaml").read_text())
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(merge(base, yaml.safe_load(text))))
    with pytest.raises(SpecError) as caught:
        archspec.load(spec)
    assert all(part in str(caught.value) for part in says), str(caught.value)


def test_planning_imports_only_the_planners_of_the_kinds_it_uses() -> None:
    """A lookup imports the modules that spell the kind (``"pyramid"``), not every family's planner;
    asking for every name still discovers every module."""
    run("""
import sys
import archspec
archspec.report("specs/pyramidnet.yaml")
assert "archspec.plan.residual" in sys.modules
assert "archspec.plan.inception" not in sys.modules and "archspec.plan.vit" not in sys.modules
from archspec.plan.registry import PLANNERS, registered
assert "inception" in registered() and "archspec.plan.inception" in sys.modules
""")


def test_a_name_no_module_spells_is_found_by_discovering_every_module(tmp_path, monkeypatch) -> None:
    """Registrations the source scan cannot see (a name built at run time) are still found."""
    from archspec import registry

    package = tmp_path / "pkg_spelled"
    package.mkdir()
    (package / "__init__.py").write_text("from archspec.registry import Registry\nR = Registry('thing', package='pkg_spelled')\n")
    (package / "a.py").write_text("from . import R\nR.add('plain', 1)\n")
    (package / "b.py").write_text("from . import R\nR.add('built' + '_late', 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    pkg = importlib.import_module("pkg_spelled")
    assert registry.spelling("pkg_spelled", "plain") == ["pkg_spelled.a"]
    assert pkg.R["plain"] == 1 and "pkg_spelled.b" not in sys.modules
    assert pkg.R["built_late"] == 2 and "pkg_spelled.b" in sys.modules


def test_loading_specs_parses_no_builtin_s_signature() -> None:
    """Pydantic reads each default factory's signature; a builtin's (``list``) goes through ``tokenize``,
    whose first use compiles a large regular expression (spec/base.py's empty_list): none is read."""
    run("""
import inspect
parsed = []
original = inspect._signature_fromstr
inspect._signature_fromstr = lambda *a, **k: parsed.append(a[1]) or original(*a, **k)
import archspec
for name in ("specs/pyramidnet.yaml", "specs/res2net50-26w-4s.yaml"):
    archspec.report(archspec.load(name))
assert not parsed, parsed
""")
