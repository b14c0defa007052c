"""The fully resolved spec: every default filled in, every unit count and width explicit.

``expand`` rewrites a spec so that nothing is derived any more: ``depth`` becomes
``units`` on every stage, the widening rule becomes ``explicit`` per-unit widths
(stage ``width`` overrides folded in), and compound ``scaling`` is applied and dropped:
the stem width, unit counts and per-unit widths are the scaled, rounded ones (the
rounding stays visible in the original spec's report). The result validates to a
network identical to the original, unit for unit. Its canonical JSON (sorted keys, no whitespace)
is hashed, so two specs that resolve to the same thing share a hash however they
were written (``extends``, ``--set``, defaults left out or spelled out).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from ..plan.init import family_preset
from ..plan.planner import plan_stem, stage_widths, units_per_stage
from ..plan.scaling import scaled_stem, scaled_units, scaled_width
from .models import Spec, StageSpec


def expand(spec: Spec) -> dict[str, Any]:
    """The spec as plain data with scaling applied, unit counts and per-unit widths written out."""
    scaling = spec.scaling
    stem, _ = scaled_stem(spec.stem, scaling)  # the same steps, in the same order, as make_plan
    base_counts = units_per_stage(spec)
    counts = scaled_units(base_counts, scaling)
    stem_width = plan_stem(stem, spec.input.channels, spec.input.hw).out_channels
    widths = [[scaled_width(w, scaling)[0] for w in stage] for stage in stage_widths(spec, counts, stem_width)]
    data = spec.model_dump(mode="json", exclude_none=True)
    data.pop("scaling", None)
    data["init"] = {**data.get("init", {}), "preset": spec.init.preset or family_preset(spec.body.block.type)}
    data["stem"] = stem.model_dump(mode="json", exclude_none=True)
    body = data["body"]
    body.pop("depth", None)
    if spec.body.widening is not None:  # dense and inception bodies derive their widths from the block
        body["widening"] = {"rule": "explicit", "widths": widths}
    for stage, units in zip(body["stages"], counts):
        stage["units"] = units
        stage.pop("width", None)
    order = list(StageSpec.model_fields)  # `units` where the language puts it, so expand is a fixed point
    body["stages"] = [dict(sorted(stage.items(), key=lambda kv: order.index(kv[0]))) for stage in body["stages"]]
    return data


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(spec: Spec) -> str:
    """sha256 of the expanded spec's canonical JSON: the identity the exports record."""
    return hashlib.sha256(canonical_json(expand(spec)).encode("utf-8")).hexdigest()


def canonical_yaml(spec: Spec) -> str:
    """The expanded spec as YAML (fields in the language's order, lists of numbers inline)."""
    return expanded_yaml(expand(spec), spec_hash(spec))


def expanded_yaml(data: dict[str, Any], sha256: str) -> str:
    """YAML of already expanded data whose hash is known.

    The same text as ``yaml.safe_dump(..., sort_keys=False, default_flow_style=None)``, made
    faster for a sampler writing thousands of specs: the node tree is built here directly
    (PyYAML's representer dispatches on every value in Python) and emitted by libyaml.
    """
    head = f"# {data['name']}, fully resolved by `archspec expand`\n# spec-sha256: {sha256}\n"
    return head + yaml.serialize(_node(_tags_first(data)), Dumper=_DUMPER, width=100, allow_unicode=True)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_SCALARS = yaml.SafeDumper(None)  # only its scalar representers are used (floats: `1.0e-05`, `.inf`)


def _node(value: Any) -> yaml.Node:
    """What SafeRepresenter makes of plain data with ``default_flow_style=None``: collections of
    scalars in flow style, the rest in block style."""
    if isinstance(value, dict):
        pairs = [(_node(k), _node(v)) for k, v in value.items()]
        flow = all(isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode) for k, v in pairs)
        return yaml.MappingNode("tag:yaml.org,2002:map", pairs, flow_style=flow)
    if isinstance(value, (list, tuple)):
        items = [_node(v) for v in value]
        return yaml.SequenceNode("tag:yaml.org,2002:seq", items, flow_style=all(isinstance(i, yaml.ScalarNode) for i in items))
    if isinstance(value, str):
        return yaml.ScalarNode("tag:yaml.org,2002:str", value)
    if type(value) is int:
        return yaml.ScalarNode("tag:yaml.org,2002:int", str(value))
    return _SCALARS.represent_data(value)  # bool, float, None


def _tags_first(data: Any) -> Any:
    """Put ``type``/``rule`` first in every mapping, the way people write them."""
    if isinstance(data, dict):
        keys = sorted(data, key=lambda k: k not in ("type", "rule"))
        return {k: _tags_first(data[k]) for k in keys}
    if isinstance(data, list):
        return [_tags_first(v) for v in data]
    return data
