"""Regenerate docs/archspec.schema.json, docs/spec-reference.md and the fields columns of
docs/spec-language.md's tables from the spec models.

Run after changing anything in archspec/spec/ (tests/test_authoring.py fails when the
checked-in copies are stale):

    PYTHONPATH=$PWD python scripts/gen_spec_reference.py
"""

from __future__ import annotations

from pathlib import Path

from archspec.files import write_text
from archspec.spec.schema import LANGUAGE_FILE, updated_language_tables, write_docs

if __name__ == "__main__":
    docs = Path(__file__).resolve().parent.parent / "docs"
    for path in write_docs(docs):
        print(f"wrote {path}")
    language = docs / LANGUAGE_FILE
    if language.exists():  # a checkout has it; a folder of generated docs alone need not
        print(f"wrote {write_text(language, updated_language_tables(language.read_text()))}")
    else:
        print(f"no {language}: its tables not updated")
