"""Print what autograd saves, module by module, during a training-mode forward of a spec's module.

A tool for extending the memory model (archspec/complexity/memory.py) to a new block:
run it on a spec using the block and compare each unit's lines with the model's.

    PYTHONPATH=$PWD python scripts/probe_saved.py specs/resnet-20.yaml --batch 2 [--set input.size=32]

Each line: the unit, the innermost module that saved the tensor, its shape and dtype, its
storage's bytes, and ``new`` the first time that storage is seen (only those count).
"""

from __future__ import annotations

import argparse

import torch

from archspec.api import build, plan
from archspec.complexity.measure import SavedTensorProbe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--unit", help="only print this unit's lines")
    args = parser.parse_args()
    resolved = plan(args.spec, overrides=args.sets)
    model = build(args.spec, overrides=args.sets).train()
    x = torch.randn(args.batch, resolved.in_channels, *resolved.input_size)
    probe = SavedTensorProbe(model, [u.name for u in resolved.units])
    probe.run(x)
    for rec in probe.records:
        if args.unit and rec.unit != args.unit:
            continue
        print(f"{rec.unit:14s} {rec.module:34s} {str(tuple(rec.shape)):22s} {str(rec.dtype):15s} "
              f"{rec.nbytes:>12,} {'new' if rec.new else 'seen'}")
    for name, nbytes in probe.by_unit().items():
        print(f"{name:14s} {nbytes:>14,}")
    print(f"{'total':14s} {probe.total:>14,}")


if __name__ == "__main__":
    main()
