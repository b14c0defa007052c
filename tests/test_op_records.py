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


@pytest.mark.parametrize("kernel, padding, stride, size", [
    ((1, 7), (0, 3), 1, (9, 11)),
    ((7, 1), (3, 0), 1, (9, 11)),
    ((3, 1), None, 2, (8, 5)),
    ((1, 3), (0, 1), 1, (5, 5)),
    (3, 0, 2, (11, 11)),
])
def test_rectangular_conv_records_count_as_torch_builds_and_measures_them(kernel, padding, stride, size):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from archspec.blocks.layers import conv as build_conv
    from archspec.export.standalone import record_code

    record = Conv("c", 6, 10, kernel, size, stride=stride, padding=padding)
    module = build_conv(record)
    theirs = torch.nn.Conv2d(6, 10, kernel, stride=stride, padding=record.pad, bias=False)
    assert (module.kernel_size, module.padding) == (theirs.kernel_size, theirs.padding)
    if padding is None:  # "same" padding per side: k // 2
        assert record.pad_hw == (kernel[0] // 2, kernel[1] // 2)
    assert record.tensors == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert record.params == sum(p.numel() for p in theirs.parameters())
    with FlopCounterMode(display=False) as counter:
        out = theirs(torch.zeros(1, 6, *size))
    assert record.out_size == tuple(out.shape[2:]) and record.macs == counter.get_total_flops() // 2
    rebuilt = eval(record_code(record), {"nn": torch.nn})
    assert (rebuilt.kernel_size, rebuilt.padding, rebuilt.stride) == (theirs.kernel_size, theirs.padding, theirs.stride)


def test_square_records_keep_their_int_form_and_equal_their_pair_form_in_counts():
    square = Conv("c", 4, 8, 3, (7, 7))
    pair = Conv("c", 4, 8, (3, 3), (7, 7), padding=(1, 1))
    assert square.pad == 1 and square.kernel_hw == (3, 3) and square.pad_hw == (1, 1)
    assert (square.params, square.macs, square.out_size, square.tensors) == \
           (pair.params, pair.macs, pair.out_size, pair.tensors)
    assert hash(square) == hash(Conv("c", 4, 8, 3, (7, 7))) and square != pair  # records as given


def test_conv_norm_pads_each_side_of_a_factorised_kernel():
    from archspec.plan.parts import conv_norm

    conv, bn = conv_norm("b", 8, 8, (1, 7), (17, 17))
    assert conv.padding == (0, 3) and conv.out_size == (17, 17) == bn.size
    assert conv_norm("b", 8, 8, 5, (17, 17))[0].padding == 2
