"""A unit's block choices in words: kernel, expansion, squeeze-excite, groups, activation, the rest.

Read generically from a Plan row (its typed options and its layer records), so that the
diagram's nodes and ``archspec diff`` say the same thing about every block kind, built-in
or a user's, and neither has a switch over block names. Below both (they are siblings).
"""

from __future__ import annotations

from typing import Any

from .types import Unit

# The choices a reader compares first, in the order they are shown.
KERNEL, EXPANSION, SE, GROUPS, ACTIVATION = "kernel", "expansion", "squeeze-excite", "conv groups", "activation"
MAIN = (KERNEL, EXPANSION, SE, GROUPS, ACTIVATION)

# Option fields the main choices already say (in words), or that are not a choice of the block's.
_SAID = frozenset({"kernel", "expand", "expansion", "se", "se_channels", "act"})

# How activations are written in papers and in torch.nn; anything else is shown as named.
_ACTIVATIONS = {"relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU", "swish": "SiLU", "gelu": "GELU",
                "hardswish": "Hardswish", "hswish": "Hardswish", "sigmoid": "Sigmoid",
                "hardsigmoid": "Hardsigmoid", "tanh": "Tanh", "leaky_relu": "LeakyReLU", "elu": "ELU",
                "mish": "Mish", "none": "none", "identity": "none"}


def kernel_text(kernel: Any) -> str:
    """``3`` -> ``3×3``; ``(1, 7)`` -> ``1×7``."""
    h, w = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    return f"{h}\u00d7{w}"


def ratio_text(value: float) -> str:
    """An expansion ratio: ``×6``, ``×2.5``, ``×2.3`` (two decimals at most)."""
    return f"\u00d7{round(value, 2):g}"


def activation_text(name: Any) -> str:
    return _ACTIVATIONS.get(str(name).lower(), str(name))


def se_width(unit: Unit) -> int | None:
    """Squeeze-excite's hidden width (0: the block could have one and has none); None: the kind has none.

    Read from the layer records (the ``se.fc1`` reduce layer) so every kind that names its SE
    layers so is covered, and from the options where a kind declares it without a layer.
    """
    for op in unit.ops:
        if op.path == "se.fc1" or op.path.endswith(".se.fc1"):
            return op.cout
    options = dict(unit.options.items())
    return 0 if "se" in options or "se_channels" in options else None


def expansion(unit: Unit) -> float | None:
    """The expansion ratio: the kind's own (``expand``, ``expansion``), or, for an inverted
    residual that states its expanded width (MobileNetV3's bneck), that width over the input's."""
    options = dict(unit.options.items())
    for name in ("expand", "expansion"):
        if isinstance(options.get(name), (int, float)) and not isinstance(options.get(name), bool):
            return float(options[name])
    if unit.inner_channels and unit.has("dw.conv") and unit.in_channels:
        return unit.inner_channels / unit.in_channels
    return None


def depthwise(unit: Unit) -> bool:
    """Whether the unit's grouped conv has one group per channel (of its input or its inner width)."""
    return unit.groups > 1 and unit.groups in (unit.in_channels, unit.inner_channels)


def block_choices(unit: Unit) -> dict[str, str]:
    """The unit's block choices as text, keyed ``block``, then the main ones it has (``MAIN``), then
    every other scalar option by its field name (``dropout``, ``stride_on``, ...)."""
    options = dict(unit.options.items())
    out = {"block": unit.block}
    if options.get("kernel") is not None:
        out[KERNEL] = kernel_text(options["kernel"])
    ratio = expansion(unit)
    if ratio is not None:
        out[EXPANSION] = ratio_text(ratio)
    hidden = se_width(unit)
    if hidden is not None:
        out[SE] = f"{hidden} ch" if hidden else "none"
    out[GROUPS] = "depthwise" if depthwise(unit) else str(unit.groups)
    if options.get("act") is not None:
        out[ACTIVATION] = activation_text(options["act"])
    for name, value in options.items():
        if name not in _SAID and (value is None or isinstance(value, (bool, int, float, str))):
            out[name] = _scalar_text(value)
    return out


def _scalar_text(value: bool | int | float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)
