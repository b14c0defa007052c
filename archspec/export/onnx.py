"""ONNX export with the dynamo exporter, checked by onnx.checker and against onnxruntime."""

from __future__ import annotations

import io
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

OPSET = 18
DEFORMABLE_OPSET = 19  # ONNX's DeformConv operator exists from opset 19
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
VERIFY_BATCHES = (1, 3)
# Freshly initialised deep nets without trained BN statistics can output 1e11, so
# agreement is judged relative to the output scale (fp32 reorderings give ~1e-6).
RELATIVE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OnnxCheck:
    path: Path
    opset: int
    max_abs_diff: float  # largest |torch - onnxruntime| over the verification batches
    max_rel_diff: float  # the same, divided by the largest |torch output|
    batches: tuple[int, ...]
    # False when the torch outputs are the same for every input: untrained BN statistics
    # can make a deep net's activations vanish (EfficientNet's shrink ~30x a stage), and
    # comparing two constants proves nothing about the graph.
    input_dependent: bool = True

    @property
    def ok(self) -> bool:
        return self.max_rel_diff <= RELATIVE_TOLERANCE


def export_onnx(model: torch.nn.Module, input_shape: tuple[int, int, int], path: str | Path,
                metadata: dict[str, str] | None = None) -> None:
    """Write a single self-contained ONNX file with a dynamic batch axis and a pinned opset."""
    model = model.eval()
    opset = required_opset(model)
    example = torch.randn(2, *input_shape)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with _quiet():
        program = torch.onnx.export(
            model, (example,), dynamo=True, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},), external_data=False, verbose=False,
        )
    if metadata:
        for key, value in metadata.items():
            program.model.metadata_props[key] = value
    program.save(str(path), external_data=False)


def required_opset(model: torch.nn.Module) -> int:
    """The pinned opset, or the first one with DeformConv where the model has deformable convs."""
    from ..blocks.deform import DeformableConv

    return DEFORMABLE_OPSET if any(isinstance(m, DeformableConv) for m in model.modules()) else OPSET


def verify_onnx(model: torch.nn.Module, input_shape: tuple[int, int, int], path: str | Path,
                batches: tuple[int, ...] = VERIFY_BATCHES, seed: int = 0) -> OnnxCheck:
    """Check the file with onnx.checker, run it in onnxruntime, compare with the module."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    worst, scale, spread = 0.0, 0.0, 0.0
    model = model.eval()
    for n in batches:
        x = torch.randn(n, *input_shape, generator=generator)
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
        if got.shape != expected.shape:
            raise ValueError(f"onnxruntime gave shape {got.shape} for batch {n}, torch {expected.shape}")
        worst = max(worst, float(np.max(np.abs(got - expected))))
        scale = max(scale, float(np.max(np.abs(expected))))
        spread = max(spread, float(np.max(np.abs(expected - expected[:1]))))
    return OnnxCheck(Path(path), opset, worst, worst / scale if scale else worst, tuple(batches),
                     input_dependent=spread > 1e-6 * scale)


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
