"""Inception-v3: torchvision's weights give its outputs, with and without its transform_input; the
training-only aux head counts and computes as torchvision's InceptionAux; misplaced modules are refused.

torchvision's model is built once on the meta device, given memory and PyTorch's default init
and randomised as tests/test_convert.py does (calibrated BN statistics), at 75x75, the
smallest input it takes. At that size the aux head cannot run (it needs 299x299), so the
spec is read without it there; the head is checked on its own at 299's 17x17 map.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import archspec
from archspec.blocks import build_unit
from archspec.cli import app
from archspec.convert import from_torchvision
from archspec.spec import SpecError
from conftest import spec_path
from test_convert import randomise

SIZE = 75
SMALL = [f"input.size={SIZE}", "body.aux_heads=[]", "reference=null"]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def source() -> torch.nn.Module:
    """torchvision's inception_v3 as pretrained (aux_logits=True: AuxLogits in the checkpoint), random weights."""
    torch.manual_seed(3)
    with torch.device("meta"):
        model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    model.to_empty(device="cpu")
    for layer in model.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)):
            layer.reset_parameters()
    return randomise(model, (3, SIZE, SIZE)).eval()


@pytest.fixture(scope="module")
def ours(source) -> torch.nn.Module:
    spec = archspec.load(spec_path("inception-v3"), SMALL)
    state = from_torchvision(source.state_dict(), spec)
    assert not any(k.startswith("aux") for k in state)  # AuxLogits dropped, as GoogLeNet's aux1/aux2
    with torch.device("meta"):
        model = archspec.build(spec)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def transformed(x: torch.Tensor) -> torch.Tensor:
    """torchvision's _transform_input (docs/weights.md): ImageNet-normalised -> the (x - 0.5) / 0.5 scale."""
    return torch.cat([x[:, c:c + 1] * (STD[c] / 0.5) + (MEAN[c] - 0.5) / 0.5 for c in range(3)], 1)


@pytest.mark.parametrize("transform_input", [False, True])
def test_converted_weights_give_torchvision_outputs(source, ours, transform_input):
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    source.transform_input = transform_input
    try:
        with torch.no_grad():
            expected = source(x)
            step = source._transform_input(x)  # torchvision's own step (the identity when off)
            got = ours(step)
    finally:
        source.transform_input = False
    if transform_input:  # docs/weights.md's recipe is that step
        torch.testing.assert_close(transformed(x), step)
    # logits of the scale assert_close's tolerances suit, and the input's part of them well above its atol
    assert 0.2 < expected.std() < 10 and (expected[0] - expected[1]).std() > 1e-2
    torch.testing.assert_close(got, expected)
    if transform_input:  # without the step the outputs differ: the test can see it
        with torch.no_grad():
            assert not torch.allclose(ours(x), expected, atol=1e-3)


@pytest.mark.parametrize("overrides, refusal", [
    (["stem.layers[4].padding=1"], r"unit stem differs .*conv1x1, conv3x3, max-pool 3x3/2, every conv unpadded"),
    (["batchnorm.eps=1e-5"], r"unit stem differs .*eps 0\.001"),
    (["body.block.bn_eps=1e-5"], r"unit stages\.0\.0 differs .*eps 0\.001"),
    (["head.pre=[bn]"], r"unit head differs .*pre: \[\]"),
])
def test_same_shapes_but_other_layout_is_refused(source, overrides, refusal):
    """A padding or an epsilon is no tensor's shape: the family's rules check them."""
    from archspec.convert import ConversionError

    spec = archspec.load(spec_path("inception-v3"), [*SMALL, *overrides])
    with pytest.raises(ConversionError, match=refusal):
        from_torchvision(source.state_dict(), spec)


def test_cli_builds_from_torchvision_weights(source, ours, tmp_path):
    weights = tmp_path / "tv.pt"
    torch.save(source.state_dict(), weights)
    args = [f"--set={s}" for s in SMALL]
    result = CliRunner().invoke(app, ["build", str(spec_path("inception-v3")), *args, "--weights", str(weights),
                                      "--weights-format", "torchvision", "--export", "state_dict",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "out").glob("inception-v3*.pt")  # a variant's name carries its overrides' hash
    written = torch.load(path, weights_only=True)
    assert written.keys() == ours.state_dict().keys()
    assert torch.equal(written["stages.1.1.branch7x7dbl_3.conv.weight"], source.Mixed_6b.branch7x7dbl_3.conv.weight)
    assert torch.equal(written["stem.conv5.bn.running_var"], source.Conv2d_4a_3x3.bn.running_var)


def test_report_aux_equals_torchvision_in_training():
    """``report --aux`` == torchvision's inception_v3(aux_logits=True) and our aux build, both run in train
    mode on the meta device (where AuxLogits runs): torchvision's 27,161,264 params, FlopCounterMode's MACs."""

    def training_counts(model: torch.nn.Module) -> tuple[int, int]:
        with FlopCounterMode(display=False) as counter:  # batch 2: BN in training needs 2 values per channel
            out = model.train()(torch.empty(2, 3, 299, 299, device="meta"))
        assert len(out) == 2  # logits and the aux logits
        return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 4

    report = archspec.report(spec_path("inception-v3"), aux=True)
    with torch.device("meta"):
        reference = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        ours = archspec.build(spec_path("inception-v3"), aux=True)
        default = archspec.build(spec_path("inception-v3"))
    assert training_counts(reference) == training_counts(ours) == (report["params"], report["macs"])
    assert report["params"] == 27_161_264  # Inception_V3_Weights.meta["num_params"]: the checkpoint has AuxLogits
    assert default.aux is None and len(default.train()(torch.empty(2, 3, 299, 299, device="meta")).shape) == 2


def test_the_aux_head_computes_torchvision_s_inception_aux():
    """On Mixed_6e's 17x17 map (at 299), with InceptionAux's own state_dict: the same names and outputs."""
    plan = archspec.plan(spec_path("inception-v3"))
    (aux,) = plan.aux
    assert (aux.options.after, aux.in_size, aux.in_channels) == ("stages.1.4", (17, 17), 768)
    torch.manual_seed(0)
    theirs = torchvision.models.inception.InceptionAux(768, 1000)
    for bn in (theirs.conv0.bn, theirs.conv1.bn):
        bn.running_mean.normal_(0, 0.2), bn.running_var.uniform_(0.5, 2.0), bn.weight.data.uniform_(0.5, 1.5)
    head = build_unit(aux)
    head.load_state_dict(theirs.state_dict(), strict=True)  # conv0.conv, conv1.bn, fc: torchvision's names
    x = torch.randn(2, 768, 17, 17)
    with torch.no_grad():
        torch.testing.assert_close(head.eval()(x), theirs.eval()(x))


@pytest.mark.parametrize("overrides, words", [
    (["body.stages[1].stride=1"], "stages.1.0 is a grid-reduction module (b), which halves the grid"),
    (["body.stages[0].stride=2"], "stages.0.0 is an a module, which keeps the grid, but stage 0 strides it by 2"),
    (["body.stages[2].block.modules[1]={type: d, branch3x3: [192, 320], branch7x7x3: [192, 192, 192, 192]}"],
     "stages.2.1 is a grid-reduction module (d), which halves the grid with 3x3/2 convs and pool, but it is unit 1"),
    (["input.size=224"], "the aux head on stages.1.4 pools its 12x12 map to 3x3, smaller than its 5x5 conv"),
    (["body.widening={rule: explicit, widths: [1, 2, 3]}"], "inception_v3 units take their widths from the"),
    (["body.aux_heads[0].type=Conv"], "body.aux_heads[0].type: unknown type `Conv`; use one of classifier, conv; "
                                      "did you mean `conv`?"),
])
def test_misplaced_modules_are_located_errors(overrides, words):
    with pytest.raises(SpecError) as error:
        archspec.plan(spec_path("inception-v3"), overrides=[*overrides, "reference=null"])
    assert words in str(error.value)


def test_the_aux_head_starts_as_torchvision_s():
    """torchvision's own init loop, run on an Inception3 whose modules A-E are stubbed out (only the stem,
    AuxLogits and fc are built): AuxLogits.fc at std 0.001, its convs at 0.1, biases torch's default."""
    from archspec.blocks.init import initialise
    from test_init import assert_same_distribution

    stub = lambda *args, **kwargs: torch.nn.Identity()  # noqa: E731
    tv = torchvision.models.inception
    torch.manual_seed(0)
    reference = tv.Inception3(aux_logits=True, init_weights=True,
                              inception_blocks=[tv.BasicConv2d, stub, stub, stub, stub, stub, tv.InceptionAux])
    plan = archspec.plan(spec_path("inception-v3"))
    head = build_unit(plan.aux[0])
    initialise(head, plan.init, seed=0)
    theirs = reference.AuxLogits.state_dict()
    assert head.state_dict().keys() == theirs.keys()
    for name, tensor in head.state_dict().items():
        if tensor.is_floating_point():
            assert_same_distribution(name, tensor, theirs[name])
    assert 5e-4 < head.fc.weight.std() < 2e-3 and 0.05 < head.conv1.conv.weight.std() < 0.2
