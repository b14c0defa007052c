"""What an export's failure and an export's check look like.

The rule that judges every artifact lives in one place, :mod:`archspec.export.verify`
(:func:`~archspec.export.verify.verified`): a failed comparison raises its
``VerificationError``; an export that cannot be made at all raises :class:`ExportError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    def line(self) -> str:
        if self.tolerance == 0.0:  # compared bit for bit: nothing to quantify
            return self.what
        return (f"{self.what}: max |diff| {self.max_abs_diff:.3g} ({self.max_rel_diff:.2g} of the output scale, "
                f"tolerance {self.tolerance:.2g})")
