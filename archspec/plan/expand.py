"""The fully resolved spec: every default filled in, every unit count and width explicit.

``expand`` rewrites a spec so that nothing is derived any more: ``depth`` becomes
``units`` on every stage, the widening rule becomes ``explicit`` per-unit widths
(stage ``width`` overrides folded in; the stages a ``regnet`` rule derives written out), and compound ``scaling`` is applied and dropped:
the stem width, unit counts, per-unit widths, MobileNetV3's table rows and a head's fixed
width (by its ``width_scaling`` rule, which goes too) are the scaled, rounded ones (the
rounding stays visible in the original spec's report). The result validates to a
network identical to the original, unit for unit. Its canonical JSON (sorted keys, no whitespace)
is hashed, so two specs that resolve to the same thing share a hash however they
were written (``extends``, ``--set``, defaults left out or spelled out).

The counts and widths are read from the spec's Plan (each Unit records the width its
widening rule gave it), so expand cannot drift from what the planner does. Callers that
already hold the Plan pass it; otherwise it is planned at the spec's own input size.
"""

from __future__ import annotations

from typing import Any

from ..spec.expand import canonical_hash, expanded_yaml
from ..spec.models import Spec, StageSpec
from ..spec.plugins import origin as plugin_origin
from ..spec.user_blocks import find_definition, param_values, user_blocks
from .planner import make_plan
from .scaling import HEAD_WIDTHS, scaled_head, scaled_rows
from .types import Plan


def expand(spec: Spec, plan: Plan | None = None) -> dict[str, Any]:
    """The spec as plain data with scaling applied, unit counts and per-unit widths written out."""
    plan = make_plan(spec) if plan is None else plan
    data = spec.model_dump(mode="json", exclude_none=True)
    data.pop("scaling", None)
    preset = spec.init.preset or (plan.init.preset if plan.init is not None else None)
    data["init"] = {**data.get("init", {}), "preset": preset}
    if spec.stem.type == "conv":  # the scaled, rounded stem width
        data["stem"]["width"] = plan.stem.width
    field, rule = HEAD_WIDTHS.get(spec.head.type, (None, None))
    if field is not None:  # the head's fixed width as its rule scaled it; the rule has done its work
        data["head"] = {k: v for k, v in scaled_head(spec.head, spec.scaling)[0].model_dump(
            mode="json", exclude_none=True).items() if k != rule}
    body = data["body"]
    for part in (body, *body.get("stages", ())):  # MobileNetV3's rows at the scaled widths
        if part.get("block", {}).get("type") == "bneck":
            part["block"]["layers"] = [list(row) for row in scaled_rows(part["block"]["layers"], spec.scaling)[0]]
    body.pop("depth", None)
    if not body.get("stages"):  # a rule that derives the stages (regnet): write the ones it gave
        body["stages"] = [{"stride": s.units[0].stride} for s in plan.stages]
    if spec.body.widening is not None:  # dense and inception bodies derive their widths from the block
        body["widening"] = {"rule": "explicit", "widths": [[u.width for u in s.block_units] for s in plan.stages]}
    for stage, planned in zip(body["stages"], plan.stages):
        stage["units"] = len(planned.block_units)
        if spec.body.widening is not None:  # the explicit widths above hold it; with no rule, the stage's is all
            stage.pop("width", None)
    _inline_user_blocks(spec, data)
    order = list(StageSpec.model_fields)  # `units` where the language puts it, so expand is a fixed point
    body["stages"] = [dict(sorted(stage.items(), key=lambda kv: order.index(kv[0]))) for stage in body["stages"]]
    return data


def _inline_user_blocks(spec: Spec, data: dict[str, Any]) -> None:
    """User blocks with every parameter written out, and their definitions inline under ``blocks:``
    (block files and bundled ones alike), so the expanded spec stands alone and its sha256 covers them.
    A Python plugin's block is written with every field, its module under ``plugins:``."""
    uses = user_blocks(spec)
    if not uses:
        data.pop("blocks", None)
        return
    inline: dict[str, Any] = {}
    modules = list(data.get("plugins", ()))
    for path, block in uses:
        if block.plugin is not None:  # a Python plugin's block: every field, and the module that defines it
            node = data
            for part in path:
                node = node[part]
            node.update(block.plugin.model_dump(mode="json", exclude={"type"}, exclude_none=True))
            module = plugin_origin(block.type)
            if module is not None and module not in modules:
                modules.append(module)
            continue
        definition = find_definition(block)
        if definition is None:  # planning refused it already
            continue
        node = data
        for part in path:
            node = node[part]
        values = param_values(block, definition)  # in the definition's order, whatever order the spec wrote
        node.clear()
        node.update({"type": block.type, **values})
        inline.update((name, sub.data()) for name, sub in definition.closure().items())  # every block it uses
        inline[block.type] = definition.data()
    if inline:
        data["blocks"] = inline
    else:
        data.pop("blocks", None)
    if modules:
        data["plugins"] = modules


def spec_hash(spec: Spec, plan: Plan | None = None) -> str:
    """sha256 of the expanded spec's canonical JSON: the identity the exports record."""
    return canonical_hash(expand(spec, plan))


def canonical_yaml(spec: Spec, plan: Plan | None = None) -> str:
    """The expanded spec as YAML (fields in the language's order, lists of numbers inline)."""
    data = expand(spec, plan)
    return expanded_yaml(data, canonical_hash(data))
