"""Widening rules against sequences computed by hand."""

from __future__ import annotations

import archspec
from archspec.plan import widening
from conftest import spec_path


def test_round_half_up_is_not_bankers_rounding():
    assert [widening.round_half_up(x) for x in (0.5, 1.5, 2.5, 2.4999, 20.5)] == [1, 2, 3, 2, 21]


def test_step_doubling_doubles_at_downsampling_stages_only():
    assert widening.step_doubling(16, 1, [1, 2, 2], [2, 2, 2]) == [[16, 16], [32, 32], [64, 64]]
    assert widening.step_doubling(16, 10, [1, 1, 2], [1, 1, 1]) == [[160], [160], [320]]
    # A strided first stage is the base width: only later stages double.
    assert widening.step_doubling(64, 1, [2, 2], [1, 1]) == [[64], [128]]


def test_additive_pyramidnet_110_alpha_48():
    widths = widening.additive(16, 48, [18, 18, 18])
    flat = [w for stage in widths for w in stage]
    assert flat[:6] == [17, 18, 19, 20, 20, 21]  # 16 + k * 48/54 = 16.89, 17.78, 18.67, 19.56, 20.44, 21.33
    assert flat[-1] == 64
    assert len(flat) == 54 and flat == sorted(flat)


def test_additive_spreads_alpha_over_all_units():
    # alpha 4 over 4 units: +1 each.
    assert widening.additive(10, 4, [2, 2]) == [[11, 12], [13, 14]]
    # alpha 3 over 2 units: 11.5 -> 12 (half up), 13.0 -> 13.
    assert widening.additive(10, 3, [1, 1]) == [[12], [13]]


def test_multiplicative_multiplies_a_running_float():
    # factor 2 ** (1/4) = 1.1892: 19.03, 22.63, 26.91, 32.00
    assert widening.multiplicative(16, 2.0, [2, 2]) == [[19, 23], [27, 32]]


def test_explicit_per_stage_and_per_unit():
    assert widening.explicit([8, [9, 10]], [3, 2]) == [[8, 8, 8], [9, 10]]


def test_bundled_pyramidnet_uses_the_rule_end_to_end():
    plan = archspec.plan(spec_path("pyramidnet"))
    outs = [u.out_channels for u in plan.body]
    assert outs[:6] == [17, 18, 19, 20, 20, 21] and outs[-1] == 64
    assert plan.head.in_channels == 64


def test_multiplicative_spec_ends_at_base_times_alpha():
    plan = archspec.plan(spec_path("pyramidnet-110-mult"))
    assert plan.body[-1].out_channels == round(16 * 4.75)


def test_each_unit_records_the_width_its_rule_gave_it():
    """expand reads these, so they are the rule's widths after scaling and stage overrides."""
    plan = archspec.plan(spec_path("pyramidnet-110-a270"))
    assert [u.width for u in plan.stages[0].block_units][:3] == widening.additive(16, 270, [18, 18, 18])[0][:3]
    overridden = archspec.plan(spec_path("resnet-56"), overrides=["body.stages.1.width=48"])
    assert {u.width for u in overridden.stages[1].block_units} == {48}
    scaled = archspec.plan(spec_path("efficientnet-b0"), overrides=["scaling.width_mult=1.2", "reference=null"])
    assert scaled.stem.width == 40  # 32 x 1.2 = 38.4, made divisible by 8
    assert all(u.width is not None for s in scaled.stages for u in s.block_units)
    assert plan.head.width is None
