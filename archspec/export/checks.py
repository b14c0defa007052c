"""How every deployment artifact is judged against the compiled module: strictly.

A comparison fails on a non-finite output on either side (NaN is never "max diff 0"),
on a shape difference, and on a difference beyond the tolerance, measured relative to
the largest torch output (untrained deep nets can output 1e11, fp32 reorderings ~1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


class ExportError(ValueError):
    """An export that cannot be made or does not verify: the message names the file and the reason."""

    def __init__(self, target: str | Path, reason: str):
        super().__init__(f"{target}: {reason}")
        self.target, self.reason = Path(target), reason


@dataclass(frozen=True)
class Agreement:
    """What one artifact's verification measured: the largest differences, and what it ran."""

    what: str  # e.g. "onnxruntime fp16 at 32x32 and 48x64"
    max_abs_diff: float
    max_rel_diff: float
    tolerance: float
    input_dependent: bool = True  # False: the module gives the same output for every input

    def line(self) -> str:
        if self.tolerance == 0.0:  # compared bit for bit: nothing to quantify
            return self.what
        return (f"{self.what}: max |diff| {self.max_abs_diff:.3g} ({self.max_rel_diff:.2g} of the output scale, "
                f"tolerance {self.tolerance:.2g})")


class Comparison:
    """Accumulates torch-vs-artifact output pairs; :meth:`result` judges them together."""

    def __init__(self, target: str | Path, what: str, tolerance: float):
        self.target, self.what, self.tolerance = target, what, tolerance
        self.worst = self.scale = self.spread = 0.0
        self.first: torch.Tensor | None = None  # the first torch output: do the others differ from it?

    def add(self, expected: torch.Tensor, got: torch.Tensor, label: str) -> None:
        expected, got = torch.as_tensor(expected).float(), torch.as_tensor(got).float()
        if tuple(got.shape) != tuple(expected.shape):
            raise ExportError(self.target, f"{label}: the artifact gave shape {tuple(got.shape)}, "
                                           f"torch {tuple(expected.shape)}")
        if not torch.isfinite(expected).all():
            raise ExportError(self.target, f"{label}: the compiled module's outputs are not finite "
                                           "(NaN or infinity); nothing to verify against")
        if not torch.isfinite(got).all():
            bad = int((~torch.isfinite(got)).sum())
            raise ExportError(self.target, f"{label}: {bad} of the artifact's {got.numel()} outputs are not finite")
        self.worst = max(self.worst, float((got - expected).abs().max()))
        self.scale = max(self.scale, float(expected.abs().max()))
        if self.first is None:
            self.first = expected[:1]
        if expected.shape[1:] == self.first.shape[1:]:
            self.spread = max(self.spread, float((expected - self.first).abs().max()))

    def result(self) -> Agreement:
        relative = self.worst / self.scale if self.scale else self.worst
        if relative > self.tolerance:
            raise ExportError(self.target, f"{self.what}: outputs differ from torch by {self.worst:.3g} "
                                           f"({relative:.2g} of the output scale; tolerance {self.tolerance:.2g})")
        return Agreement(self.what, self.worst, relative, self.tolerance, self.spread > 1e-6 * self.scale)
