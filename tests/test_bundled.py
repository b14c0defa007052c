"""Bundled specs by name (CLI and API), ``archspec list``, ``--version``, and the API's other sources:
a dict, YAML text, and timm-style ``build(num_classes=, in_chans=)``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from conftest import ROOT, SPECS

import archspec
from archspec.cli import app

RESNET20 = SPECS / "resnet-20.yaml"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The working directory is an empty folder outside the checkout."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_names_work_wherever_a_spec_path_does(elsewhere):
    by_name = json.loads(cli("report", "resnet-20", "-f", "json").stdout)
    assert by_name == archspec.report(RESNET20)
    assert cli("expand", "wrn-16-4.yaml").stdout == cli("expand", str(SPECS / "wrn-16-4.yaml")).stdout
    done = cli("validate", "resnet-20", "pyramidnet")
    assert done.exit_code == 0 and done.stdout.count("ok ") == 2
    done = cli("build", "resnet-20", "-e", "state_dict", "-o", "out")
    assert done.exit_code == 0, done.output
    assert (elsewhere / "out" / "resnet-20.pt").is_file()


def test_a_real_path_wins_over_a_bundled_name(elsewhere):
    (elsewhere / "resnet-20").write_text((SPECS / "resnet-56.yaml").read_text())
    assert json.loads(cli("report", "resnet-20", "-f", "json").stdout)["name"] == "resnet-56"
    assert archspec.load("resnet-20").name == "resnet-56"


def test_an_unknown_name_suggests_the_closest_bundled_ones(elsewhere):
    done = cli("report", "resnet-5")
    assert done.exit_code == 2
    assert done.output.strip() == ("error: resnet-5: no such file, and no bundled spec of that name; did you mean "
                                   "`resnet-56`, `resnet-50`, `resnet-152`? (`archspec list` shows them)")
    done = cli("validate", "resnet-5", "nested/missing.yaml")
    assert done.exit_code == 2 and "did you mean `resnet-56`" in done.output
    assert "nested/missing.yaml: cannot read the spec: no such file or directory" in done.output


def test_list_shows_name_family_counts_and_reference():
    rows = json.loads(cli("list", "resnet-5*", "-f", "json").stdout)
    assert [r["name"] for r in rows] == ["resnet-50", "resnet-50-dcn", "resnet-56", "resnet-56-b"]
    assert [r["name"] for r in json.loads(cli("list", "resnet-50", "-f", "json").stdout)] == [  # a word: contained
        "resnet-50", "resnet-50-dcn", "se-resnet-50", "wide-resnet-50-2"]
    first = rows[0]
    assert (first["family"], first["params"], first["macs"]) == ("resnet", 25_557_032, 4_089_184_256)
    assert first["reference"].startswith("ImageNet ResNet-50 in torchvision's layout")
    every = json.loads(cli("list", "-f", "json").stdout)
    assert [r["name"] for r in every] == archspec.list_specs() == sorted(p.stem for p in SPECS.glob("*.yaml"))
    assert {r["family"] for r in every} >= {"resnet", "densenet", "pyramidnet", "vgg", "googlenet", "efficientnet"}
    csv_rows = [line.split(",")[:4] for line in cli("list", "dense*", "-f", "csv").stdout.splitlines()[1:]]
    assert csv_rows == [[name, "densenet", str(archspec.report(name)["params"]), str(archspec.report(name)["macs"])]
                        for name in ("densenet-121", "densenet-161", "densenet-169", "densenet-201", "densenet-bc-100-12")]
    done = cli("list", "nothing-like-this")
    assert done.exit_code == 2 and "no bundled spec matches" in done.output


def test_version():
    done = cli("--version")
    assert done.exit_code == 0 and done.stdout == f"archspec {archspec.__version__} (distribution archspec-nn)\n"


def test_list_specs_takes_a_shell_pattern():
    assert archspec.list_specs("vgg-16*") == ["vgg-16", "vgg-16-bn"]
    assert archspec.list_specs("nothing*") == []


def test_load_takes_a_dict_without_changing_it():
    data = yaml.safe_load(RESNET20.read_text())
    before = json.dumps(data, sort_keys=True)
    spec = archspec.load(data, ["body.depth=32"])
    assert json.dumps(data, sort_keys=True) == before
    assert archspec.plan(spec).params == archspec.plan(RESNET20, overrides=["body.depth=32"]).params
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load({**data, "classes": 0})
    assert str(caught.value) == "<dict>: classes: must be greater than 0 (got `0`)"
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load({**data, "classes": {1, 2}})
    assert str(caught.value).startswith("<dict>: classes: YAML tag `tag:yaml.org,2002:set` is not allowed")
    with pytest.raises(archspec.SpecError, match=r"^<dict>: a spec mapping holds only plain data .*, not object$"):
        archspec.load({**data, "classes": object()})


def test_load_takes_yaml_text_and_locates_its_errors():
    text = RESNET20.read_text()
    assert archspec.load(text).name == "resnet-20"
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(text.replace("classes: 10", "classes: ten"))
    [problem] = caught.value.problems
    assert (problem.file, problem.path) == ("<string>", "classes")
    assert text.splitlines()[problem.line - 1].startswith("classes:")


def test_load_applies_overrides_to_a_spec_object():
    spec = archspec.load("resnet-20")
    assert archspec.load(spec) is spec
    assert archspec.load(spec, ["classes=100"]).classes == 100
    assert spec.classes == 10


def test_build_takes_timm_keywords_for_classes_and_input_channels():
    model = archspec.build("resnet-20", num_classes=100, in_chans=1)
    first_conv = next(m for m in model.modules() if type(m).__name__ == "Conv2d")
    last_linear = [m for m in model.modules() if type(m).__name__ == "Linear"][-1]
    assert (first_conv.in_channels, last_linear.out_features) == (1, 100)
    want = archspec.report(RESNET20, overrides=["classes=100", "input.channels=1"])["params"]
    assert sum(p.numel() for p in model.parameters()) == want
    with pytest.raises(archspec.SpecError, match="num_classes: must be a whole number, got True"):
        archspec.build("resnet-20", num_classes=True)


def test_list_fits_an_80_column_terminal_with_names_and_counts_whole():
    import io

    from rich.console import Console

    from archspec.cli.listing import bundled_table, fitted
    from archspec.complexity.render import human

    table = bundled_table(archspec.list_specs())
    out = Console(width=80, file=io.StringIO(), force_terminal=False)
    out.print(fitted(table, 80))
    lines = out.file.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == len(table.rows)  # one line per spec
    for line, row in zip(body, table.rows):
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        assert cells[:4] == [row["name"], row["family"], human(row["params"]), human(row["macs"])]
        assert row["reference"].startswith(cells[4].rstrip("…"))


def test_list_blocks_names_every_kind_a_spec_can_use_with_its_parameters():
    """``list --blocks``: every built-in kind (one per spec model) and every bundled block file, each with
    its source, parameters (defaults as a spec writes them; required ones bare) and first sentence."""
    from archspec.spec.blocks import BUILT_IN_BLOCKS, BasicBlock
    from archspec.spec.user_blocks import bundled_block_names

    done = subprocess.run([sys.executable, "-m", "archspec", "list", "--blocks", "-f", "json"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = {row["type"]: row for row in json.loads(done.stdout)}
    built_in = {b.model_fields["type"].annotation.__args__[0] for b in BUILT_IN_BLOCKS}
    assert {t for t, r in rows.items() if r["source"] == "built-in"} == built_in
    assert {t for t, r in rows.items() if r["source"] == "block file"} == set(bundled_block_names())
    basic = rows["basic"]
    assert basic["where"] == "archspec.spec.blocks.BasicBlock"
    assert [p.split("=")[0] for p in basic["params"]] == [n for n in BasicBlock.model_fields if n != "type"]
    assert "groups=1" in basic["params"] and basic["description"].startswith("conv3x3-BN-ReLU-conv3x3-BN, add, ReLU")
    res2net = rows["res2net"]
    declared = yaml.safe_load((ROOT / res2net["where"]).read_text())["params"]
    assert res2net["params"] == [f"{name}={p['default']}" for name, p in declared.items()]
    assert res2net["where"] == "archspec/blocks_lib/res2net.yaml"
    assert rows["dense"]["params"][0] == "growth"  # required: no default


def test_list_blocks_takes_a_pattern_and_refuses_one_that_matches_nothing():
    done = subprocess.run([sys.executable, "-m", "archspec", "list", "--blocks", "pyramid", "-f", "csv"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [line.split(",")[0] for line in done.stdout.splitlines()[1:]] == ["pyramid", "pyramid_bottleneck"]
    done = subprocess.run([sys.executable, "-m", "archspec", "list", "--blocks", "nothing_like_it"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "no block type matches" in done.stderr and not done.stdout
