"""One list of unit kinds (spec/kinds.py): spec models, planners, builders and converters agree on it."""

from __future__ import annotations

import pytest

import archspec
import archspec.blocks  # noqa: F401  (registers the builders)
import archspec.convert  # noqa: F401  (registers the naming rules)
from archspec.blocks.registry import build_unit
from archspec.spec.user_blocks import bundled_block_names
from archspec.convert.rules import register_rule
from archspec.convert.rules import registered as converted_kinds
from archspec.plan.registry import register_planner
from archspec.plan.registry import registered as planned_kinds
from archspec.spec import load
from archspec.spec.base import attribute
from archspec.spec.kinds import BLOCK_KINDS, UNIT_KINDS
from conftest import ROOT, spec_path


def test_every_spec_block_has_a_planner_and_nothing_else_does():
    assert sorted(BLOCK_KINDS) == planned_kinds()


def test_every_unit_kind_is_planned_as_a_step_graph():
    """No kind has a module of its own: every bundled Plan row (aux heads included) carries the graph its
    module, memory and counts derive from, and together the bundled specs use every kind."""
    plans = [archspec.plan(name) for name in archspec.list_specs()]
    plans.append(archspec.plan("resnet-18", overrides=["stem={type: deep}"]))  # no bundled spec has a deep stem
    units = [u for p in plans for u in (*p.units, *p.aux)]
    assert [u.name for u in units if u.graph is None] == []
    assert {u.block for u in units} - set(bundled_block_names()) == set(UNIT_KINDS)  # besides YAML blocks


def test_a_unit_without_a_graph_is_refused_by_name():
    from dataclasses import replace

    unit = replace(archspec.plan("resnet-20").body[0], graph=None)
    with pytest.raises(TypeError, match="stages.0.0 .'basic'. has no step graph"):
        build_unit(unit)


def test_converter_rules_name_only_kinds_the_planner_makes():
    assert set(converted_kinds()) <= set(UNIT_KINDS) and set(converted_kinds()) & set(BLOCK_KINDS)


@pytest.mark.parametrize("name", ["resnet-50", "densenet-121", "googlenet", "efficientnet-b0", "vgg-16",
                                  "shufflenet-v2-x1.0",
                                  "alexnet", "squeezenet-1.0",
                                  "regnet-y-400mf"])
def test_every_planned_row_is_of_a_listed_kind(name):
    plan = archspec.plan(spec_path(name), input_size=64)
    assert {u.block for u in (*plan.units, *plan.aux)} <= set(UNIT_KINDS)


def test_registries_refuse_a_kind_without_a_spec_model():
    with pytest.raises(ValueError, match="'capsule' has no spec model"):
        register_planner("capsule")
    from archspec.convert.rules import Family

    with pytest.raises(ValueError, match="'capsule' is not one the planner makes"):
        register_rule("capsule", family=Family.__new__(Family))


PROBED = ("growth", "bottleneck", "modules", "layers", "fixed_units", "fixed_layers", "drop_path", "deformable", "width",
          "widths", "hidden", "conv_width", "base", "alpha", "k")


def test_attribute_probes_answer_as_getattr_does_on_every_bundled_spec_part():
    """``spec.base.attribute`` (answered per class, skipping Pydantic's costly miss) == ``getattr`` with a default."""
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = load(path)
        body = spec.body
        for part in (spec.stem, spec.head, body.block, body.widening, *(s.block for s in body.stages), *body.aux_heads):
            for name in PROBED:
                assert attribute(part, name, "absent") == getattr(part, name, "absent"), (path.name, part, name)
