"""Typed unit options (plan/options.py): every unit kind names its options type, and every
bundled Plan's rows hold an instance of exactly that type with values of the declared types."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

import pytest

import archspec
from archspec.plan.options import Pool, declared, options_type, register_options
from archspec.plan.stems import StemConv
from archspec.plan.types import UnitOptions
from archspec.spec.kinds import UNIT_KINDS
from conftest import SPECS

BUNDLED = sorted(SPECS.glob("*.yaml"))


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the annotated type: literals, unions, tuples, classes (a bool is no int
    and an int no float here: the planner must store what the field says)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if origin in (Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args))
    if hint is type(None):
        return value is None
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return type(value) is hint and all(conforms(getattr(value, f), h) for f, h in hints.items())
    return type(value) is hint


def test_every_unit_kind_declares_an_options_type_and_nothing_else_does():
    assert sorted(declared()) == sorted(UNIT_KINDS)
    for kind in UNIT_KINDS:
        cls = options_type(kind)
        assert issubclass(cls, UnitOptions) and dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen


def test_options_fields_have_no_defaults_that_could_hide_a_missing_value():
    for cls in set(declared().values()):
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, (cls, f.name)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_row_holds_its_kinds_options_with_values_of_the_declared_types(path):
    plan = archspec.plan(path)
    for unit in (*plan.units, *plan.aux):
        cls = options_type(unit.block)
        assert type(unit.options) is cls, (unit.name, type(unit.options), cls)
        hints = typing.get_type_hints(cls)
        for name, value in unit.options.items():
            assert conforms(value, hints[name]), (unit.name, name, value, hints[name])


def test_the_type_check_refuses_a_wrong_value():
    hint = typing.get_type_hints(Pool)
    assert conforms("max", hint["kind"]) and not conforms("min", hint["kind"])
    assert not conforms(1, float) and not conforms(True, int) and conforms(None, str | None)
    assert not conforms((StemConv("conv1", "relu"), {"name": "pool1"}), tuple[StemConv | Pool, ...])
    assert not conforms(Pool("max", 3, 2, 0, 1), Pool)  # ceil must be a bool


def test_options_declaration_refuses_a_kind_without_a_spec_model():
    with pytest.raises(ValueError, match="capsule"):
        register_options("capsule")


def test_diagram_grouping_ignores_only_the_decaying_drop_path():
    from archspec.diagram.groups import signature

    plan = archspec.plan(SPECS / "resnet-20.yaml", overrides=["body.block.drop_path=0.2"])
    a, b = plan.unit("stages.0.1"), plan.unit("stages.0.2")
    assert a.options.drop_path != b.options.drop_path and signature(a) == signature(b)
    widened = dataclasses.replace(b, options=dataclasses.replace(b.options, dropout=0.3))
    assert signature(widened) != signature(a)
