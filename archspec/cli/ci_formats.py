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

from ..spec.errors import MAX_PROBLEMS, Problem

CHECK_NAME = "archspec-validate"


def gitlab_issue(problem: Problem) -> dict:
    """One code-quality issue; lines are 1-based, as in the spec file (whole-file problems: line 1)."""
    description = problem.detail  # escaped and capped, as on the terminal
    where = f"{problem.where}:{problem.line}:{problem.column}:{description}"
    return {
        "description": description,
        "check_name": CHECK_NAME,
        "fingerprint": hashlib.sha256(where.encode("utf-8")).hexdigest(),
        "severity": "major",
        "location": {"path": problem.where, "lines": {"begin": problem.line or 1}},
    }


def gitlab_report(problems: Iterable[Problem]) -> str:
    """The JSON array GitLab's code-quality widget reads (``[]`` when every spec is valid)."""
    listed = list(problems)
    issues = [gitlab_issue(p) for p in listed[:MAX_PROBLEMS]]
    if len(listed) > MAX_PROBLEMS:  # the rest are counted, as on the terminal
        rest = listed[MAX_PROBLEMS]
        issues.append({**gitlab_issue(rest), "description": f"... and {len(listed) - MAX_PROBLEMS} more problems"})
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
