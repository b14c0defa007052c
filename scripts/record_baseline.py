"""Record what every bundled spec compiles to, so a refactor can prove it changed no network.

Writes ``tests/data/network_baseline.json``: per bundled spec, its ``expand`` sha256, params
and MACs (per unit too, hashed), the elementwise and other tools' counts (hashed), the
train-saved bytes at batch 1 and 8 and the inference peak (CPU, fp32), a digest of the
state_dict keys and shapes of the module built on the meta device, and for the small-input
networks (which no torchvision weights check) the first logits of the seed-0 build. ``tests/test_baseline.py``
compares today's tree against it. Rerun only when a change is *meant* to change a network,
and say which in the commit.

    python scripts/record_baseline.py [--check | --add NAME...]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "network_baseline.json"
POLICIES = ("fvcore", "ptflops", "thop", "torchinfo")


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def analytic(name: str) -> dict[str, Any]:
    """Everything the Plan says, without torch."""
    from archspec import api
    from archspec.complexity.memory import memory
    from archspec.plan.expand import spec_hash

    spec = api.load(name)
    plan = api.plan(spec)
    report = api.report(spec, elementwise=True)
    units = [(u.name, u.block, u.params, u.macs, u.in_channels, u.out_channels, list(u.out_size)) for u in plan.units]
    m1, m8 = memory(plan, batch=1), memory(plan, batch=8)
    policies = {}
    for policy in POLICIES:
        try:
            policies[policy] = api.report(spec, policy=policy)["macs"]
        except Exception as exc:  # a policy that needs the built module reports its failure as data
            policies[policy] = f"error: {type(exc).__name__}"
    return {
        "sha256": spec_hash(spec, plan),
        "params": plan.params,
        "macs": plan.macs,
        "units": digest(units),
        # the report as it was: fields added since (the backbone taps, "features") are not the network
        "report": digest({k: v for k, v in report.items() if k not in ("spec", "source", "path", "features")}),
        "policies": policies,
        "train_saved_b1": m1.train_saved_bytes,
        "train_saved_b8": m8.train_saved_bytes,
        "infer_peak_b1": m1.infer_peak_bytes,
        "infer_peak_b8": m8.infer_peak_bytes,
        "unit_saved_b8": digest({k: v.train_saved_bytes for k, v in m8.units.items()}),
    }


def built(name: str) -> dict[str, Any]:
    """The module's state_dict keys and shapes (meta device: no storage)."""
    import torch

    from archspec import api
    from archspec.blocks.network import Network

    plan = api.plan(api.load(name))
    with torch.device("meta"):
        model = Network(plan, initialised=False)
    entries = sorted((k, list(v.shape)) for k, v in model.state_dict().items())  # a set: order is not the network
    out = {"state_dict": digest(entries), "tensors": len(entries)}
    if max(plan.input_size) <= 64:  # the CIFAR networks: no torchvision weights check their function
        torch.manual_seed(0)
        model = Network(plan, seed=0).eval()
        x = torch.randn(2, plan.in_channels, *plan.input_size)
        with torch.no_grad():
            out["logits"] = [round(v, 4) for v in model(x)[:, :4].flatten().tolist()]
    return out


def record() -> dict[str, Any]:
    from archspec import api

    return {name: {**analytic(name), **built(name)} for name in api.list_specs()}


if __name__ == "__main__":
    if "--add" in sys.argv:  # record only the named specs (new bundled ones), keeping every other row
        names = sys.argv[sys.argv.index("--add") + 1:]
        old = json.loads(OUT.read_text())
        old.update({name: {**analytic(name), **built(name)} for name in names})
        OUT.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
        print(f"added {', '.join(names)} to {OUT} ({len(old)} specs)")
        sys.exit(0)
    data = record()
    if "--check" in sys.argv:
        old = json.loads(OUT.read_text())
        bad = {k: [f for f in data[k] if data[k][f] != old.get(k, {}).get(f)] for k in data}
        bad = {k: v for k, v in bad.items() if v}
        print(json.dumps(bad, indent=1) if bad else f"{len(data)} specs unchanged")
        sys.exit(1 if bad else 0)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(data)} specs)")
