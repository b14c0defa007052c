"""One list of unit kinds (spec/kinds.py): spec models, planners, builders and converters agree on it."""

from __future__ import annotations

import pytest

import archspec
import archspec.blocks  # noqa: F401  (registers the builders)
import archspec.convert  # noqa: F401  (registers the naming rules)
from archspec.blocks.registry import BUILDERS, register_builder
from archspec.convert.rules import register_rule
from archspec.convert.rules import registered as converted_kinds
from archspec.plan.registry import register_planner
from archspec.plan.registry import registered as planned_kinds
from archspec.spec.kinds import BLOCK_KINDS, UNIT_KINDS
from conftest import spec_path


def test_every_spec_block_has_a_planner_and_nothing_else_does():
    assert sorted(BLOCK_KINDS) == planned_kinds()


def test_every_unit_kind_is_built_from_its_graph_or_by_one_builder():
    """Kinds whose planner makes a step graph are built from it (blocks/graph_unit.py) and have no
    builder of their own; the others (not moved onto graphs yet) have exactly one."""
    plans = [archspec.plan(name) for name in archspec.list_specs()]
    plans.append(archspec.plan("resnet-18", overrides=["stem={type: deep}"]))  # no bundled spec has a deep stem
    units = [u for p in plans for u in (*p.units, *p.aux)]
    graph_kinds = {u.block for u in units if u.graph is not None}
    assert not graph_kinds & {u.block for u in units if u.graph is None}  # a kind is one or the other
    assert {"basic", "bottleneck", "pyramid", "stem_conv", "stem_deep", "stem_none", "stem_layers",
            "classifier", "plain", "pool", "transition", "dense", "mlp", "conv_classifier", "conv_pool",
            "aux_classifier"} <= graph_kinds
    assert sorted(set(UNIT_KINDS) - graph_kinds) == BUILDERS.names()


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
    with pytest.raises(ValueError, match="'capsule' is not one the planner makes"):
        register_builder("capsule")
    from archspec.convert.rules import Family

    with pytest.raises(ValueError, match="'capsule' is not one the planner makes"):
        register_rule("capsule", family=Family.__new__(Family))
