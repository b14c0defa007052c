"""Widening rules as small pure functions: (base, unit counts, alpha...) -> width per unit."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up (Python's ``round`` goes to even)."""
    return math.floor(x + 0.5)


def step_doubling(base: int, k: int, strides: Sequence[int], counts: Sequence[int]) -> list[list[int]]:
    """``base * k`` in the first stage, doubled at each later stage whose stride exceeds 1."""
    widths, width = [], base * k
    for s, (stride, n) in enumerate(zip(strides, counts)):
        if s > 0 and stride > 1:
            width *= 2
        widths.append([width] * n)
    return widths


def additive(base: int, alpha: float, counts: Sequence[int]) -> list[list[int]]:
    """PyramidNet's additive rule: a running float gains ``alpha / N`` at every unit.

    The official code keeps the running sum (not ``base + i * alpha / N``) and rounds
    each unit's value; we do the same so the float error matches too.
    """
    return [list(stage) for stage in _additive(base, alpha, tuple(counts))]


@lru_cache(maxsize=4096)  # a pure function of its inputs; samplers ask for the same widths again and again
def _additive(base: int, alpha: float, counts: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    step = alpha / sum(counts)
    running = float(base)
    widths = []
    for n in counts:
        stage = []
        for _ in range(n):
            running += step
            stage.append(math.floor(running + 0.5))  # round_half_up, inlined: planned per variant
        widths.append(tuple(stage))
    return tuple(widths)


def multiplicative(base: int, alpha: float, counts: Sequence[int]) -> list[list[int]]:
    """PyramidNet's multiplicative rule: a running float times ``alpha ** (1 / N)`` per unit."""
    return [list(stage) for stage in _multiplicative(base, alpha, tuple(counts))]


@lru_cache(maxsize=4096)
def _multiplicative(base: int, alpha: float, counts: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    factor = alpha ** (1.0 / sum(counts))
    running = float(base)
    widths = []
    for n in counts:
        stage = []
        for _ in range(n):
            running *= factor
            stage.append(math.floor(running + 0.5))  # round_half_up, inlined
        widths.append(tuple(stage))
    return tuple(widths)


def explicit(widths: Sequence[int | Sequence[int]], counts: Sequence[int]) -> list[list[int]]:
    """Widths written out per stage (repeated over its units) or per unit."""
    return [[w] * n if isinstance(w, int) else list(w) for w, n in zip(widths, counts)]
