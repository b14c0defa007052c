"""RegNetX and RegNetY: torchvision's width rule, its layouts, and equal outputs under its weights.

torchvision is the oracle throughout: ``BlockParams.from_init_params`` for the widening rule
(on the 15 builders' parameters and on random ones), its ``RegNet`` module for the counts of
random designs, and its 15 builders, randomly filled, for the outputs of the converted specs.
"""

from __future__ import annotations

import inspect
import random
import re
from functools import partial

import pytest
import torch
import torchvision
from torchvision.models.regnet import BlockParams, RegNet
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.plan.expand import canonical_yaml, expand
from archspec.plan.regnet import regnet_widths
from archspec.spec import SpecError
from archspec.spec.limits import reset
from conftest import meta_device, spec_path
from test_convert import assert_equal_outputs
from test_families import meta_counts

SIZE = 32  # stem and four stages halve it to 1x1, torchvision's min_size
runner = CliRunner()


def _builders() -> dict[str, dict]:
    """Each builder's ``from_init_params`` arguments, read from torchvision's source."""
    source = inspect.getsource(torchvision.models.regnet)
    found = {}
    for name, args in re.findall(r"def (regnet_[xy]_\w+)\(.*?from_init_params\((.*?)\)\n", source, re.S):
        found[name] = eval("dict(" + args.replace("**kwargs", "").strip().rstrip(",") + ")")
    return found


BUILDERS = _builders()
SPECS = {name: name.replace("_", "-") for name in BUILDERS}  # regnet_x_1_6gf: regnet-x-1-6gf


def test_every_torchvision_regnet_is_bundled_with_its_parameters():
    assert len(BUILDERS) == 15
    for builder, kwargs in BUILDERS.items():
        spec = archspec.load(spec_path(SPECS[builder]))
        rule, block = spec.body.widening, spec.body.block
        assert spec.reference.torchvision == builder
        assert (rule.depth, rule.w0, rule.wa, rule.wm) == (kwargs["depth"], kwargs["w_0"], kwargs["w_a"], kwargs["w_m"])
        assert (block.group_width, block.se_ratio) == (kwargs["group_width"], kwargs.get("se_ratio"))
        assert block.bottleneck_ratio == kwargs.get("bottleneck_multiplier", 1.0)


class _Rule:
    def __init__(self, depth, w0, wa, wm, quantum=8):
        self.depth, self.w0, self.wa, self.wm, self.quantum = depth, w0, wa, wm, quantum


class _Block:
    def __init__(self, group_width, bottleneck_ratio):
        self.group_width, self.bottleneck_ratio = group_width, bottleneck_ratio


def _random_designs(n: int, seed: int = 0) -> list[dict]:
    """The paper's design space (AnyNetX's ranges, Radosavovic et al. 2020, section 3), plus ratios b != 1."""
    rng = random.Random(seed)
    return [dict(depth=rng.randint(12, 28), w_0=8 * rng.randint(1, 32), w_a=round(rng.uniform(8, 256), 2),
                 w_m=round(rng.uniform(1.5, 3.0), 2), group_width=rng.choice([1, 2, 4, 8, 16, 24, 32, 48, 64, 128]),
                 bottleneck_multiplier=rng.choice([1.0, 1.0, 0.5, 0.25, 2.0]))
            for _ in range(n)]


def test_widths_stages_and_groups_are_torchvision_s():
    """Quantized widths, stages as runs of equal widths, the group-width adjustment: float32 as torchvision,
    on the 15 builders and 2,000 random designs."""
    for kwargs in [*BUILDERS.values(), *_random_designs(2000)]:
        theirs = BlockParams.from_init_params(**kwargs)
        ours = regnet_widths(_Rule(kwargs["depth"], kwargs["w_0"], kwargs["w_a"], kwargs["w_m"]),
                             _Block(kwargs["group_width"], kwargs.get("bottleneck_multiplier", 1.0)))
        assert (list(ours.units), list(ours.widths), list(ours.group_widths)) == (
            theirs.depths, theirs.widths, theirs.group_widths), kwargs


def _random_spec(kwargs: dict, se: bool) -> dict:
    spec = archspec.load(spec_path("regnet-x-400mf")).model_dump(mode="json", exclude_none=True)
    spec.pop("reference")
    spec["input"]["size"] = SIZE
    spec["body"]["widening"] = {"rule": "regnet", "depth": kwargs["depth"], "w0": kwargs["w_0"], "wa": kwargs["w_a"],
                                "wm": kwargs["w_m"]}
    spec["body"]["block"] = {"type": "regnet", "group_width": kwargs["group_width"],
                             "bottleneck_ratio": kwargs["bottleneck_multiplier"], **({"se_ratio": 0.25} if se else {})}
    return spec


@pytest.mark.parametrize("index", range(6))
def test_random_designs_count_as_torchvision_builds_them(index):
    """Params and MACs of random RegNets (b != 1 and SE included) equal torchvision's RegNet module's."""
    kwargs = _random_designs(6, seed=1)[index]
    se = index % 2 == 1
    with meta_device():
        params = BlockParams.from_init_params(**kwargs, se_ratio=0.25 if se else None)
        try:
            model = RegNet(params, norm_layer=partial(torch.nn.BatchNorm2d, eps=1e-05, momentum=0.1))
        except (ValueError, ZeroDivisionError):  # groups that do not divide: torchvision cannot build it
            with pytest.raises(SpecError):
                archspec.plan(_random_spec(kwargs, se))
            return
        theirs = meta_counts(model, (3, SIZE, SIZE))
    plan = archspec.plan(_random_spec(kwargs, se))
    assert (plan.params, plan.macs) == theirs


def _filled(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Cheap random weights for a model made on the meta device: windows of one random pool.

    Each weight is a random window of a shared normal sample scaled by He's std, each bias and
    BN affine parameter random, the BN statistics measured on a small batch and then perturbed,
    the FC rescaled so the logits are O(1) (as test_convert.randomise does). Outputs depend on
    every tensor's place; 644M parameters fill in about a second.
    """
    gen = torch.Generator().manual_seed(seed)
    model.to_empty(device="cpu")
    pool = torch.randn(1 << 22, generator=gen)
    pool = torch.cat([pool, pool])  # any window of the first half's length is a slice
    window = pool.numel() // 2
    bns = []
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
                w = layer.weight.view(-1)
                for at in range(0, w.numel(), window):  # the largest tensors take several windows
                    chunk = w[at:at + window]
                    start = int(torch.randint(0, window, (1,), generator=gen))
                    chunk.copy_(pool[start:start + chunk.numel()])
                w.mul_((2.0 / layer.weight[0].numel()) ** 0.5)
                if layer.bias is not None:
                    layer.bias.normal_(0.0, 0.1, generator=gen)
            elif isinstance(layer, torch.nn.BatchNorm2d):
                layer.weight.uniform_(0.5, 1.5, generator=gen)
                layer.bias.normal_(0.0, 0.2, generator=gen)
                layer.reset_running_stats()
                layer.momentum = None  # a plain average over the batch
                bns.append(layer)
        for bn in bns:
            bn.train()
        batch = torch.randn(4, 3, SIZE, SIZE, generator=gen)
        model(batch)
        model.eval()
        for bn in bns:
            bn.running_mean.add_(0.2 * bn.running_var.sqrt() * torch.randn(bn.running_mean.shape, generator=gen))
            bn.running_var.mul_(torch.empty(bn.running_var.shape).uniform_(0.5, 2.0, generator=gen))
        scale = model(batch).std()
        model.fc.weight.div_(scale)
        model.fc.bias.div_(scale)
    return model


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_converted_weights_give_torchvision_s_outputs(builder):
    with meta_device():
        source = getattr(torchvision.models, builder)(weights=None)
    source = _filled(source, seed=len(builder))
    spec = archspec.load(spec_path(SPECS[builder]), [f"input.size={SIZE}"])
    assert_equal_outputs(source, spec)


def test_report_records_every_rounding_of_the_rule():
    plan = archspec.plan(spec_path("regnet-y-800mf"))
    records = [u.scaling for u in plan.body]
    assert [r["unit"] for r in records] == list(range(14))
    theirs = BlockParams.from_init_params(**BUILDERS["regnet_y_800mf"])
    assert sorted({r["adjusted"] for r in records}) == theirs.widths
    assert all(u.width == u.scaling["adjusted"] == u.out_channels for u in plan.body)
    report = archspec.report(spec_path("regnet-y-800mf"))
    assert report["units"][1]["scaling"]["continuous"] == pytest.approx(56.0)
    result = runner.invoke(app, ["report", str(spec_path("regnet-y-800mf"))], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "regnet widening: unit i gets w0 + wa x i = 56 + 38.84 i" in result.output
    assert "56 + 38.84 x 13 = 560.92 -> 56 x 2.4^3 = 774.144 -> 776 -> 784" in result.output  # adjusted to groups of 16


def test_expand_writes_the_stages_and_is_a_fixed_point(tmp_path):
    spec = archspec.load(spec_path("regnet-x-400mf"))
    data = expand(spec)
    assert data["body"]["stages"] == [{"units": n, "stride": 2} for n in (1, 2, 7, 12)]
    assert data["body"]["widening"] == {"rule": "explicit",
                                        "widths": [[32], [64] * 2, [160] * 7, [400] * 12]}
    path = tmp_path / "expanded.yaml"
    path.write_text(canonical_yaml(spec))
    again = archspec.load(path)
    assert expand(again) == data
    assert (archspec.plan(again).params, archspec.plan(again).macs) == (spec.reference.params, spec.reference.macs)


@pytest.mark.parametrize("body, message", [
    ("{block: {type: regnet, group_width: 16}, widening: {rule: regnet, depth: 22, w0: 24, wa: 24.48, wm: 2.54},"
     " stages: [{units: 1}]}", "derives the stages"),
    ("{block: {type: regnet, group_width: 16}, widening: {rule: regnet, depth: 22, w0: 20, wa: 24.48, wm: 2.54}}",
     "not a multiple of quantum 8"),
    ("{block: {type: regnet, group_width: 16}, widening: {rule: regnet, depth: 22, w0: 24, wa: 24.48, wm: 1.0}}",
     "greater than 1"),
    ("{block: {type: bottleneck}, widening: {rule: regnet, depth: 22, w0: 24, wa: 24.48, wm: 2.54}}",
     "use block {type: regnet"),
])
def test_bad_regnet_specs_are_located_errors(write_spec, body, message):
    path = write_spec(f"name: bad\ninput: {{size: 32}}\nclasses: 10\nstem: {{type: conv, width: 32}}\nbody: {body}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert f"{path}:5:" in result.output


def test_fit_varies_a_regnet_parameter_and_the_stages_follow():
    """The stages come out of the rule: fitting wa to a MAC budget changes the widths and the stages."""
    result = runner.invoke(app, ["fit", str(spec_path("regnet-x-400mf")), "--vary", "body.widening.wa",
                                 "--macs", "600M", "-f", "json"])
    assert result.exit_code == 0, result.output
    import json

    fitted = json.loads(result.output)
    assert fitted["below"]["macs"] <= 600_000_000 <= fitted["above"]["macs"]
    spec = archspec.load(spec_path("regnet-x-400mf"), [f"body.widening.wa={fitted['value']}"])
    plan = archspec.plan(spec)
    assert plan.macs == fitted["macs"]
    theirs = BlockParams.from_init_params(depth=22, w_0=24, w_a=fitted["value"], w_m=2.54, group_width=16)
    assert [len(s.units) for s in plan.stages] == theirs.depths
    assert [s.out_channels for s in plan.stages] == theirs.widths


def test_build_with_weights_from_the_cli(tmp_path):
    with meta_device():
        source = torchvision.models.regnet_y_400mf(weights=None)
    source = _filled(source, seed=3)
    weights = tmp_path / "tv.pth"
    torch.save(source.state_dict(), weights)
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", str(spec_path("regnet-y-400mf")), "--set", f"input.size={SIZE}",
                                 "--weights", str(weights), "-e", "safetensors", "-o", str(out)])
    assert result.exit_code == 0, result.output
    from safetensors.torch import load_file

    spec = archspec.load(spec_path("regnet-y-400mf"), [f"input.size={SIZE}"])
    ours = archspec.build(spec)
    ours.load_state_dict(load_file(next(out.glob("*.safetensors"))), strict=True)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), source(x))


def test_a_design_space_samples_the_rule_s_numbers_and_the_stages_follow():
    """spaces/regnetx-400mf.yaml draws d, w0, wa, wm and g; each sample's stages are torchvision's."""
    from archspec.space.load import load_space
    from archspec.space.sample import sample

    result = sample(load_space(spec_path("regnet-x-400mf").parents[1] / "spaces" / "regnetx-400mf.yaml"), 4,
                    workers=1)
    assert result.complete
    layouts = set()
    for drawn in result.samples:
        v = drawn.values
        assert 360_000_000 <= drawn.macs <= 440_000_000
        theirs = BlockParams.from_init_params(depth=v["body.widening.depth"], w_0=v["body.widening.w0"],
                                              w_a=v["body.widening.wa"], w_m=v["body.widening.wm"],
                                              group_width=v["body.block.group_width"])
        spec = archspec.load(spec_path("regnet-x-400mf"), [f"{path}={value}" for path, value in v.items()])
        plan = archspec.plan(spec)
        assert plan.macs == drawn.macs
        assert ([len(s.units) for s in plan.stages], [s.out_channels for s in plan.stages]) == (
            theirs.depths, theirs.widths)
        layouts.add(tuple(theirs.depths))
    assert len(layouts) > 1  # the stages come out of the rule: they differ from sample to sample


def test_errors_about_derived_stages_point_at_the_rule(tmp_path):
    """The stages are not in the file: a stage's error is located at the widening rule that made it."""
    try:
        result = runner.invoke(app, ["--max-memory", "10M", "build", str(spec_path("regnet-x-400mf")), "-s",
                                     f"input.size={SIZE}", "-e", "onnx", "-o", str(tmp_path)])
    finally:
        reset()  # --max-memory sets a process-wide limit
    lines = spec_path("regnet-x-400mf").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if text.strip().startswith("widening:"))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"regnet-x-400mf.yaml:{line}:3: body.widening: stage 3 (derived by the regnet rule):" in result.output
    assert not any(tmp_path.iterdir())
