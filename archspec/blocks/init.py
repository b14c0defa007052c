"""Initialise every tensor of a built network once, by the Plan's init rules, from one seed.

The layers are made with uninitialised storage (no torch default init, see
:func:`archspec.blocks.layers.fresh`); each tensor is filled here exactly once. A tensor's
values depend only on the seed and its name: its generator is seeded from both, so the
fills can run on several threads (torch releases the GIL while filling) and still give
the same bytes, and adding a layer leaves every other tensor's values as they were.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable

import torch
from torch import nn

from ..plan.init import PRESETS, InitRules
from ..spec.init import (KaimingNormal, KaimingUniform, LecunTruncatedNormal, Normal, TorchDefault, TruncatedNormal,
                         UniformFanOut, WeightInit, XavierUniform)

Fill = Callable[[torch.Tensor, torch.Generator], None]
PARALLEL_FROM = 1 << 15  # elements (~0.1 ms of filling): below this, a thread costs more than it saves


def fill_weight(weight: torch.Tensor, generator: torch.Generator, rule: WeightInit) -> None:
    """One weight tensor by its rule (fans as torch computes them: groups and kernel included)."""
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    if isinstance(rule, KaimingNormal):
        std = math.sqrt(2.0 / (fan_in if rule.mode == "fan_in" else fan_out))
        weight.normal_(0.0, std, generator=generator)
    elif isinstance(rule, KaimingUniform):
        gain = nn.init.calculate_gain(rule.nonlinearity)
        bound = gain * math.sqrt(3.0 / (fan_in if rule.mode == "fan_in" else fan_out))
        weight.uniform_(-bound, bound, generator=generator)
    elif isinstance(rule, TruncatedNormal):
        nn.init.trunc_normal_(weight, 0.0, rule.std, -rule.bound, rule.bound, generator=generator)
    elif isinstance(rule, Normal):
        weight.normal_(0.0, rule.std, generator=generator)
    elif isinstance(rule, UniformFanOut):
        bound = 1.0 / math.sqrt(fan_out)
        weight.uniform_(-bound, bound, generator=generator)
    elif isinstance(rule, LecunTruncatedNormal):
        nn.init.trunc_normal_(weight, 0.0, math.sqrt(1.0 / fan_in), -2.0, 2.0, generator=generator)
    elif isinstance(rule, XavierUniform):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        weight.uniform_(-bound, bound, generator=generator)
    elif isinstance(rule, TorchDefault):
        bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform_ with a = sqrt(5)
        weight.uniform_(-bound, bound, generator=generator)
    else:  # pragma: no cover - the spec union names every rule
        raise TypeError(f"no init rule {rule!r}")


def fill_bias(bias: torch.Tensor, generator: torch.Generator, rule: str, fan_in: int) -> None:
    if rule == "zeros" or fan_in == 0:
        bias.zero_()
    elif rule == "small_normal":
        bias.normal_(0.0, 1e-6, generator=generator)
    else:
        bound = 1.0 / math.sqrt(fan_in)
        bias.uniform_(-bound, bound, generator=generator)


def layer_fills(prefix: str, module: nn.Module, weight_rule: WeightInit, bias_rule: str) -> list[tuple[str, torch.Tensor, Fill]]:
    """The fills of a conv or linear layer's weight and bias."""
    fills: list[tuple[str, torch.Tensor, Fill]] = [
        (f"{prefix}weight", module.weight, partial(fill_weight, rule=weight_rule))]
    if module.bias is not None:
        fan_in = nn.init._calculate_fan_in_and_fan_out(module.weight)[0]
        fills.append((f"{prefix}bias", module.bias, partial(fill_bias, rule=bias_rule, fan_in=fan_in)))
    return fills


def _fill_bare(tensor: torch.Tensor, generator: torch.Generator, rule: tuple[str, float]) -> None:
    """A bare parameter's start: ``("fill", value)``, ``("normal", std)`` or ``("trunc_normal", std)``
    (cut at +-2, as torch's ``trunc_normal_``: Swin's relative position bias table) (plan/ops.py's ``init``)."""
    kind, value = rule
    if kind == "fill":
        tensor.fill_(value)
    elif kind == "trunc_normal":
        nn.init.trunc_normal_(tensor, 0.0, value, -2.0, 2.0, generator=generator)
    else:
        tensor.normal_(0.0, value, generator=generator)


def tensor_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "little") >> 1


def initialise(model: nn.Module, rules: InitRules | None, seed: int = 0) -> None:
    """Fill every parameter and buffer of ``model`` once; TypeError if one is left unfilled."""
    rules = rules or PRESETS["torchvision_resnet"]
    fills: list[tuple[str, torch.Tensor, Fill]] = []
    done: set[int] = set()
    with torch.no_grad():
        for name, module in model.named_modules():
            prefix = f"{name}." if name else ""
            if any(id(t) in done for t in module.parameters(recurse=False)):
                continue  # filled by its parent (a deformable conv's parts)
            own = getattr(module, "init_fills", None)
            role = rules.role(getattr(module, "init_as", ""))  # a Linear the preset fills by a rule of its own
            if own is not None:
                fills += own(prefix, rules)  # layers that are more than a conv (deformable) say how
            elif role is not None:  # ViT's attention projections (plan/init.py's roles)
                fills += layer_fills(prefix, module, *role)
            elif getattr(module, "init_as", None) == "linear":  # a conv that is the classifier (plan/ops.py)
                fills += layer_fills(prefix, module, rules.linear, rules.linear_bias)
            elif getattr(module, "init_as", None) == "aux_linear":  # an aux head's classifier (plan/ops.py)
                fills += layer_fills(prefix, module, rules.aux_linear or rules.linear, rules.linear_bias)
            elif isinstance(module, nn.Conv2d) or type(module).__name__ == "DeformConv2d":
                fills += layer_fills(prefix, module, rules.conv, rules.conv_bias)
            elif isinstance(module, nn.Linear):
                fills += layer_fills(prefix, module, rules.linear, rules.linear_bias)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
                module.reset_running_stats()
            elif isinstance(module, nn.LayerNorm):  # every reference: scale 1, shift 0
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif isinstance(getattr(module, "layer_scale", None), nn.Parameter):
                module.layer_scale.fill_(module.layer_scale_init)  # its record's start value (ConvNeXt: 1e-6)
                done.add(id(module.layer_scale))
                continue  # its children are layers of their own
            elif getattr(module, "archspec_plugin", False):  # a plugin step's module (plan/plugins.ModuleStep)
                _reset_seeded(module, tensor_seed(seed, prefix or "."))
                done.update(id(t) for t in (*module.parameters(), *module.buffers()))
                continue  # its children are its own
            elif getattr(module, "bare_inits", None):  # ViT's class token and position embedding
                for leaf, rule in module.bare_inits.items():
                    param = getattr(module, leaf)
                    fills.append((f"{prefix}{leaf}", param, partial(_fill_bare, rule=rule)))
                    done.add(id(param))
                continue  # its children are layers of their own
            else:
                continue
            done.update(id(t) for t in module.parameters())
            done.update(id(t) for t in module.buffers())
        _run(fills, seed)
        for module in model.modules():  # buffers of fixed values, made with the module (Swin's index and mask)
            done.update(id(getattr(module, leaf)) for leaf in getattr(module, "fixed_buffers", ()))
    left = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if id(t) not in done]
    if left:
        raise TypeError(f"no init rule reached {left[:3]}: a layer type this module does not know")


def _reset_seeded(module: nn.Module, seed: int) -> None:
    """A plugin's module initialised as it initialises itself (every ``reset_parameters`` in it), from a
    generator seeded for its path: the same weights whatever else the network holds."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()


def _run(fills: list[tuple[str, torch.Tensor, Fill]], seed: int) -> None:
    def one(item: tuple[str, torch.Tensor, Fill]) -> None:
        name, tensor, fill = item
        if tensor.is_meta:  # a network built under ``torch.device("meta")`` has nothing to fill
            return
        with torch.no_grad():
            fill(tensor, torch.Generator(device=tensor.device).manual_seed(tensor_seed(seed, name)))

    big = sorted((f for f in fills if f[1].numel() >= PARALLEL_FROM), key=lambda f: -f[1].numel())
    workers = min(len(big), torch.get_num_threads(), 8)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, big))
    else:
        for item in big:
            one(item)
    for item in fills:
        if item[1].numel() < PARALLEL_FROM:
            one(item)
