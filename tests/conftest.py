"""Shared helpers: the bundled specs and measuring a built module the way users would."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

# Under pytest-xdist (the README's `-n 2`) each worker takes one core: torch with two threads in
# each of two workers on a 2-core machine runs many times slower than one thread each. Set before
# any test imports torch, and inherited by the subprocesses tests start.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def spec_path(name: str) -> Path:
    return SPECS / f"{name}.yaml"


@contextmanager
def deadline(seconds: int = 60) -> Iterator[None]:
    """A hang (a FIFO opened for reading or writing) fails the test instead of stopping the suite."""
    import signal

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"still waiting after {seconds} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def meta_device() -> Iterator[None]:
    """``torch.device("meta")`` for building torchvision models without storage, RegNet's included.

    torchvision's RegNet builders compute their widths with real tensors
    (``BlockParams.from_init_params`` ends in ``.tolist()``), which the meta device cannot
    give; that one step runs on the CPU, and every layer is still made on the meta device.
    """
    import torch
    from torchvision.models.regnet import BlockParams

    original = BlockParams.__dict__["from_init_params"]

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return original.__func__(cls, *args, **kwargs)

    BlockParams.from_init_params = classmethod(on_cpu)
    try:
        with torch.device("meta"):
            yield
    finally:
        BlockParams.from_init_params = original


def measure(model, input_shape) -> tuple[int, int]:
    """(params, MACs) of a module as PyTorch itself counts them: numel and FlopCounterMode / 2."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, *input_shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return params, flops // 2


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text to a spec file in a temporary directory and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write



def zeros_build(plan):
    """A plan's module on CPU, all zeros, without He initialisation (shape-only measurements)."""
    from archspec.complexity.measure import zeros_module

    return zeros_module(plan)


@pytest.fixture(autouse=True)
def _no_inherited_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-xdist's workers run with COLUMNS=80 and LINES=24 in their environment: every test starts
    as piped output does (no size), and a test that wants one sets it."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture(autouse=True)
def _default_limits():
    """The CLI's global options (``--max-memory``, ``--allow-root``...) set process-wide limits, and the
    CLI tests run in process: every test starts from the defaults, whatever the one before it set."""
    from archspec.spec.limits import reset

    reset()
    yield
    reset()
