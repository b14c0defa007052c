"""The heads: ResNet's classifier, VGG/AlexNet's MLP, EfficientNet's conv classifier and
SqueezeNet's conv-pool head, each registered by its ``type`` with the typed options its builder
reads. ConvNeXt's and MobileNetV3's heads live with their families.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec.families import Activation
from ..spec.models import HeadPre
from . import subgraphs as sg
from .graph import INPUT, GraphBuilder
from .ops import Conv, Linear, Norm, Size
from .options import register_options
from .registry import register_head
from .steps import Act, AdaptiveAvgPool, Dropout, Flatten
from .types import Unit, UnitOptions


@register_options("classifier")
@dataclass(frozen=True)
class ClassifierOptions(UnitOptions):
    pre: tuple[HeadPre, ...]  # before the global average pool: (), (bn,), (relu,) or (bn, relu)
    dropout: float  # before the FC; 0.0: none


@register_options("mlp")
@dataclass(frozen=True)
class MLPOptions(UnitOptions):
    pool_size: int  # the adaptive average pool's output side
    dropout: float  # after each hidden FC-ReLU, or before each FC with ``dropout_first``
    dropout_first: bool  # AlexNet's dropout-FC-ReLU order (VGG: FC-ReLU-dropout)


@register_options("conv_classifier")
@dataclass(frozen=True)
class ConvClassifierOptions(UnitOptions):
    act: Activation  # after the conv1x1-BN
    dropout: float  # before the FC


@register_options("conv_pool")
@dataclass(frozen=True)
class ConvPoolOptions(UnitOptions):
    """A ``conv_pool`` head's module beyond its conv record: the dropout before the conv, the activation after."""

    dropout: float
    act: Activation


@register_head("classifier")
def plan_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """ResNet's head: optional BN/ReLU before the pool, global average pool, flatten, dropout, FC."""
    g = GraphBuilder(channels, size)
    x = g.add(Norm("bn", channels, size), INPUT) if "bn" in head.pre else INPUT
    x = g.add(Act("relu", "relu"), x) if "relu" in head.pre else x
    x = g.chain(x, AdaptiveAvgPool("pool"), Flatten("flatten"))
    g.add(Linear("fc", channels, classes), sg.dropout(g, x, head.dropout))
    graph = g.build()
    return Unit("head", None, 0, head.type, channels, classes, size, (1, 1), ops=graph.weighted, graph=graph,
                options=ClassifierOptions(pre=tuple(head.pre), dropout=head.dropout))


@register_head("mlp")
def plan_mlp_head(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """VGG, AlexNet: pool to ``pool_size``, then FCs ``fc1``... with the last one giving the classes.

    ``dropout_first`` (AlexNet) puts each hidden layer's dropout before its FC, not after its ReLU.
    """
    widths = [channels * head.pool_size**2, *head.hidden, classes]
    fcs = [Linear(f"fc{i + 1}", a, b) for i, (a, b) in enumerate(zip(widths, widths[1:]))]
    g = GraphBuilder(channels, size)
    x = g.chain(INPUT, AdaptiveAvgPool("pool", (head.pool_size, head.pool_size)), Flatten("flatten"))
    for i, fc in enumerate(fcs[:-1], start=1):  # a dropout module each, at any rate, as the references have
        x = g.add(Dropout(f"dropout{i}", head.dropout), x) if head.dropout_first else x
        x = g.chain(x, fc, Act(f"relu{i}", "relu"))
        x = x if head.dropout_first else g.add(Dropout(f"dropout{i}", head.dropout), x)
    g.add(fcs[-1], x)
    graph = g.build()
    return Unit("head", None, 0, "mlp", channels, classes, size, (1, 1), inner_channels=widths[0], ops=graph.weighted,
                graph=graph, options=MLPOptions(pool_size=head.pool_size, dropout=head.dropout,
                                   dropout_first=head.dropout_first))


@register_head("conv_classifier")
def plan_conv_classifier(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """EfficientNet: conv1x1 to ``expansion`` x the width (ShuffleNetV2, MNASNet, EfficientNetV2: to ``width``), BN,
    act, pool, dropout, FC."""
    width = head.width if head.width is not None else head.expansion * channels  # the spec gives exactly one
    g = GraphBuilder(channels, size)
    x = sg.conv_norm_act(g, INPUT, Conv("conv", channels, width, 1, size, padding=0), Norm("bn", width, size),
                         head.act, "act")
    x = g.chain(x, AdaptiveAvgPool("pool"), Flatten("flatten"), Dropout("dropout", head.dropout))
    g.add(Linear("fc", width, classes), x)
    graph = g.build()
    return Unit("head", None, 0, "conv_classifier", channels, classes, size, (1, 1), inner_channels=width,
                ops=graph.weighted, graph=graph, options=ConvClassifierOptions(act=head.act, dropout=head.dropout))


@register_head("conv_pool")
def plan_conv_pool(head: Any, channels: int, size: Size, classes: int) -> Unit:
    """SqueezeNet: dropout (at any rate), conv1x1 (bias) to the classes, activation, global average pool,
    flatten. The conv is the classifier: the linear init rules fill it."""
    g = GraphBuilder(channels, size)
    x = g.add(Dropout("dropout", head.dropout), INPUT)
    conv = Conv("conv", channels, classes, 1, size, bias=True, padding=0, init="linear")
    x = sg.act(g, "act", head.act, g.add(conv, x))
    g.chain(x, AdaptiveAvgPool("pool"), Flatten("flatten"))
    graph = g.build()
    return Unit("head", None, 0, "conv_pool", channels, classes, size, (1, 1), ops=graph.weighted, graph=graph,
                options=ConvPoolOptions(dropout=head.dropout, act=head.act))  # type: ignore[arg-type]
