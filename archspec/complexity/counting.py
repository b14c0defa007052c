"""The counting policy, in one place: what a MAC is, and what the optional elementwise count adds.

MACs are the multiply-accumulates of convolution and linear layers at batch 1, bias
excluded: exactly half of what ``torch.utils.flop_counter.FlopCounterMode`` reports,
and what torchvision's model docs call "GFLOPS". FLOPs are ``2 * MACs``.

Everything else a network does (BN, biases, residual adds, pooling, activations) is
left out of the MACs. On request it is counted separately, as *elementwise ops*: one
op per element, derived from the Plan's rows only, so every block family (present or
future) is counted by the same rules:

- ``norm``: every ``Norm`` layer, one op per output element (an inference BN folds
  into one multiply-add per element). A LayerNorm over channels (ConvNeXt) counts the
  same one op per output element, though it computes its mean and variance at run time.
- ``bias``: every biased ``Conv``/``Linear``, one add per output element (a per-position
  Linear: per element of its output map).
- ``scale``: every ``LayerScale`` (ConvNeXt's layer scale), one multiply per output element.

  Each layer record says which of these it adds (its ``elementwise`` property, in
  plan/ops.py); a record that does not say is an error, never silently skipped.
- ``add``: every unit whose branches merge by ``add``, one add per output element
  (``concat`` merges cost nothing: dense layers, Inception and fire modules).
- ``pool``: a unit whose output map is smaller than the map of its last spatial layer
  (its input when it has none) pools that map: one op per element read (a ``conv_pool``
  head, SqueezeNet's, pools its class maps); so does a norm whose map is smaller than the
  map before it (the pool sits between them: ConvNeXt's head pools, then normalises the 1x1 map).

Not counted: activations, each by name: ReLU, ReLU6, SiLU, GELU, hardswish, and the SE gates
sigmoid and hardsigmoid (the Plan records only weighted layers, so there is nothing generic to
count them from); pooling that keeps the map size (e.g. an Inception pool branch) or sits in a
shortcut or a branch (Inception-v3's average-pool branches and the 3x3/2 max-pool branch of its
grid reductions, whose convs shrink the map too); SE's global mean (squeeze) and rescaling
multiply; stochastic depth, softmax and dropout; permutes and flattens are views and cost
nothing; and data movement without arithmetic: concatenations (Inception-v3's side-by-side
1x3/3x1 outputs included), ShuffleNetV2's channel split (a view) and channel shuffle (a
transposed copy). FlopCounterMode counts none of these either way.
"""

from __future__ import annotations

import sys

from dataclasses import dataclass, fields
from math import prod

from ..plan.ops import Conv, Norm, Size
from ..plan.steps import AdaptiveAvgPool, Attention, MatMul, Mean, Pool
from ..plan.types import Unit

POOLS = (AdaptiveAvgPool, Mean, Pool)

MACS_POLICY = (
    "MACs: multiply-accumulates of conv and linear layers (batch 1, biases excluded); FLOPs = 2 x MACs"
)
EXCLUDED = "norms (BN, LayerNorm), activations, layer scales, pooling, residual adds and biases are not in the MACs"
ATTENTION_POLICY = (
    "attention: its two matmuls are MACs, q @ k^T and weights @ v, S x T x T x D each per attention (S sequences "
    "attended separately, each of T tokens of width D: global attention attends one sequence of every token, "
    "window attention one sequence per window), as FlopCounterMode counts them with the mha fast path off and SDPA's math kernel (torchvision's GFLOPS); the "
    "input and output projections are linear layers; softmax and the 1/sqrt(d) scaling are not MACs. "
    "FlopCounterMode's defaults undercount torchvision's modules: in eval under no_grad nn.MultiheadAttention's "
    "fused fast path hides the projections and the attention, and CPU SDPA's flash kernel (fast path off) has no "
    "FLOP formula, so the two matmuls go uncounted (docs/report.md)"
)
WINDOW_ATTENTION_POLICY = (
    "window attention (Swin): T is a window's W x W tokens, and the matmuls run over every window of the map "
    "padded to window multiples; V2's position-bias MLP runs once per forward on its (2W-1)^2 table, whatever the "
    "batch. torchvision's plain matmuls count under FlopCounterMode's defaults; its qkv and proj are F.linear "
    "calls on the module's weights, as archspec's are, which tools that hook modules (ptflops, thop, torchinfo) "
    "never see"
)
AUX_POLICY = "training-only auxiliary classifiers (aux.<i>) included in params and MACs (as built with aux=True)"
ELEMENTWISE_POLICY = (
    "elementwise ops (separate from MACs, one per element): BN and LayerNorm outputs, bias outputs, "
    "layer-scale outputs, residual-add outputs, elements read by a size-reducing pool; not counted: activations "
    "(ReLU, ReLU6, SiLU, GELU, hardswish, SE's sigmoid/hardsigmoid gates), SE's squeeze and rescale, dropout, "
    "concatenations, channel splits and channel shuffles (data movement only)"
)


@dataclass(frozen=True)
class Elementwise:
    """Elementwise ops of one unit (or a sum of units), by kind."""

    norm: int = 0
    bias: int = 0
    scale: int = 0
    add: int = 0
    pool: int = 0

    @property
    def total(self) -> int:
        return self.norm + self.bias + self.scale + self.add + self.pool

    def __add__(self, other: "Elementwise") -> "Elementwise":
        return Elementwise(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "total": self.total}


@dataclass(frozen=True)
class AttentionLayout:
    """``count`` attentions of one shape in a network: each over ``sequences`` sequences per sample (one for
    global attention, one per window for windowed), each sequence ``tokens`` queries against ``keys`` keys
    of width ``width`` (all heads)."""

    count: int
    sequences: int
    tokens: int
    keys: int
    width: int

    @property
    def macs(self) -> int:
        """Both matmuls of one attention: S x T x T' x D each (q @ k^T, then weights @ v)."""
        return 2 * self.sequences * self.tokens * self.keys * self.width

    def describe(self) -> str:
        """``12 attentions over 1 sequence of T = 197 tokens, D = 768 (59,610,624 MACs each)``."""
        tokens = f"T = {self.tokens} tokens" if self.tokens == self.keys else f"{self.tokens} queries x {self.keys} keys"
        return (f"{self.count} attention{'s' * (self.count > 1)} over {self.sequences:,} "
                f"sequence{'s' * (self.sequences > 1)} of {tokens}, D = {self.width} ({self.macs:,} MACs each)")


def attention_layouts(units: "tuple[Unit, ...]") -> tuple[AttentionLayout, ...]:
    """The network's attentions, grouped by shape in the order they first run, read from the graphs: each
    ``q @ k^T`` matmul (plan/steps.py's MatMul with ``transpose_b``, or the fused Attention) on a query of
    per-sample shape ``(*sequences, heads, T, d)``."""
    counts: dict[tuple[int, int, int, int], int] = {}
    for unit in units:
        if unit.graph is None:
            continue
        for node in unit.graph.nodes:
            step = node.step
            if isinstance(step, Attention) or (isinstance(step, MatMul) and step.transpose_b):
                *lead, heads, tokens, d = unit.graph.shape_of(node.inputs[0])
                key = (prod(lead), tokens, unit.graph.shape_of(node.inputs[1])[-2], heads * d)
                counts[key] = counts.get(key, 0) + 1
    return tuple(AttentionLayout(count, *key) for key, count in counts.items())


def attention_note(layouts: tuple[AttentionLayout, ...]) -> str:
    """How attention is counted, and what S, T and D are in this network (from its graphs)."""
    return ATTENTION_POLICY + ". In this network: " + "; ".join(layout.describe() for layout in layouts)


def loaded_step(module: str, name: str) -> type | None:
    """The step class ``name`` of ``module`` (under archspec.plan) if that module is loaded, else None.

    No step exists before its class's module is imported, so a test for a family's steps asks only
    loaded modules, and a light command on another family does not import them (Swin's window steps
    are a thirtieth of ``report``'s start).
    """
    loaded = sys.modules.get(f"archspec.plan.{module}")
    return getattr(loaded, name) if loaded is not None else None


def has_window_attention(units: "tuple[Unit, ...]") -> bool:
    """Whether any unit's graph has window attention's matmuls (plan/window_steps.py's WindowMatMul)."""
    window_matmul = loaded_step("window_steps", "WindowMatMul")
    return window_matmul is not None and any(
        u.graph is not None and any(isinstance(n.step, window_matmul) for n in u.graph.nodes) for u in units)


def area(size: Size) -> int:
    return size[0] * size[1]


LAYER_CLASSES = ("norm", "bias", "scale")  # the classes a layer record may add; add and pool come from the unit


def elementwise(unit: Unit) -> Elementwise:
    """The elementwise ops of one Plan row, by the rules in this module's docstring."""
    by_class = dict.fromkeys(LAYER_CLASSES, 0)
    for op in unit.ops:
        if not hasattr(type(op), "elementwise"):
            raise TypeError(f"layer record {type(op).__name__} ({unit.name}.{op.path}) does not say its elementwise "
                            "ops; give it an `elementwise` property (plan/ops.py)")
        for kind, count in op.elementwise.items():
            if kind not in by_class:
                raise TypeError(f"layer record {type(op).__name__} ({unit.name}.{op.path}) adds elementwise ops of "
                                f"class {kind!r}; the policy counts only {', '.join(LAYER_CLASSES)}")
            by_class[kind] += count
    if unit.graph is not None:  # each parameter-free step counts its own (plan/steps.py)
        add = sum(n.step.counted(n.shape).get("add", 0) for n in unit.graph.nodes if not n.step.tensors)
    else:
        add = unit.out_activations if unit.merge == "add" else 0
    return Elementwise(**by_class, add=add, pool=pooled_elements(unit))


def pooled_elements(unit: Unit) -> int:
    """Elements read by pools that shrink a map: before a norm of a smaller map, or at the unit's end.
    A unit whose graph has no pooling step pools nothing (ViT's head selects its class token)."""
    if unit.graph is not None and not any(isinstance(n.step, POOLS) for n in unit.graph.nodes):
        return 0
    channels, size, read = unit.in_channels, unit.in_size, 0
    for op in unit.ops:
        if isinstance(op, Conv):
            channels, size = op.cout, op.out_size
        elif isinstance(op, Norm):
            read += channels * area(size) if area(op.size) < area(size) else 0
            channels, size = op.channels, op.size
    return read + (channels * area(size) if area(unit.out_size) < area(size) else 0)
