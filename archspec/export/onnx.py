"""ONNX export with the dynamo exporter; :mod:`archspec.export.verify` checks the file."""

from __future__ import annotations

import io
import contextlib
import logging
from pathlib import Path
from typing import Sequence

import torch

from .verify import VERIFY_BATCHES, OnnxCheck, verify_onnx  # noqa: F401  (the verification every export shares)

OPSET = 18
DEFORMABLE_OPSET = 19  # ONNX's DeformConv operator exists from opset 19
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(model: torch.nn.Module, input_shape: tuple[int, int, int], path: str | Path,
                metadata: dict[str, str] | None = None, output_names: Sequence[str] = (OUTPUT_NAME,)) -> None:
    """Write a single self-contained ONNX file with a dynamic batch axis and a pinned opset.

    ``output_names``: one per output (a backbone's maps: ``feature<i>``, timm's index ``i``).

    Unoptimised (``optimize=False``): BN stays a BatchNormalization node whose statistics are
    initializers named as in the state_dict, so verification can run the very file with
    calibrated statistics; onnxruntime fuses BN into the convs when it loads the file anyway.
    """
    model = model.eval()
    opset = required_opset(model)
    example = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=4096)
    with _quiet():
        program = torch.onnx.export(
            model, (example,), dynamo=True, opset_version=opset,
            input_names=[INPUT_NAME], output_names=list(output_names),
            dynamic_shapes=({0: batch},), external_data=False, verbose=False, optimize=False,
        )
    if metadata:
        for key, value in metadata.items():
            program.model.metadata_props[key] = value
    program.save(str(path), external_data=False)


def required_opset(model: torch.nn.Module) -> int:
    """The pinned opset, or the first one with DeformConv where the model has deformable convs."""
    from ..blocks.deform import DeformableConv

    return DEFORMABLE_OPSET if any(isinstance(m, DeformableConv) for m in model.modules()) else OPSET


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress lines; keep the CLI's output to what it wrote."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
