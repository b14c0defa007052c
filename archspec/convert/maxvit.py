"""torchvision's naming of MaxViT (``torchvision.models.maxvit``, maxvit_t).

The stem is ``stem.0`` (conv, BN) and ``stem.1`` (conv with a bias); unit ``j`` of stage ``s`` is
``blocks.<s>.layers.<j>.layers`` with ``MBconv`` (``proj`` the shortcut: ``proj.0`` the conv, or
``proj.1`` after the strided average pool; ``layers.pre_norm``, ``layers.conv_a``, ``layers.conv_b``,
``layers.squeeze_excitation``, ``layers.conv_c``), ``window_attention`` and ``grid_attention``
(``attn_layer.0`` the LayerNorm, ``attn_layer.1`` the attention with ``to_qkv``, ``merge`` and the
``relative_position_bias_table``; ``mlp_layer.0``, ``.1``, ``.3``); the head is ``classifier.2``
(LayerNorm), ``classifier.3`` and ``classifier.5``. torchvision also stores each attention's
``relative_position_index``, a fixed function of the partition size that archspec's module
rebuilds (a buffer outside its state_dict): those are dropped.
"""

from __future__ import annotations

from ..plan.types import Plan, Unit
from .rules import Family, LayerNames, register_rule, require

FIXED = "fixed index: "  # torchvision's relative_position_index buffers, renamed under this prefix and dropped
STEM = {"conv1.conv": "stem.0.0", "conv1.bn": "stem.0.1", "conv2.conv": "stem.1.0"}
MBCONV = {"pre_norm": "pre_norm", "conv_a.0": "conv_a.0", "conv_a.1": "conv_a.1", "conv_b.0": "conv_b.0",
          "conv_b.1": "conv_b.1", "se.fc1": "squeeze_excitation.fc1", "se.fc2": "squeeze_excitation.fc2",
          "conv_c": "conv_c"}
ATTENTION = {"norm": "attn_layer.0", "attn.to_qkv": "attn_layer.1.to_qkv", "attn.relative_position": "attn_layer.1",
             "attn.merge": "attn_layer.1.merge", "mlp.0": "mlp_layer.0", "mlp.1": "mlp_layer.1", "mlp.3": "mlp_layer.3"}


def maxvit_stem(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "stem_layers" and [op.path for op in unit.ops] == list(STEM), "maxvit",
            "the stem is a conv with BN and a conv with a bias (stem: {type: layers, layers: [conv, conv norm: none]})")
    return STEM


def maxvit_head(unit: Unit, plan: Plan) -> LayerNames:
    require(unit, unit.block == "prelogits_classifier", "maxvit",
            "the head is pool, LayerNorm, Linear, Tanh, Linear (head: {type: prelogits_classifier})")
    return {"norm": "classifier.2", "pre_logits": "classifier.3", "fc": "classifier.5"}


def fixed_index(name: str) -> str:
    """A ``relative_position_index`` buffer goes under :data:`FIXED` (dropped); every other name is kept."""
    return f"{FIXED}{name}" if name.endswith(".relative_position_index") else name


MAXVIT = Family("maxvit", stem=maxvit_stem, head=maxvit_head, ignore=(FIXED,), rename=fixed_index)


@register_rule("maxvit", family=MAXVIT)
def maxvit_unit(unit: Unit, plan: Plan) -> LayerNames:
    prefix = f"blocks.{unit.stage}.layers.{unit.index}.layers"
    names = {f"mbconv.{ours}": f"{prefix}.MBconv.layers.{theirs}" for ours, theirs in MBCONV.items()}
    names["mbconv.shortcut.conv"] = f"{prefix}.MBconv.proj.{1 if unit.stride == 2 else 0}"
    for part, module in (("window", "window_attention"), ("grid", "grid_attention")):
        names.update({f"{part}.{ours}": f"{prefix}.{module}.{theirs}" for ours, theirs in ATTENTION.items()})
    return names
