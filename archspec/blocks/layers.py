"""torch layers made from the Plan's layer records, without torch's default init.

Every torch layer's constructor ends in ``reset_parameters()``, a uniform fill of each
weight that :mod:`archspec.blocks.init` would overwrite: a third of a deep build's time.
:func:`fresh` skips it, so storage is allocated uninitialised and filled once, later.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ..plan.ops import Conv, DeformConv, Linear, Norm
from ..plan.partition_steps import INDEX_SOURCE, gather_bias

M = TypeVar("M", bound=nn.Module)


def _no_reset() -> None:
    """Stands in for ``reset_parameters`` while a layer's constructor runs."""


def fresh(cls: type[M], *args: Any, **kwargs: Any) -> M:
    """``cls(*args, **kwargs)`` with its default init skipped; its tensors hold uninitialised memory.

    An instance attribute shadows the class's ``reset_parameters`` (a plain method, so the
    instance wins) while ``__init__`` runs, and is removed after: the module is exactly a
    ``cls``, torch's classes are never patched, and other threads are unaffected. (Building
    on the meta device instead costs twice as much: torch's meta kernels for ``uniform_``
    and ``empty_like`` run Python decompositions.)
    """
    module = cls.__new__(cls)
    module.__dict__["reset_parameters"] = _no_reset
    cls.__init__(module, *args, **kwargs)
    del module.__dict__["reset_parameters"]
    return module


def conv(op: Conv) -> nn.Module:
    if isinstance(op, DeformConv):
        from .deform import DeformableConv

        return DeformableConv(op)
    module = fresh(
        nn.Conv2d, op.cin, op.cout, op.kernel, stride=op.stride, padding=op.pad,
        dilation=op.dilation, groups=op.groups, bias=op.bias,
    )
    if op.init != "conv":
        module.init_as = op.init  # blocks/init.py fills it by these rules
    return module


def declared(source: str, imports: tuple[str, ...] = ()) -> type:
    """The class defined by ``source``, which is also what standalone code copies (``STANDALONE``): a
    custom step's module is written once, as the text both the package and the exports use."""
    import linecache

    name = source.split("class ", 1)[1].split("(", 1)[0]
    filename = f"<archspec {name}>"
    namespace: dict[str, Any] = {"torch": torch, "nn": nn, "F": F, "__name__": __name__}
    exec(compile(source, filename, "exec"), namespace)  # archspec's own source, written below
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    cls = namespace[name]
    cls.__module__, cls.STANDALONE, cls.STANDALONE_IMPORTS = __name__, source, imports
    return cls


# LayerNorm over the channels of an NCHW map (torchvision's ConvNeXt LayerNorm2d, weight and bias of shape (C,)).
LayerNorm2d = declared('''class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map: permute to NHWC, normalise the last dim, permute back."""

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
''', ("import torch.nn.functional as F",))


def norm(op: Norm) -> nn.Module:
    """BatchNorm2d for a batch norm; a layer norm over channels (NCHW, or NHWC where ``channels_last``)."""
    if op.kind == "batch":
        return fresh(nn.BatchNorm2d, op.channels, eps=op.eps, momentum=op.momentum)  # type: ignore[arg-type]
    if op.kind == "layer":
        return fresh(nn.LayerNorm if op.channels_last else LayerNorm2d, op.channels, eps=op.eps)
    raise TypeError(f"no module for a {op.kind} norm record ({op.path}) yet; batch and layer norms are built")


def linear(op: Linear) -> nn.Linear:
    module = fresh(nn.Linear, op.cin, op.cout, bias=op.bias)
    if op.init != "linear":
        module.init_as = op.init  # blocks/init.py fills it by these rules
    return module


def layer(op: Conv | Norm | Linear) -> nn.Module:
    """The module for any layer record."""
    if isinstance(op, Conv):
        return conv(op)
    if isinstance(op, Norm):
        return norm(op)
    return linear(op)


# Stochastic depth; standalone code builds it from the step's ``module`` arguments.
DropPath = declared('''class DropPath(nn.Module):
    """Stochastic depth: drop a sample's whole residual branch with probability ``rate``."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self):
        return f"rate={self.rate:.4f}"
''')


# MaxViT's relative position bias (plan/partition_steps.py RelativePositionBias): the table and its fixed index,
# whose values are the plain-Python function Swin's buffer is made by too (written beside the class for standalone code).
RelativePositionBias = declared(INDEX_SOURCE + '''

class RelativePositionBias(nn.Module):
    """A learned bias per head for each token pair of a side x side window, from a (2 side - 1)^2 x heads
    table gathered by the pair's offset (torchvision's MaxViT); returns it as (heads, T, T), T = side^2."""

    def __init__(self, side, heads):
        super().__init__()
        self.side = side
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * side - 1) ** 2, heads))
        # module state, not a weight: rebuilt from ``side`` (and so left out of the state_dict)
        self.register_buffer("relative_position_index", self.offsets(), persistent=False)

    def offsets(self):
        """The table row of each token pair, (T, T): (dy + side - 1) * (2 side - 1) + dx + side - 1."""
        return torch.tensor(relative_position_index(self.side)).view(self.side ** 2, -1)

    def init_fills(self, prefix, rules):
        """How archspec's init fills it: the table trunc normal (std 0.02, cut at +-2), the index rebuilt."""
        table, index = self.relative_position_bias_table, self.relative_position_index
        return [(f"{prefix}relative_position_bias_table", table,
                 lambda t, g: nn.init.trunc_normal_(t, 0.0, 0.02, -2.0, 2.0, generator=g)),
                (f"{prefix}relative_position_index", index, lambda t, g: t.copy_(self.offsets()))]

    def forward(self):
        table, index, tokens = self.relative_position_bias_table, self.relative_position_index, self.side ** 2
        return ''' + gather_bias("table", "index.view(-1)", "tokens") + "\n")  # the step's gather (plan/partition_steps.py)
