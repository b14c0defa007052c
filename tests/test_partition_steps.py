"""The window steps Swin and MaxViT share (plan/partition_steps.py): one class per concept, the layout a
parameter. Each is checked against torchvision's own code for either layout, and its memory claim
(a view or a copy) against what torch's reshape does."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.maxvit import WindowDepartition, WindowPartition

import archspec
from archspec.blocks.layers import RelativePositionBias as BiasModule
from archspec.plan.partition_steps import BiasAdd, Departition, MergeHeads, Partition, RelativePositionBias
from conftest import spec_path


class Flow:
    """The memory model's calls a partition makes: a copy is a new tensor id, a view returns its input's."""

    def __init__(self) -> None:
        self.made = 0

    def op(self, reads: tuple[int, ...], elements: int) -> int:
        self.made += 1
        return 100 + self.made


def run(expr: str, x: torch.Tensor) -> torch.Tensor:
    return eval(expr, {"torch": torch}, {"x": x})  # the step's generated expression, as the unit's forward runs it


def claims_view(step, shape) -> bool:
    return step.flow(Flow(), [0], [shape], step.out_shape(shape)) == 0


def shares(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# (map side, window side): several windows, one window per row (the map is one window), 1x1 windows
LAYOUTS = [(8, 2), (12, 4), (4, 4), (3, 1), (14, 7), (7, 7)]


@pytest.mark.parametrize("side, k", LAYOUTS)
def test_maxvit_layout_is_torchvision_s_partition_and_departition(side: int, k: int) -> None:
    """Channels first, the batch apart: block partition (k x k windows) and grid partition (side/k x side/k windows),
    as torchvision's WindowPartition and WindowDepartition, a view exactly where torch's reshape makes one."""
    c = 5
    x = torch.randn(3, c, side, side)
    for window, grid in (((k, k), False), ((side // k, side // k), True)):
        cut, back = Partition("p", c, (side, side), window), Departition("d", c, (side, side), window)
        windows = run(cut.expr(["x"]), x)
        torch.testing.assert_close(windows, WindowPartition()(x, window[0]), rtol=0, atol=0)
        assert windows.shape[1:] == cut.out_shape((c, side, side))
        assert claims_view(cut, (c, side, side)) == shares(windows, x)
        # the attention's output in the windows' layout: contiguous, or (grid attention) made with the token
        # axes swapped and swapped back, a strided view
        made = (windows.transpose(1, 2) + 1).transpose(1, 2) if grid else windows + 1
        restored = run(back.expr(["x"]), made)
        torch.testing.assert_close(restored, WindowDepartition()(made, window[0], side // window[0], side // window[1]),
                                   rtol=0, atol=0)
        torch.testing.assert_close(restored, x + 1, rtol=0, atol=0)
        assert claims_view(back, cut.out_shape((c, side, side))) == shares(restored, made)


@pytest.mark.parametrize("side, k", LAYOUTS)
def test_swin_layout_is_torchvision_s_window_cut_with_the_batch_folded(side: int, k: int) -> None:
    """Channels last, the batch folded into the windows: torchvision's shifted_window_attention writes the cut as
    ``view(B, H/k, k, W/k, k, C).permute(0, 1, 3, 2, 4, 5).reshape(B * nW, k * k, C)`` and back as its inverse."""
    c, b = 5, 3
    x = torch.randn(b, side, side, c)
    cut = Partition("p", c, (side, side), (k, k), channels_last=True, fold_batch=True)
    back = Departition("d", c, (side, side), (k, k), channels_last=True)
    windows = run(cut.expr(["x"]), x)
    theirs = x.view(b, side // k, k, side // k, k, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, k * k, c)
    torch.testing.assert_close(windows, theirs, rtol=0, atol=0)
    assert windows.shape == (b * cut.out_shape((side, side, c))[0], *cut.out_shape((side, side, c))[1:])
    assert claims_view(cut, (side, side, c)) == shares(windows, x)
    made = windows + 1
    restored = run(back.expr(["x"]), made)
    torch.testing.assert_close(restored, x + 1, rtol=0, atol=0)
    assert claims_view(back, cut.out_shape((side, side, c))) == shares(restored, made)


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("fold", [False, True])
def test_merge_heads_is_a_view_only_for_one_head(heads: int, fold: bool) -> None:
    shape = (4, heads, 6, 8)  # per sample: windows, heads, tokens, head width
    x = torch.randn(*((2 * 4,) if fold else (2, 4)), *shape[1:])
    step = MergeHeads("m", fold_batch=fold)
    merged = run(step.expr(["x"]), x)
    assert merged.shape[-2:] == step.out_shape(shape)[-2:] == (6, heads * 8)
    last = heads - 1  # its channels follow the other heads' at every token
    torch.testing.assert_close(merged[..., 1, last * 8:heads * 8], x[..., last, 1, :], rtol=0, atol=0)
    assert claims_view(step, shape) == shares(merged, x) == (heads == 1)


def test_the_bias_is_the_same_whether_a_module_holds_the_table_or_the_unit() -> None:
    """MaxViT's module (its table and index its own) and Swin's call (on the unit's table and flat index) are one
    step class; from one table they give the same (heads, T, T) bias, torchvision's gather."""
    side, heads = 3, 4
    owned = RelativePositionBias("rel", side, heads, groups=2)
    called = RelativePositionBias("rel", side, heads)
    module = BiasModule(**owned.module[1])
    torch.nn.init.normal_(module.relative_position_bias_table)
    table, index = module.relative_position_bias_table, module.relative_position_index
    bias = eval(called.expr(["table", "index"]), {"torch": torch}, {"table": table, "index": index.flatten()})
    assert bias.shape == called.out_shape() == owned.out_shape() == (heads, side * side, side * side)
    torch.testing.assert_close(module(), bias, rtol=0, atol=0)
    # token (0, 0) against token (2, 1) of the 3x3 window: offset (-2, -1), row (0 + 2) * 5 + (-1 + 2) = 11
    assert torch.equal(bias[:, 0, 7], table[(0 - 2 + 2) * 5 + (0 - 1 + 2)])
    assert owned.params == 25 * heads and owned.tensors == {"relative_position_bias_table": (25, heads)}
    assert called.params == 0 and called.tensors == {} and called.module is None


@pytest.mark.parametrize("spec", ["swin-t", "maxvit-t"])
def test_swin_and_maxvit_use_the_same_step_classes_for_what_they_share(spec: str) -> None:
    plan = archspec.plan(spec_path(spec))
    kinds = {type(n.step) for u in plan.body for n in u.graph.nodes}
    assert {Partition, Departition, MergeHeads, RelativePositionBias, BiasAdd} <= kinds
