"""The expanded YAML of many variants of one spec, reusing the text of the parts they share.

A sample's file is ``archspec expand``'s YAML (:func:`archspec.spec.expand.expanded_yaml`).
Its top level is a block mapping, whose text is the concatenation of its entries' texts,
each entry emitted alone at column 0. Variants of one base differ in a few top-level
entries (``body``, ``head``); the others (``name``, ``input``, ``stem``, ``init``...) are
emitted once and reused, keyed by their value's ``repr`` (exact: it keeps key order, and
tells 1 from 1.0 and True). The tests compare the text with ``expanded_yaml``'s.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..spec.expand import _DUMPER, _node, _tags_first

_MAP = "tag:yaml.org,2002:map"


class ExpandedText:
    """``expanded_yaml(data, sha256)``, with each top-level entry's text remembered by its value."""

    MAX_ENTRIES = 10_000  # a bound on memory: entries holding a real value drawn (a dropout) rarely repeat

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def __call__(self, data: dict[str, Any], sha256: str) -> str:
        head = f"# {data['name']}, fully resolved by `archspec expand`\n# spec-sha256: {sha256}\n"
        return head + "".join(self._entry(key, value) for key, value in data.items())

    def _entry(self, key: str, value: Any) -> str:
        ident = (key, repr(value))
        text = self.entries.get(ident)
        if text is None:
            node = yaml.MappingNode(_MAP, [(_node(key), _node(_tags_first(value)))], flow_style=False)
            text = yaml.serialize(node, Dumper=_DUMPER, width=100, allow_unicode=True)
            if len(self.entries) >= self.MAX_ENTRIES:
                self.entries.clear()
            self.entries[ident] = text
        return text
