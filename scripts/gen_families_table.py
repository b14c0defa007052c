"""Regenerate the table of torchvision builders in docs/families.md from the bundled specs.

Each row comes from a spec's ``reference:`` block (which ``validate`` checks against the
Plan, and tests/test_references.py against torchvision itself), so the table cannot drift
from the specs. tests/test_references.py fails when the checked-in table is stale:

    PYTHONPATH=$PWD python scripts/gen_families_table.py
"""

from __future__ import annotations

import re
from pathlib import Path

import archspec

DOC = Path(__file__).resolve().parent.parent / "docs" / "families.md"
START, END = "<!-- torchvision-table: start (scripts/gen_families_table.py) -->", "<!-- torchvision-table: end -->"

# Family names by builder prefix, in the order the table lists them (longest prefix first wins).
FAMILIES = (
    ("AlexNet", "alexnet"), ("VGG", "vgg"), ("ResNet", "resnet"), ("ResNeXt", "resnext"),
    ("Wide ResNet", "wide_resnet"), ("DenseNet", "densenet"), ("GoogLeNet", "googlenet"),
    ("Inception-v3", "inception_v3"), ("SqueezeNet", "squeezenet"), ("MobileNetV2", "mobilenet_v2"),
    ("MobileNetV3", "mobilenet_v3"), ("MNASNet", "mnasnet"), ("ShuffleNetV2", "shufflenet_v2"),
    ("EfficientNet", "efficientnet_b"), ("EfficientNetV2", "efficientnet_v2"), ("RegNetX", "regnet_x"),
    ("RegNetY", "regnet_y"), ("ConvNeXt", "convnext"), ("ViT", "vit_"), ("Swin", "swin_"), ("Swin V2", "swin_v2_"),
    ("MaxViT", "maxvit_"),
)


def family(builder: str) -> tuple[int, str]:
    """The builder's family (its place in FAMILIES and its name); unknown prefixes sort last."""
    matches = [(len(prefix), i, name) for i, (name, prefix) in enumerate(FAMILIES) if builder.startswith(prefix)]
    if not matches:
        return len(FAMILIES), "other"
    _, index, name = max(matches)
    return index, name


def rows() -> list[tuple[str, str, str, int, int, int]]:
    """(family, builder, spec, input size, params, MACs) of every bundled spec naming a torchvision builder."""
    found = []
    for name in archspec.list_specs():
        spec = archspec.load(name)
        ref = spec.reference
        if ref is None or ref.torchvision is None:
            continue
        order, fam = family(ref.torchvision)
        found.append(((order, ref.params or 0), (fam, ref.torchvision, name, spec.input.hw[0], ref.params, ref.macs)))
    return [row for _, row in sorted(found)]


def table() -> str:
    lines = [START, "", "| family | torchvision | spec | input | params | MACs |", "|---|---|---|---|---|---|"]
    for fam, builder, spec, size, params, macs in rows():
        lines.append(f"| {fam} | `{builder}` | `{spec}` | {size} | {params:,} | {macs:,} |")
    return "\n".join([*lines, "", f"{len(lines) - 4} builders.", "", END])


def updated(text: str) -> str:
    """``text`` with the table between the markers replaced by the current one."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC}: the markers {START!r} ... {END!r} are missing")
    return pattern.sub(lambda _: table(), text)


if __name__ == "__main__":
    DOC.write_text(updated(DOC.read_text()))
    print(f"wrote {DOC}")
