"""Pieces of graphs that several block kinds share: conv-norm-act, squeeze-excite, the shortcuts.

Each appends steps to a :class:`~archspec.plan.graph.GraphBuilder` and returns the name of
the value it made; the step names are the module paths the families have always had
(``se.fc1``, ``shortcut.conv``), so state_dict keys and converters are unchanged.
"""

from __future__ import annotations

from typing import Any, Sequence

from .graph import GraphBuilder
from .ops import Conv, Norm
from .steps import Act, Add, DropPath, Dropout, Mean, Mul, Pool, Subsample, ZeroPad


def act(g: GraphBuilder, name: str, fn: str, x: str, inplace: bool = True) -> str:
    """An activation step, or nothing for ``none``."""
    return x if fn == "none" else g.add(Act(name, fn, inplace), x)


def conv_norm_act(g: GraphBuilder, x: str, conv: Conv, norm: Norm | None, fn: str, act_name: str) -> str:
    """``conv``, its norm where there is one, the activation (torchvision's Conv2dNormActivation)."""
    x = g.add(conv, x)
    x = g.add(norm, x) if norm is not None else x
    return act(g, act_name, fn, x)


def layers_act(g: GraphBuilder, x: str, records: Sequence[Any], fn: str, act_name: str) -> str:
    """Records in a chain (a conv and its norm, as ``parts.conv_norm`` makes them), then the activation."""
    return act(g, act_name, fn, g.chain(x, *records))


def squeeze_excite(g: GraphBuilder, x: str, fc1: Conv, fc2: Conv, fn: str = "relu", gate: str = "sigmoid",
                   functional_gate: bool = True, inplace: bool = True, prefix: str = "se") -> str:
    """Global mean, reduce, activation, expand, gate, rescale ``x``."""
    s = g.add(Mean(f"{prefix}.mean"), x)
    s = act(g, f"{prefix}.act", fn, g.add(fc1, s), inplace)
    s = g.add(fc2, s)
    s = g.add(Act(f"{prefix}.gate", gate, inplace=False, functional=functional_gate), s)
    return g.add(Mul(f"{prefix}.scale"), x, s)


def dropout(g: GraphBuilder, x: str, rate: float, name: str = "dropout", inplace: bool = False) -> str:
    return g.add(Dropout(name, rate, inplace), x) if rate else x


def drop_path(g: GraphBuilder, x: str, rate: float, name: str = "drop_path") -> str:
    return g.add(DropPath(name, rate), x) if rate else x


def shortcut(g: GraphBuilder, x: str, kind: str, stride: int, extra: int, records: Sequence[Any]) -> str:
    """The shortcut kinds of plan/shortcuts.py: identity; subsample (or a 2x2 average pool) and
    zero-pad the new channels; a 1x1 projection with its BN, after a 2x2 average pool for ResNet-D."""
    if kind == "identity":
        return x
    if kind in ("zero_pad", "avgpool_zero_pad"):
        if stride > 1:
            x = (g.add(Pool("shortcut.pool", "avg", stride, stride, ceil=True), x) if kind == "avgpool_zero_pad"
                 else g.add(Subsample("shortcut.subsample", stride), x))
        return g.add(ZeroPad("shortcut.pad", extra), x) if extra else x
    if kind == "avgpool_projection" and stride > 1:
        x = g.add(Pool("shortcut.pool", "avg", stride, stride, ceil=True, count_include_pad=False), x)
    return g.chain(x, *records)


def residual_add(g: GraphBuilder, branch: str, short: str, name: str = "add") -> str:
    return g.add(Add(name), branch, short)
