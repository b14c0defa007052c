"""What every artifact records about where it came from: the spec, its hash, counts, input contract."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .._version import __version__
from ..plan.errors import PlanError
from ..plan.planner import make_plan
from ..plan.types import Plan
from ..plan.expand import canonical_yaml, spec_hash
from ..spec.models import Spec

INPUT_LAYOUT = "NCHW"


@dataclass(frozen=True)
class Provenance:
    """The spec an export was compiled from, and the seed its weights were initialised with."""

    spec: Spec
    seed: Optional[int] = None  # None: torch's default generator, not seeded by archspec

    @property
    def sha256(self) -> str:
        return spec_hash(self.spec)

    @property
    def expanded(self) -> str:
        """The expanded spec (every default and unit count written out): it rebuilds the network."""
        return canonical_yaml(self.spec)

    def smallest_input(self) -> int:
        """The smallest square input the Plan accepts (every map at least 1x1): a dynamic size's lower bound."""
        for size in range(1, max(self.spec.input.hw) + 1):
            try:
                make_plan(self.spec, (size, size))
            except PlanError:
                continue
            return size
        return max(self.spec.input.hw)

    def metadata(self, plan: Plan) -> dict[str, str]:
        """String key-value pairs for ONNX ``metadata_props`` and safetensors headers."""
        h, w = plan.input_size
        meta = {
            "archspec.version": __version__,
            "archspec.spec": plan.name,
            "archspec.spec_sha256": self.sha256,
            "archspec.seed": "unseeded" if self.seed is None else str(self.seed),
            "archspec.params": str(plan.params),
            "archspec.macs": str(plan.macs),
            "archspec.macs_input_size": f"{h}x{w}",
            "archspec.input_layout": INPUT_LAYOUT,
            "archspec.input_shape": json.dumps(["N", plan.in_channels, h, w]),
            "archspec.classes": str(plan.classes),
        }
        normalize = self.spec.input.normalize
        if normalize is not None:
            meta["archspec.input_mean"] = json.dumps(normalize.mean)
            meta["archspec.input_std"] = json.dumps(normalize.std)
        return meta
