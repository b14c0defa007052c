"""Sampling design spaces: determinism, budget bands, dedup, files, and the fast path's exactness."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
import yaml

import archspec
from archspec.space import Counter, Unresolved, load_space, load_space_text, sample, with_changes
from archspec.space.sample import DUPLICATE, draw
from archspec.spec import SpecError, load
from archspec.plan.expand import spec_hash
from conftest import ROOT, SPECS

PYRAMID_SPACE = ROOT / "spaces" / "pyramidnet.yaml"


def space_text(vary: str, budget: str = "", base: str = "resnet-20.yaml", tie: str = "") -> str:
    return f"base: {SPECS / base}\nvary:\n{vary}\n" + (f"budget: {budget}\n" if budget else "") + (
        f"tie: {tie}\n" if tie else "")


def test_same_seed_gives_the_same_files(tmp_path):
    space = load_space(PYRAMID_SPACE)
    first = sample(space, 6, seed=11, out=tmp_path / "a")
    again = sample(space, 6, seed=11, out=tmp_path / "b")
    other = sample(space, 6, seed=12)
    assert [s.sha256 for s in first.samples] == [s.sha256 for s in again.samples]
    assert [s.sha256 for s in first.samples] != [s.sha256 for s in other.samples]
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_samples_are_standalone_expanded_specs_within_the_budget(tmp_path):
    space = load_space(PYRAMID_SPACE)
    result = sample(space, 8, seed=3, out=tmp_path)
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert len(index) == 8 == len({row["sha256"] for row in index})
    for row in index:
        assert set(row) >= {"sha256", "file", "values", "params", "macs"}
        assert row["file"] == f"{row['sha256'][:12]}.yaml"
        spec = load(tmp_path / row["file"])
        assert spec_hash(spec) == row["sha256"]
        counted = archspec.plan(spec)
        assert (counted.params, counted.macs) == (row["params"], row["macs"])
        assert 1_000_000 <= row["params"] <= 3_000_000 and row["macs"] <= 600_000_000
        assert set(row["values"]) == {"body.widening.alpha", "body.depth", "body.block.type", "head.dropout"}
    assert result.drawn == 8 + sum(result.rejected.values())
    assert set(result.rejected) <= {"params above 3M", "params below 1M", "macs above 600M", DUPLICATE}
    assert result.rejected["params above 3M"] > 0


def test_draws_out_of_budget_are_counted_by_reason(tmp_path):
    text = space_text("  body.depth: {choice: [14, 20, 21, 56]}", budget="{params: [200K, 500K]}")
    result = sample(load_space_text(text, str(tmp_path / "s.yaml")), 4, seed=0, max_draws=60)  # the space has 4 draws
    assert not result.complete and len(result.samples) == 1  # of the depths that divide, only 20 is in the band
    assert result.samples[0].params == archspec.plan(SPECS / "resnet-20.yaml").params
    assert result.samples[0].values == {"body.depth": 20}
    assert result.rejected["does not resolve at body.depth"] > 0
    assert result.rejected["params below 200K"] > 0
    assert result.rejected["params above 500K"] > 0
    assert result.rejected[DUPLICATE] > 0
    assert result.drawn == 60


def test_networks_that_only_differ_in_how_they_are_written_are_one_sample(tmp_path):
    # alpha 48 and 48.0 validate to the same spec; 47.9 and 48.1 give the same widths: same expanded sha256
    text = space_text("  body.widening.alpha: {choice: [48, 48.0, 47.95, 48.05]}", base="pyramidnet.yaml")
    result = sample(load_space_text(text, str(tmp_path / "s.yaml")), 2, seed=0, max_draws=50)
    assert len(result.samples) == 1
    assert result.rejected == {DUPLICATE: 49}


def test_tied_paths_take_the_sampled_value(tmp_path):
    text = space_text("  body.widening.base: {int: [8, 16], step: 4}", tie="{body.widening.base: [stem.width]}")
    result = sample(load_space_text(text, str(tmp_path / "s.yaml")), 3, seed=0, out=tmp_path / "out")
    assert sorted(s.values["body.widening.base"] for s in result.samples) == [8, 12, 16]
    for s in result.samples:
        spec = load(tmp_path / "out" / s.file)
        assert spec.stem.width == s.values["body.widening.base"] == spec.body.widening.widths[0][0]


def test_integer_ranges_stay_on_their_step_grid_and_log_ranges_cover_both_ends():
    space = load_space_text(space_text("  body.widening.base: {int: [8, 64], step: 8, log: true}\n"
                                       "  head.dropout: {float: [0.01, 0.5], log: true}"), str(SPECS / "x.yaml"))
    rng = random.Random(0)
    ints = [draw(space.axes[0], rng) for _ in range(400)]
    floats = [draw(space.axes[1], rng) for _ in range(400)]
    assert set(ints) == {8, 16, 24, 32, 40, 48, 56, 64}
    assert all(0.01 <= f <= 0.5 for f in floats) and min(floats) < 0.02 and max(floats) > 0.3


FAST_PATH_SPACES = {
    "pyramidnet.yaml": [("body.widening.alpha", lambda r: r.uniform(0, 300)),
                        ("body.depth", lambda r: r.choice([20, 56, 110, 111, 164])),
                        ("body.block.type", lambda r: r.choice(["pyramid", "pyramid_bottleneck"])),
                        ("head.dropout", lambda r: r.choice([0.0, 0.2]))],
    "resnet-56.yaml": [("body.widening.base", lambda r: r.randint(1, 40)),
                       ("stem.width", lambda r: r.choice([8, 16, 24])),
                       ("body.shortcut.type", lambda r: r.choice(["zero_pad", "projection"]))],
    "efficientnet-b0.yaml": [("scaling.width_mult", lambda r: round(r.uniform(0.5, 2.0), 3)),
                             ("scaling.depth_mult", lambda r: round(r.uniform(0.5, 2.0), 3)),
                             ("body.stages[3].units", lambda r: r.randint(1, 4))],
    "resnext-29-8x64d.yaml": [("body.block.groups", lambda r: r.choice([1, 3, 4, 8])),
                              ("input.size", lambda r: r.choice([16, 32]))],
}


@pytest.mark.parametrize("base", sorted(FAST_PATH_SPACES))
def test_fast_path_counts_equal_the_report_path(base):
    """Targeted validation + unit memo == validating the edited data and planning afresh, on random variants."""
    rng = random.Random(base)
    spec = load(SPECS / base)
    counter = Counter()
    resolved = 0
    for _ in range(25):
        values = [(path, pick(rng)) for path, pick in FAST_PATH_SPACES[base]]
        sets = [f"{path}={value}" for path, value in values]
        try:
            expected = archspec.report(SPECS / base, overrides=sets)
        except SpecError:
            with pytest.raises(Unresolved):
                counter.count(with_changes(spec, [(_path(p), v) for p, v in values]))
            continue
        fast = counter.count(with_changes(spec, [(_path(p), v) for p, v in values]))
        assert (fast.params, fast.macs) == (expected["params"], expected["macs"]), sets
        assert spec_hash(fast.spec) == spec_hash(load(SPECS / base, sets)), sets
        resolved += 1
    assert resolved >= 5


@pytest.mark.parametrize("base, fields", [
    ("pyramidnet.yaml", FAST_PATH_SPACES["pyramidnet.yaml"]),
    ("resnet-56.yaml", FAST_PATH_SPACES["resnet-56.yaml"]),
    ("res2net50-26w-4s.yaml", [("body.block.scale", lambda r: r.randint(2, 6)),
                               ("body.block.base_width", lambda r: r.choice([8, 14, 26])),
                               ("body.stages[2].units", lambda r: r.randint(1, 4)),
                               ("input.size", lambda r: r.choice([64, 96]))]),
])
def test_fast_path_plans_equal_fresh_plans_record_for_record(base, fields):
    """Units reused from the memo, at their own place or (position-free kinds: residual blocks, user blocks
    that read no position) at another unit's place, are the records planning afresh makes: every unit,
    name, layer and graph node."""
    rng, spec, counter = random.Random(base), load(SPECS / base), Counter()
    planned = 0
    for _ in range(12):
        values = [(path, pick(rng)) for path, pick in fields]
        try:
            fast = counter.count(with_changes(spec, [(_path(p), v) for p, v in values]))
        except Unresolved:
            continue
        fresh = archspec.plan(load(SPECS / base, [f"{p}={v}" for p, v in values]))
        assert fast.plan == fresh, values
        assert [u.name for u in fast.plan.units] == [u.name for u in fresh.units]
        planned += 1
    assert planned >= 6
    assert counter.memo.free, "position-free units were remembered by their inputs"


def test_fast_path_merges_a_partial_stage_block_over_a_changed_body_block(tmp_path):
    """MobileNetV2 written with `block: {expand: 1}` on its first stage: a variant of the body's
    block reaches that stage as `--set` on the file does (the stage keeps only its `expand`)."""
    text = (SPECS / "mobilenet-v2.yaml").read_text().replace("block: {<<: *mbconv, expand: 1}", "block: {expand: 1}")
    path = tmp_path / "mnv2.yaml"
    path.write_text(text)
    spec, counter = load(path), Counter()
    for sets in (["body.block.kernel=5"], ["body.block.act=silu", "body.block.se_ratio=0.25"], ["body.block.expand=4"]):
        changes = [(_path(s.split("=")[0]), yaml.safe_load(s.split("=")[1])) for s in sets]
        fast = counter.count(with_changes(spec, changes))
        expected = load(path, sets)
        assert fast.spec.body.stages[0].block == expected.body.stages[0].block, sets
        assert fast.spec.body.stages[0].block.expand == 1
        assert (fast.params, fast.macs) == (archspec.plan(expected).params, archspec.plan(expected).macs), sets
        assert spec_hash(fast.spec) == spec_hash(expected), sets


def _path(text: str) -> tuple:
    from archspec.spec.compose import override_path

    return override_path(text)


def test_sample_and_fit_do_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from archspec.cli import app\n"
        f"for argv in (['sample', {str(PYRAMID_SPACE)!r}, '-n', '3', '-o', {str(tmp_path)!r}],\n"
        f"             ['fit', {str(SPECS / 'wrn-28-10.yaml')!r}, '--vary', 'body.widening.k', '--params', '36.5M']):\n"
        "    try:\n"
        "        app(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no torch" in out.stdout and "widening.k = 10" in out.stdout
    assert (tmp_path / "index.jsonl").read_text().count("\n") == 3


def test_sample_cli_reports_what_it_found_when_draws_run_out(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(space_text("  body.depth: {choice: [20, 21]}"))
    out = subprocess.run([sys.executable, "-m", "archspec", "sample", str(space), "-n", "2", "--max-draws", "20",
                          "-o", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1
    assert "found 1 of 2 samples in 20 draws" in out.stderr
    assert "does not resolve at body.depth" in out.stderr and "duplicate" in out.stderr
    assert len((tmp_path / "out" / "index.jsonl").read_text().splitlines()) == 1


def test_sample_count_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        sample(load_space(PYRAMID_SPACE), 0)
    out = subprocess.run([sys.executable, "-m", "archspec", "sample", str(PYRAMID_SPACE), "-n", "0", "-o",
                          str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "at least 1" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "o").exists()


def test_sample_files_are_the_yaml_that_expand_writes(tmp_path):
    """The sampler's fast YAML writer gives PyYAML's safe_dump text, byte for byte."""
    import yaml

    from archspec.plan.expand import expand
    from archspec.space.text import ExpandedText
    from archspec.spec.expand import _tags_first, expanded_yaml

    specs = [load(p) for p in sorted(SPECS.glob("*.yaml"))]
    space = load_space(PYRAMID_SPACE)
    specs += [with_changes(space.base, space.changes(s.values)) for s in sample(space, 10, seed=9).samples]
    shared = ExpandedText()  # one cache across all these specs: an entry is reused only where its value is the same
    for spec in specs:
        data, sha = expand(spec), spec_hash(spec)
        dumped = yaml.safe_dump(_tags_first(data), sort_keys=False, default_flow_style=None, width=100,
                                allow_unicode=True)
        assert expanded_yaml(data, sha).split("\n", 2)[2] == dumped, spec.name
        assert shared(data, sha) == expanded_yaml(data, sha), spec.name


def test_a_full_memo_starts_again_and_counts_stay_exact():
    """The memo's bound clears units, stages and tokens together: later variants still count right."""
    from archspec.plan.memo import UnitMemo

    spec, small = load(SPECS / "pyramidnet.yaml"), Counter(UnitMemo(max_units=50))
    for alpha in (24, 48, 96, 48, 150, 24):
        got = small.count(with_changes(spec, [(("body", "widening", "alpha"), alpha)]))
        expected = archspec.report(SPECS / "pyramidnet.yaml", overrides=[f"body.widening.alpha={alpha}"])
        assert (got.params, got.macs) == (expected["params"], expected["macs"])
        assert len(small.memo.units) <= 50 and len(small.memo._tokens) <= 50


def test_variants_that_differ_in_the_head_share_the_planned_stem_and_stages():
    """The memo hands back the records planned before: only the head is planned again."""
    spec, counter = load(SPECS / "pyramidnet.yaml"), Counter()
    first, second = (counter.count(with_changes(spec, [(("head", "dropout"), p)])) for p in (0.1, 0.3))
    assert second.plan.stem is first.plan.stem
    assert all(b is a for a, b in zip(first.plan.stages, second.plan.stages))
    assert second.plan.head is not first.plan.head and second.spec.head.dropout == 0.3


@pytest.mark.parametrize("text, n, max_draws", [
    (None, 30, None),  # the example space: budget rejections, and enough draws for several chunks
    (space_text("  body.depth: {choice: [14, 20, 21, 56]}\n  head.dropout: {float: [0.0, 0.5]}",
                budget="{params: [200K, 500K]}"), 12, 40),  # unresolvable depths; --max-draws runs out first
])
def test_worker_processes_give_the_same_samples_as_one_process(tmp_path, monkeypatch, text, n, max_draws):
    """Judging draws in forked workers changes neither the samples, nor the files, nor the tallies."""
    from archspec.space import parallel

    monkeypatch.setattr(parallel, "CHUNK", 16)  # many chunks, and samples complete in the middle of one
    space = load_space(PYRAMID_SPACE) if text is None else load_space_text(text, str(tmp_path / "s.yaml"))
    one = sample(space, n, seed=7, max_draws=max_draws, out=tmp_path / "one", workers=1)
    two = sample(space, n, seed=7, max_draws=max_draws, out=tmp_path / "two", workers=2)
    assert (one.samples, one.drawn, one.rejected) == (two.samples, two.drawn, two.rejected)
    assert one.drawn == len(one.samples) + sum(one.rejected.values())
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(names) == len(one.samples) + 1
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    if max_draws is not None:
        assert not one.complete and any(r.startswith("does not resolve") for r in one.rejected)


def test_a_worker_that_fails_raises_in_the_caller():
    from archspec.space.parallel import judged

    def judge(values):
        if values["v"] == 5:
            raise ValueError("no five")
        return "fine"

    space = load_space(PYRAMID_SPACE)
    with pytest.raises(ValueError, match="no five"):
        list(judged(space, lambda: ({"v": i, **{a.key: 0 for a in space.axes}} for i in range(100)), 100, judge, 2,
                    chunk=8))


def test_a_stale_staged_sample_file_is_removed_when_that_sample_is_written_again(tmp_path):
    import os

    space = load_space(PYRAMID_SPACE)
    first = sample(space, 3, seed=2, out=tmp_path)
    stale = tmp_path / f".{first.samples[1].file}.999999999-abcd1234.tmp"  # a killed run's, by a dead pid
    stale.write_text("half a fi")
    os.utime(stale, (1, 1))
    again = sample(space, 3, seed=2, out=tmp_path)
    assert again.samples == first.samples and not stale.exists()


def test_more_samples_than_a_counted_space_has_are_refused_at_once(tmp_path):
    """3 depths x 3 widths: 9 draws, so 10 (or 10^9) distinct samples cannot exist; refused before drawing."""
    text = space_text("  body.depth: {choice: [8, 14, 20]}\n  body.widening.base: {int: [8, 16], step: 4}")
    space = load_space_text(text, str(tmp_path / "s.yaml"))
    assert space.size == 9 and load_space(PYRAMID_SPACE).size is None  # a real-valued axis: not counted
    assert len(sample(space, 9, seed=0, max_draws=2000).samples) <= 9
    (tmp_path / "space.yaml").write_text(text)
    out = subprocess.run([sys.executable, "-m", "archspec", "sample", str(tmp_path / "space.yaml"), "-n",
                          "1000000000", "-o", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert ("1,000,000,000 distinct samples asked for, but the space has only 9 different draws "
            "(3 (body.depth) x 3 (body.widening.base))") in out.stderr
    assert not (tmp_path / "o").exists()


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc), zombies left out."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
def test_workers_die_when_sample_is_killed_with_sigkill(tmp_path):
    """A CI timeout's SIGKILL gives sample no chance to stop its workers: they must go by themselves."""
    import os
    import signal
    import time

    parent = subprocess.Popen([sys.executable, "-m", "archspec", "sample", str(PYRAMID_SPACE), "-n", "10000",
                               "--workers", "2", "-o", str(tmp_path / "o")], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_children(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _children(parent.pid)
        assert len(workers) == 2, workers
        time.sleep(1)  # judging draws, well into the run
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [w for w in workers if _alive(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert alive == []


def test_user_block_variants_get_tokens_by_their_parameters_and_definition():
    """Pydantic hashes a user block's declared fields only (not its parameters): the memo tokens it by
    its parameters' values and its definition's identity, so variants neither chain nor collide."""
    import dataclasses

    from archspec.plan.memo import UnitMemo

    spec = load(SPECS / "res2net50-26w-4s.yaml")
    block, memo = spec.body.block, UnitMemo()
    same = with_changes(spec, [(("body", "block", "scale"), 4)]).body.block
    other = with_changes(spec, [(("body", "block", "scale"), 6)]).body.block
    assert same is not block and memo.token(same) == memo.token(block)
    assert memo.token(other) != memo.token(block)
    elsewhere = block.model_copy()  # the same parameters, another (equal) definition: another block
    elsewhere._definition = dataclasses.replace(block.definition)
    assert memo.token(elsewhere) != memo.token(block)


def _count_free_paths(node, at=()):
    """Every field of a validated spec declared CountFree (a dropout or drop-path rate), by path."""
    from pydantic import BaseModel

    from archspec.spec.base import CountFree

    if isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            if any(isinstance(m, CountFree) for m in info.metadata):
                yield at + (name,)
            else:
                yield from _count_free_paths(getattr(node, name), at + (name,))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _count_free_paths(value, at + (i,))


def test_count_free_fields_change_no_count_of_any_bundled_spec():
    """The sampler judges draws that differ only in CountFree fields by one plan's counts: in every bundled
    spec, each such field set from zero to a rate (the step appears) or from its rate to zero (it goes)
    plans, and to the same params and MACs."""
    from archspec.plan.resolve import checked_plan
    from archspec.space.load import value_at

    changed, specs = 0, sorted(SPECS.glob("*.yaml"))
    for file in specs:
        spec = load(file)
        plan = checked_plan(spec)
        for path in _count_free_paths(spec):
            rate = 0.3 if value_at(spec, path) == 0 else 0.0
            other = checked_plan(with_changes(spec, [(path, rate)]))
            assert (other.params, other.macs) == (plan.params, plan.macs), (file.name, path, rate)
            changed += 1
    assert len(specs) > 80 and changed > 250  # heads' dropouts, blocks' drop paths, ViT/Swin/MaxViT rates


def _band_space(tmp_path, alpha: str, rates: str, tie: str = "") -> tuple:
    """PyramidNet-110 variants with a budget whose bands end exactly at the counts of alphas 40, 55 and 60:
    alpha <= 40 has too few params, 56..60 too many MACs, 61 and up too many params."""
    base = load(SPECS / "pyramidnet.yaml")

    def counts(a: int) -> tuple[int, int]:
        plan = Counter().count(with_changes(base, [(("body", "widening", "alpha"), a)]))
        return plan.params, plan.macs

    low, top, macs = counts(40)[0] + 1, counts(60)[0], counts(55)[1]
    text = space_text(f"  body.widening.alpha: {alpha}\n  body.block.type: {{choice: [pyramid, pyramid_bottleneck]}}\n"
                      + rates, budget=f"{{params: [{low}, {top}], macs: [null, {macs}]}}", base="pyramidnet.yaml",
                      tie=tie)
    return load_space_text(text, str(tmp_path / "space.yaml")), (low, top, macs)


@pytest.mark.parametrize("alpha, rates, tie, draws_", [
    # structures repeat: later draws are judged by their first one's counts (rates of the head and the block)
    ("{int: [36, 64]}", "  head.dropout: {float: [0.0, 0.5]}\n  body.block.drop_path: {float: [0.0, 0.2]}",
     "{head.dropout: [body.block.dropout]}", 300),
    ("{float: [24.0, 120.0]}", "  head.dropout: {float: [0.0, 0.5]}", "", 80),  # alpha real: every draw planned
])
def test_draws_judged_by_their_structure_s_counts_get_the_verdicts_of_planning_each(tmp_path, monkeypatch,
                                                                                   alpha, rates, tie, draws_):
    """Judging a draw by the counts of an earlier draw of its structure gives, draw for draw, the verdict
    (reason, or counts, sha256 and file text) that planning it in full gives, on each side of every band's
    ends; a real value that counts depend on is never taken for a structure's."""
    import itertools

    from archspec.space.model import si
    from archspec.space.sample import Judge, draws

    space, (low, top, macs) = _band_space(tmp_path, alpha, rates, tie)
    planned = []
    count = Counter.count
    monkeypatch.setattr(Counter, "count", lambda self, spec: planned.append(1) or count(self, spec))
    values = list(itertools.islice(draws(space, seed=3 if "int" in alpha else 0), draws_))
    fast_judge, slow_judge = Judge(space), Judge(space, reuse_counts=False)
    fast = [fast_judge(v) for v in values]
    fast_plans, planned[:] = len(planned), []
    slow = [slow_judge(v) for v in values]
    assert fast == slow
    assert len(planned) == len(values)
    reasons = {v if isinstance(v, str) else "in budget" for v in fast}
    assert reasons == {f"params below {si(low)}", f"params above {si(top)}", f"macs above {si(macs)}", "in budget"}
    if "int" in alpha:  # the ends themselves were drawn (40 | 41, 55 | 56, 60 | 61), many judged by structure
        assert {40, 41, 55, 56, 60, 61} <= {v["body.widening.alpha"] for v in values
                                            if v["body.block.type"] == "pyramid"}
        accepted = sum(not isinstance(v, str) for v in fast)
        assert fast_plans < accepted + 2 * 29 * 2  # the samples, and at most a first draw or two per structure
    else:  # the first draw is out of budget, so each later one of its block type could have been judged by it
        assert fast[0] == f"params above {si(top)}" and fast_plans == len(values)


def test_sampling_by_structures_writes_the_files_of_planning_every_draw(tmp_path, monkeypatch):
    """The example space, sampled with structures' counts reused and with every draw planned: the same
    samples, files, index and tallies."""
    import functools
    import importlib

    sampling = importlib.import_module("archspec.space.sample")  # the module (the package exports the function)

    space = load_space(PYRAMID_SPACE)
    fast = sample(space, 40, seed=9, out=tmp_path / "fast", workers=1)
    monkeypatch.setattr(sampling, "Judge", functools.partial(sampling.Judge, reuse_counts=False))
    slow = sample(space, 40, seed=9, out=tmp_path / "slow", workers=1)
    assert (fast.samples, fast.drawn, fast.rejected) == (slow.samples, slow.drawn, slow.rejected)
    names = sorted(p.name for p in (tmp_path / "fast").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "slow").iterdir()) and len(names) == 41
    for name in names:
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "slow" / name).read_bytes()
    assert fast.rejected["params above 3M"] > 100
