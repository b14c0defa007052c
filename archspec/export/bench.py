"""Measured speed: end-to-end latency of built networks, and a per-unit latency lookup table.

Every figure is a median over rounds taken after a warm-up; several networks are measured
in interleaved rounds (a round times each once, in turn), so a drift of the machine's speed
falls on all of them alike, and are reported as ratios to the first. Each distinct unit
(same block, shapes and layers: :func:`unit_key`) is timed once, alone, on an input of its
shape; the table of those times can be saved and reused, and the sum of a network's unit
times is its *predicted* latency, shown beside the measured one.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from ..blocks.network import Network
from ..plan.types import Plan, Unit

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MODES = ("infer", "train")
RUNTIMES = ("eager", "compile", "onnxruntime")
TABLE_SCHEMA = 1


class BenchError(ValueError):
    """A configuration that cannot be measured (said in one sentence, for exit status 2)."""


@dataclass(frozen=True)
class Config:
    device: str = "cpu"
    batch: int = 1
    dtype: str = "fp32"
    channels_last: bool = False
    mode: str = "infer"
    runtime: str = "eager"
    cuda_graphs: bool = False
    warmup: int = 2
    rounds: int = 5
    iters: int = 1  # steps per timed sample
    threads: int | None = None  # intra-op CPU threads (torch.set_num_threads); None: torch's default

    def check(self) -> None:
        """Every combination that cannot run, refused before anything is built."""
        if self.batch < 1:
            raise BenchError(f"--batch {self.batch}: the batch must be at least 1")
        if self.dtype not in TORCH_DTYPES:
            raise BenchError(f"--dtype {self.dtype!r}: use one of {', '.join(TORCH_DTYPES)}")
        if self.mode not in MODES or self.runtime not in RUNTIMES:
            raise BenchError(f"--mode must be one of {', '.join(MODES)} and --runtime one of {', '.join(RUNTIMES)}")
        if self.device not in ("cpu", "cuda"):
            raise BenchError(f"--device {self.device!r}: use cpu or cuda")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise BenchError("--device cuda: no CUDA device is available here (torch.cuda.is_available() is False)")
        if self.cuda_graphs and self.device != "cuda":
            raise BenchError("--cuda-graphs needs --device cuda")
        if self.cuda_graphs and self.runtime == "onnxruntime":
            raise BenchError("--cuda-graphs works with --runtime eager (one captured step) or compile "
                             "(mode reduce-overhead), not onnxruntime")
        if self.runtime == "onnxruntime":
            if self.mode == "train":
                raise BenchError("--runtime onnxruntime runs inference only; use --mode infer")
            if self.dtype != "fp32" or self.channels_last:
                raise BenchError("--runtime onnxruntime measures the fp32 ONNX export; drop --dtype and --channels-last")
            if self.device == "cuda":
                import onnxruntime as ort

                if "CUDAExecutionProvider" not in ort.get_available_providers():
                    raise BenchError("--runtime onnxruntime --device cuda: onnxruntime has no CUDAExecutionProvider here")
        if min(self.warmup, self.rounds, self.iters, self.threads or 1) < 1:
            raise BenchError("--warmup, --rounds, --iters and --threads must be at least 1")

    def table_key(self) -> dict[str, Any]:
        """What a unit time depends on besides the unit: a saved table is reused only where these agree."""
        keys = ("device", "batch", "dtype", "channels_last", "mode", "runtime", "cuda_graphs", "threads")
        return {k: getattr(self, k) for k in keys}


def unit_key(unit: Unit) -> str:
    """A unit's identity for the lookup table: block and shapes in words, then a digest of its layers
    and options (two units with the same key build the same module)."""
    layers = repr((unit.ops, sorted(unit.options.items(), key=str), unit.shortcut, unit.merge))  # paths are unit-relative
    digest = hashlib.sha256(layers.encode()).hexdigest()[:10]
    (h, w), (oh, ow) = unit.in_size, unit.out_size
    return f"{unit.block} {unit.in_channels}x{h}x{w}->{unit.out_channels}x{oh}x{ow} s{unit.stride} {digest}"


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def make_step(module: nn.Module, input_shape: tuple[int, ...], cfg: Config) -> Callable[[], Any]:
    """One iteration of ``cfg.mode`` on ``module`` (moved, cast, compiled or exported as asked)."""
    dtype = TORCH_DTYPES[cfg.dtype]
    fmt = torch.channels_last if cfg.channels_last and len(input_shape) == 4 else torch.contiguous_format
    x = torch.randn(cfg.batch, *input_shape[1:], device=cfg.device, dtype=dtype).to(memory_format=fmt)
    if cfg.runtime == "onnxruntime":
        return _onnx_step(module, x, cfg.threads)
    module = module.to(device=cfg.device, dtype=dtype, memory_format=fmt)
    module.train(cfg.mode == "train")
    run: Callable[[torch.Tensor], Any] = module
    if cfg.runtime == "compile":  # with CUDA graphs: inductor's own capture (mode "reduce-overhead")
        run = torch.compile(module, mode="reduce-overhead" if cfg.cuda_graphs else None)
    manual_graph = cfg.cuda_graphs and cfg.runtime == "eager"
    if cfg.mode == "infer":
        def step() -> Any:
            with torch.no_grad() if manual_graph else torch.inference_mode():  # no_grad: the capture recipe's
                return run(x)
    else:
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9) if params else None

        def step() -> Any:
            out = run(x)
            loss = (out[0] if isinstance(out, tuple) else out).float().mean()
            if loss.requires_grad:  # a pool unit or an empty stem has nothing to train
                loss.backward()
            if optimizer is not None:
                optimizer.step()
                optimizer.zero_grad(set_to_none=False)  # graphs replay into the same grad buffers
            return loss
    return _graphed(step) if manual_graph else step


def _graphed(step: Callable[[], Any]) -> Callable[[], Any]:
    """Capture the whole step in a CUDA graph (PyTorch's whole-network recipe) and replay it."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm up on a side stream before capture, as the recipe asks
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def _onnx_step(module: nn.Module, x: torch.Tensor, threads: int | None) -> Callable[[], Any]:
    """Export to a temporary ONNX file and run it in onnxruntime (``threads``: its intra-op threads)."""
    import onnxruntime as ort

    from .onnx import INPUT_NAME, export_onnx

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.onnx"
        export_onnx(module.cpu().float(), tuple(x.shape[1:]), path)  # type: ignore[arg-type]
        providers = ["CUDAExecutionProvider"] if x.is_cuda else ["CPUExecutionProvider"]
        session = ort.InferenceSession(str(path), options, providers=providers)
    feed = {INPUT_NAME: x.cpu().numpy()}
    return lambda: session.run(None, feed)


def time_once(step: Callable[[], Any], cfg: Config) -> float:
    """Seconds per iteration, averaged over ``cfg.iters`` steps."""
    _sync(cfg.device)
    start = time.perf_counter()
    for _ in range(cfg.iters):
        step()
    _sync(cfg.device)
    return (time.perf_counter() - start) / cfg.iters


def interleaved(steps: Sequence[Callable[[], Any]], cfg: Config,
                tick: Callable[[], None] = lambda: None) -> list[list[float]]:
    """Seconds per iteration of each step in every round, rounds interleaved after ``cfg.warmup`` untimed ones."""
    for _ in range(cfg.warmup):
        for step in steps:
            step()
    samples: list[list[float]] = [[] for _ in steps]
    for _ in range(cfg.rounds):
        for i, step in enumerate(steps):
            samples[i].append(time_once(step, cfg))
            tick()
    return samples


@dataclass
class LatencyTable:
    """Seconds per iteration of each distinct unit, under one configuration (``config``)."""

    config: dict[str, Any]
    units: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, cfg: Config) -> "LatencyTable":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            table = cls(dict(data["config"]), {str(k): float(v) for k, v in data["units"].items()})
            if data.get("schema") != TABLE_SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, expected {TABLE_SCHEMA}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BenchError(f"--table {path}: not a latency table written by archspec bench ({exc})") from None
        if table.config != cfg.table_key():
            raise BenchError(f"--table {path} was measured under {table.config}, not {cfg.table_key()}; "
                             "give another file or the same options")
        return table

    def as_dict(self) -> dict[str, Any]:
        return {"schema": TABLE_SCHEMA, "config": self.config, "units": dict(sorted(self.units.items()))}


def time_units(plans: Iterable[Plan], models: Sequence[Network], table: LatencyTable, cfg: Config,
               tick: Callable[[], None] = lambda: None) -> int:
    """Time every unit missing from ``table`` alone, each distinct one once, in interleaved rounds (a busy
    stretch of the machine falls on all of them alike); returns how many were timed."""
    steps: dict[str, Callable[[], Any]] = {}
    for plan, model in zip(plans, models):
        for unit in plan.units:
            key = unit_key(unit)
            if key not in table.units and key not in steps:
                shape = (cfg.batch, unit.in_channels, *unit.in_size)
                steps[key] = make_step(model.get_submodule(unit.name), shape, cfg)
    for key, samples in zip(steps, interleaved(list(steps.values()), cfg, tick)):
        table.units[key] = statistics.median(samples)
    return len(steps)


@dataclass(frozen=True)
class Result:
    name: str
    seconds: float  # median per iteration, end to end
    best: float  # the fastest round's (on a busy machine the steadier figure)
    ratio: float  # to the first network's median
    predicted: float | None  # sum of the unit times (None: units not timed)
    units: int

    def as_dict(self, batch: int) -> dict[str, Any]:
        return {**asdict(self), "images_per_second": batch / self.seconds if self.seconds > 0 else None,
                "predicted_over_measured": self.predicted / self.seconds
                if self.seconds > 0 and self.predicted is not None else None}


def memory_limit(cfg: Config) -> int:
    """The default ``--max-memory``: 90 % of the device's memory (CUDA), or on the CPU the limit every
    build obeys (the global ``--max-memory``, else half the machine's or the container's memory)."""
    from ..plan.memory_budget import memory_limit as build_limit

    if cfg.device == "cuda":
        return int(0.9 * torch.cuda.get_device_properties(0).total_memory)
    return build_limit()


def check_memory(needs: Sequence[tuple[int, int]], cfg: Config, limit: int) -> int:
    """Refuse, before anything is allocated, what the analytic memory says would not fit.

    ``needs`` holds each network's (weight bytes, activation bytes), from the memory model
    (``archspec.complexity.memory``; the caller computes them, this layer does not import
    it). Every network's weights stay allocated (they are measured in turn); training adds
    grads and SGD momentum; the largest activation figure is added once.
    """
    weights = sum((3 if cfg.mode == "train" else 1) * w for w, _ in needs)
    need = weights + max(a for _, a in needs)
    if need > limit:
        raise BenchError(f"batch {cfg.batch} in {cfg.dtype} needs about {need / 2**30:.2f} GiB ({cfg.mode}: weights"
                         f"{', grads, momentum' if cfg.mode == 'train' else ''} and activations, by the analytic "
                         f"memory model), over the {limit / 2**30:.2f} GiB limit; lower --batch or raise --max-memory")
    return need


@dataclass
class BenchRun:
    results: list[Result]
    table: LatencyTable
    timed_units: int  # units timed in this run (0 when a reused table had them all)
    estimated_bytes: int


def bench(plans: Sequence[Plan], needs: Sequence[tuple[int, int]], cfg: Config, table: LatencyTable | None = None,
          max_memory: int | None = None,
          progress: Callable[[int], Callable[[], None]] = lambda total: (lambda: None),
          units: bool = True) -> BenchRun:
    """Measure ``plans`` end to end (interleaved) and fill the unit table; ``progress(total)`` gives a tick.

    ``needs``: each plan's (weight bytes, activation bytes) for :func:`check_memory`.
    ``units=False`` skips the unit table (and the prediction): end-to-end figures only.
    """
    cfg.check()
    need = check_memory(needs, cfg, memory_limit(cfg) if max_memory is None else max_memory)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    table = table if table is not None else LatencyTable(cfg.table_key())
    models = [Network(p) for p in plans]
    missing = {unit_key(u) for p in plans for u in p.units} - set(table.units) if units else set()
    tick = progress(cfg.rounds * (len(plans) + len(missing)))
    timed = time_units(plans, models, table, cfg, tick) if units else 0
    steps = [make_step(m, (cfg.batch, p.in_channels, *p.input_size), cfg) for p, m in zip(plans, models)]
    samples = interleaved(steps, cfg, tick)
    seconds = [statistics.median(s) for s in samples]
    results = [Result(p.name, s, min(round_times), s / seconds[0],
                      sum(table.units[unit_key(u)] for u in p.units) if units else None, len(p.units))
               for p, s, round_times in zip(plans, seconds, samples)]
    return BenchRun(results, table, timed, need)
