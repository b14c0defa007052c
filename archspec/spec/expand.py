"""The expanded spec's text forms: canonical JSON (what is hashed) and YAML.

Expanding itself (unit counts and per-unit widths read from the Plan) happens in
:mod:`archspec.plan.expand`; this module only writes plain spec data out, so the spec
stage needs nothing from the planner.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from .yaml_safety import yaml12


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_hash(data: Any) -> str:
    """sha256 of the canonical JSON of expanded spec data: the spec's identity."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def expanded_yaml(data: dict[str, Any], sha256: str) -> str:
    """YAML of already expanded data whose hash is known.

    The same text as ``yaml.safe_dump(..., sort_keys=False, default_flow_style=None)``, made
    faster for a sampler writing thousands of specs: the node tree is built here directly
    (PyYAML's representer dispatches on every value in Python) and emitted by libyaml.
    """
    head = f"# {data['name']}, fully resolved by `archspec expand`\n# spec-sha256: {sha256}\n"
    return head + yaml.serialize(_node(_tags_first(data)), Dumper=_DUMPER, width=100, allow_unicode=True)


_DUMPER = yaml12(getattr(yaml, "CSafeDumper", yaml.SafeDumper))  # quotes "1e5": the loader reads YAML 1.2
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
