"""Regenerate docs/archspec.schema.json and docs/spec-reference.md from the spec models.

Run after changing anything in archspec/spec/ (tests/test_authoring.py fails when the
checked-in copies are stale):

    PYTHONPATH=$PWD python scripts/gen_spec_reference.py
"""

from __future__ import annotations

from pathlib import Path

from archspec.spec.schema import write_docs

if __name__ == "__main__":
    for path in write_docs(Path(__file__).resolve().parent.parent / "docs"):
        print(f"wrote {path}")
