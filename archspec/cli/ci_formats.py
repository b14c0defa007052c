"""Problems in the formats CI services read: GitLab's code-quality report (JSON).

GitHub Actions annotations are one workflow command per problem and are printed as
they are found (:func:`.common.github_annotation`); GitLab reads one JSON array, the
artifact ``reports: codequality`` names, so the problems are gathered and written at
the end (https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format).
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable

from ..spec.errors import Problem

CHECK_NAME = "archspec-validate"


def gitlab_issue(problem: Problem) -> dict:
    """One code-quality issue; lines are 1-based, as in the spec file (whole-file problems: line 1)."""
    description = f"{problem.path}: {problem.message}" if problem.path else problem.message
    where = f"{problem.file}:{problem.line}:{problem.column}:{description}"
    return {
        "description": description,
        "check_name": CHECK_NAME,
        "fingerprint": hashlib.sha256(where.encode("utf-8")).hexdigest(),
        "severity": "major",
        "location": {"path": problem.file, "lines": {"begin": problem.line or 1}},
    }


def gitlab_report(problems: Iterable[Problem]) -> str:
    """The JSON array GitLab's code-quality widget reads (``[]`` when every spec is valid)."""
    return json.dumps([gitlab_issue(p) for p in problems], indent=2, ensure_ascii=False) + "\n"
