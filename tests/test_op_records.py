"""Layer records own their facts: their tensors (conversion), their elementwise class (counting), their norm kind."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

import archspec
from archspec.complexity.counting import elementwise
from archspec.convert import tensors_of
from archspec.plan.ops import Conv, Linear, Norm
from conftest import spec_path


@pytest.mark.parametrize("name, size", [("resnet-20", 32), ("efficientnet-b0", 32), ("densenet-bc-100-12", 32)])
def test_record_tensors_are_the_built_modules_state_dict(name, size):
    overrides = [f"input.size={size}", "reference=null"]
    plan = archspec.plan(spec_path(name), overrides=overrides)
    expected = {f"{u.name}.{op.path}.{suffix}": shape for u in plan.units for op in u.ops
                for suffix, shape in op.tensors.items()}
    built = archspec.build(spec_path(name), overrides).state_dict()
    assert expected == {key: tuple(t.shape) for key, t in built.items()}


def test_norm_kind_decides_the_buffers():
    batch = Norm("bn", 8, (4, 4))
    assert batch.kind == "batch" and set(batch.tensors) == {"weight", "bias", "running_mean", "running_var",
                                                              "num_batches_tracked"}
    assert replace(batch, kind="layer").tensors == {"weight": (8,), "bias": (8,)}
    assert replace(batch, kind="group").elementwise == {"norm": 8 * 4 * 4}


def test_elementwise_classes_come_from_the_records():
    conv = Conv("c", 4, 8, 3, (4, 4), bias=True)
    assert conv.elementwise == {"bias": 8 * 4 * 4} and replace(conv, bias=False).elementwise == {}
    assert Linear("fc", 8, 10).elementwise == {"bias": 10}
    unit = archspec.plan(spec_path("resnet-20")).stages[0].units[0]
    counted = elementwise(unit)
    assert counted.norm == sum(op.out_elements for op in unit.ops if isinstance(op, Norm)) > 0


@dataclass(frozen=True)
class Mystery:
    """A record kind nobody taught conversion or counting about."""

    path: str = "mystery"
    params: int = 0
    macs: int = 0


def test_an_unknown_record_is_refused_not_skipped():
    unit = archspec.plan(spec_path("resnet-20")).stages[0].units[0]
    strange = unit.with_ops(unit.ops + (Mystery(),))
    with pytest.raises(TypeError, match="Mystery.*elementwise"):
        elementwise(strange)
    with pytest.raises(TypeError, match="no tensor layout for layer record Mystery"):
        tensors_of(Mystery())  # type: ignore[arg-type]
