"""One number reader (archspec.spec.numbers) behind every number a user writes.

The same hostile numbers go through every entry point: a spec field in YAML, ``--set``, a space
file's ranges and budget, ``fit`` targets, the CLI's counts and sizes, and ``COLUMNS``. Each
must end in exit status 2 with one located message (never a traceback, an OverflowError or
``decimal.Overflow``), or, for ``COLUMNS``, be ignored.
"""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.spec import SpecError, load_text
from archspec.spec.numbers import NumberError, parse_count, parse_float, parse_int, yaml12_number
from conftest import ROOT, spec_path

runner = CliRunner()
HUGE_INT = "9" * 5000
OVER_RANGE = ["1e999999999", HUGE_INT, "-" + HUGE_INT]


def short(value: object) -> str | None:
    """Test ids: 5,000 digits named by their count."""
    return f"{len(value)}-chars" if isinstance(value, str) and len(value) > 40 else None
NOT_DIGITS = ["²", "٣", "1_000", "0b101", "1:30"]  # str.isdigit() is True for the first two
RESNET20 = spec_path("resnet-20").read_text()


def flat(text: str) -> str:
    """The output without rich's box and line wrapping."""
    return " ".join(text.replace("│", " ").split())


def clean_refusal(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = flat(result.output)
    assert "Traceback" not in text and "Overflow" not in text
    for word in words:
        assert word in text, text


# --- the reader itself -------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("010", 10), ("0o17", 15), ("0x1F", 31), ("-7", -7), ("+3", 3),
                                         ("1e5", 100000.0), (".5", 0.5), ("1.", 1.0), ("1_000", None),
                                         ("0b101", None), ("1:30", None), ("²", None), ("1.0.0", None)])
def test_yaml_numbers_are_read_as_yaml_1_2_reads_them(text, value):
    assert yaml12_number(text) == value


@pytest.mark.parametrize("read, texts", [(yaml12_number, OVER_RANGE), (parse_float, OVER_RANGE),
                                         (parse_int, OVER_RANGE[1:]), (parse_count, OVER_RANGE[:2])],
                         ids=["yaml", "float", "int", "count"])
def test_over_range_numbers_have_one_message(read, texts):
    for text in texts:
        with pytest.raises(NumberError, match="is out of range"):
            read(text)


@pytest.mark.parametrize("text", NOT_DIGITS)
def test_only_ascii_digits_are_digits(text):
    with pytest.raises(NumberError, match="expected a whole number"):
        parse_int(text)


def test_counts_are_exact_beyond_decimal_precision():
    assert parse_count("1.5M") == 1_500_000 and parse_count("2G") == 2 * 10**9
    assert parse_count("123456789012345678901234567890") == 123456789012345678901234567890
    with pytest.raises(NumberError, match="not a whole number"):
        parse_count("0.5")


def test_non_finite_floats_only_where_allowed():
    assert math.isinf(parse_float(".inf", allow_nonfinite=True))
    with pytest.raises(NumberError, match="not finite"):
        parse_float(".nan")


# --- spec fields: YAML, and the same through --set ------------------------------------------

def test_a_leading_zero_is_decimal_as_in_yaml_1_2():
    assert load_text(RESNET20.replace("classes: 10", "classes: 010"), "s.yaml").classes == 10
    assert archspec.plan("resnet-20", overrides=["classes=010"]).classes == 10


@pytest.mark.parametrize("value, message", [
    *[(v, "is out of range") for v in OVER_RANGE],
    (".inf", "must be a finite number"), (".nan", "must be a finite number"), ("-.inf", "must be a finite number"),
], ids=short)
def test_every_float_field_refuses_non_finite_and_over_range_values(value, message):
    """batchnorm.eps: .inf zeroes every activation (the network ignores its input)."""
    text = RESNET20.replace("name: resnet-20", f"name: resnet-20\nbatchnorm: {{eps: {value}}}")
    with pytest.raises(SpecError) as caught:
        load_text(text, "s.yaml")
    [problem] = caught.value.problems
    assert problem.path.startswith("batchnorm.eps") and problem.line is not None and message in problem.message
    clean_refusal(runner.invoke(app, ["validate", "resnet-20", "--set", f"batchnorm.eps={value}"]),
                  "batchnorm.eps", message)


@pytest.mark.parametrize("value", [*OVER_RANGE, "²"], ids=short)
def test_set_paths_and_values_refuse_hostile_numbers_cleanly(value):
    clean_refusal(runner.invoke(app, ["validate", "resnet-20", "--set", f"classes={value}"]), "classes")
    clean_refusal(runner.invoke(app, ["validate", "resnet-20", "--set", f"body.stages[{HUGE_INT}].stride=1"]),
                  "is out of range")


def test_a_multi_line_set_value_is_refused_not_cut():
    for brk in ("\n", "\r", "\u2028"):
        result = runner.invoke(app, ["validate", "resnet-20", "--set", f"classes=5{brk}name: evil"])
        clean_refusal(result, "spans several lines")


# --- space files: ranges and budgets ---------------------------------------------------------

def space(tmp_path, vary: str, budget: str = "{params: [null, 400K]}"):
    path = tmp_path / "space.yaml"
    path.write_text(f"base: {ROOT / 'specs' / 'resnet-20.yaml'}\nvary:\n  {vary}\nbudget: {budget}\n")
    return path


@pytest.mark.parametrize("vary, budget, message", [
    *[(f"body.depth: {{int: [8, {v}]}}", "{params: [null, 400K]}", "is out of range") for v in OVER_RANGE],
    ("head.dropout: {float: [0.0, .nan]}", "{params: [null, 400K]}", "finite"),
    ("head.dropout: {float: [0.0, .inf]}", "{params: [null, 400K]}", "finite"),
    *[("body.depth: {choice: [8, 14]}", f"{{params: [null, {v}]}}", "is out of range") for v in OVER_RANGE],
    ("body.depth: {choice: [8, 14]}", '{params: [null, "1e999999999M"]}', "is out of range"),
    ("body.depth: {choice: [8, 14]}", '{params: [null, "²"]}', "is not a count"),
    ("body.depth: {choice: [8, 14]}", "{params: [null, .inf]}", "is not a count"),
], ids=short)
def test_space_ranges_and_budgets_refuse_hostile_numbers(tmp_path, vary, budget, message):
    out = tmp_path / "out"
    result = runner.invoke(app, ["sample", str(space(tmp_path, vary, budget)), "-n", "1", "-o", str(out)])
    clean_refusal(result, message)
    assert not out.exists()


@pytest.mark.parametrize("target", [*OVER_RANGE, "²", "1e999999999M"], ids=short)
def test_fit_targets_refuse_hostile_numbers(target):
    result = runner.invoke(app, ["fit", str(spec_path("pyramidnet-110-a270")), "--vary", "body.widening.alpha",
                                 "--params", target])
    clean_refusal(result, "--params")


# --- CLI counts and sizes; COLUMNS ------------------------------------------------------------

@pytest.mark.parametrize("value", [*OVER_RANGE, "²", "1e300GiB"], ids=short)
@pytest.mark.parametrize("option", ["--max-params", "--max-memory"])
def test_cli_counts_and_sizes_refuse_hostile_numbers(option, value):
    result = runner.invoke(app, [option, value, "validate", "resnet-20"])
    assert result.exit_code == 2 and "Traceback" not in result.output and option in result.output


@pytest.mark.parametrize("value", [*OVER_RANGE[1:], "²", "0"], ids=short)
def test_input_size_refuses_hostile_numbers(value):
    clean_refusal(runner.invoke(app, ["report", "resnet-20", "--input-size", value]), "--input-size")


@pytest.mark.parametrize("value", [HUGE_INT, "²", "abc", "0", "-5"], ids=short)
def test_a_columns_archspec_cannot_read_is_ignored(value):
    """rich reads COLUMNS with str.isdigit() and int(): the CLI drops what the one reader refuses."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "archspec", "report", "resnet-20", "--format", "csv"],
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": value})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith("name,")


@pytest.mark.parametrize("args", [
    ["sample", "spaces/cifar-resnets.yaml", "-n", "2", "--max-draws", "9" * 30, "-o", "never"],
    ["sample", "spaces/cifar-resnets.yaml", "-n", "9" * 30, "-o", "never"],
    ["build", "resnet-20", "--seed", "9" * 30, "-o", "never"],
    ["report", "resnet-20", "--batch", "9" * 30],
    ["report", "resnet-20", "--batch", "²"],
    ["report", "resnet-20", "--batch", HUGE_INT],
], ids=["max-draws", "samples", "seed", "batch", "batch-superscript", "batch-5000-digits"])
def test_integer_options_refuse_what_no_consumer_takes(args, tmp_path, monkeypatch):
    """Every integer option is capped at 2**63 - 1 (itertools.islice raised on --max-draws 10**30)."""
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Invalid value for" in flat(result.output)
    assert not (ROOT / "never").exists()


@pytest.mark.parametrize("text", ["1e5", "010", "0o17", "0x1F", ".5"])
def test_expanded_specs_quote_strings_yaml_1_2_would_read_as_numbers(text):
    """A spec's expanded form (archspec expand, sample's files) reads back as written."""
    from archspec.spec.expand import expanded_yaml
    from archspec.spec.yaml_safety import parse_yaml

    written = "\n".join(f'description: "{text}"' if line.startswith("description:") else line
                        for line in RESNET20.splitlines())
    spec = load_text(written, "s.yaml")
    data, _ = parse_yaml(expanded_yaml(spec.model_dump(mode="json", exclude_none=True), "0" * 64), "e.yaml")
    assert data["description"] == text
