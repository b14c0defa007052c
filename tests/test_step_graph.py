"""The step graph: a unit as named typed steps, and the module generated from it (plan/graph.py,
plan/steps.py, blocks/graph_unit.py)."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.blocks.graph_unit import build_graph_unit, forward_source
from archspec.plan.graph import INPUT, GraphBuilder, GraphError
from archspec.plan.ops import Conv, Norm
from archspec.plan.steps import Act, Add, Chunk, Concat, Mean, Mul
from conftest import spec_path


def _conv(name: str, cin: int, cout: int, size=(8, 8), **kw) -> Conv:
    return Conv(name, cin, cout, 3, size, **kw)


def test_builder_computes_each_steps_shape():
    g = GraphBuilder(8, (8, 8))
    x = g.add(_conv("conv", 8, 16, stride=2), INPUT)
    m = g.add(Mean("mean"), x)
    assert (g.shape(x), g.shape(m)) == ((16, 4, 4), (16, 1, 1))
    halves = [g.add(Chunk(f"half{i}", 2, i), x) for i in range(2)]
    assert g.shape(g.add(Concat("cat"), *halves)) == (16, 4, 4)
    assert g.shape(halves[0]) == (8, 4, 4)


@pytest.mark.parametrize("build, message", [
    (lambda g: g.add(Act("relu", "relu"), "nothing"), "reads 'nothing', which no earlier step makes"),
    (lambda g: [g.add(Act("relu", "relu"), INPUT), g.add(Act("relu", "relu"), INPUT)], "'relu' is used twice"),
    (lambda g: g.add(_conv("conv", 4, 8), INPUT), "expects 4 channels, its input has 8"),
    (lambda g: g.add(Add("add"), INPUT, g.add(_conv("conv", 8, 16), INPUT)), "adds shapes"),
    (lambda g: g.add(Concat("cat"), INPUT, g.add(_conv("c", 8, 8, stride=2), INPUT)), "concatenates maps of sizes"),
    (lambda g: g.add(Norm("bn", 3, (8, 8)), INPUT), "normalises 3 channels"),
])
def test_builder_refuses_a_wrong_graph(build, message):
    with pytest.raises(GraphError, match=message):
        build(GraphBuilder(8, (8, 8)))


def test_generated_forward_folds_single_use_values_and_keeps_shared_ones():
    unit = archspec.plan(spec_path("resnet-20")).body[0]
    source = forward_source(unit.graph)
    assert source.splitlines() == [
        "def forward(self, x):",
        "    relu1 = self.relu1(self.bn1(self.conv1(x)))",
        "    add = self.bn2(self.conv2(relu1)) + x",
        "    return self.relu2(add)",
    ]


def test_every_step_of_a_unit_with_a_module_is_a_submodule_at_its_name():
    unit = archspec.plan(spec_path("se-resnet-50")).body[0]
    module = build_graph_unit(unit)
    names = dict(module.named_modules())
    assert {n.name for n in unit.graph.nodes if n.step.tensors or n.step.module is not None} <= set(names)
    assert {k.rsplit(".", 1)[0] for k in module.state_dict()} == {op.path for op in unit.ops}


def test_units_with_the_same_graph_share_one_generated_class():
    model = archspec.build(spec_path("resnet-20"))
    classes = [type(u) for stage in model.stages for u in stage]
    assert len(set(classes)) == 3  # the identity unit, and each stage's first (option A shortcut, stride 2)


def test_generated_units_trace_with_fx_and_export():
    model = archspec.build(spec_path("resnet-20"), ["body.block.se.reduction=4", "body.depth=8"]).eval()
    x = torch.randn(2, 3, 32, 32)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(traced(x), expected, rtol=0, atol=0)
        exported = torch.export.export(model, (x,))
        torch.testing.assert_close(exported.module()(x), expected, rtol=1e-5, atol=1e-5)
    assert any(n.op == "call_module" and n.target.endswith("se.fc1") for n in traced.graph.nodes)


def test_a_mul_gate_and_an_add_of_three():
    g = GraphBuilder(4, (2, 2))
    a = g.add(Act("relu", "relu", inplace=False), INPUT)
    s = g.add(Act("gate", "sigmoid", functional=True), g.add(Mean("mean"), a))
    y = g.add(Mul("scale"), a, s)
    g.add(Add("sum"), INPUT, a, y)
    graph = g.build()
    assert "return x + relu + scale" in forward_source(graph)
    from archspec.plan.types import Unit

    unit = Unit("u", 0, 0, "basic", 4, 4, (2, 2), (2, 2), graph=graph, ops=graph.weighted)
    x = torch.randn(1, 4, 2, 2)
    relu = x.relu()
    expected = x + relu + relu * torch.sigmoid(relu.mean((2, 3), keepdim=True))
    torch.testing.assert_close(build_graph_unit(unit)(x), expected)
