"""A copy of the checkout as it is now, for tests that build or install it (sdist, wheel, pre-commit).

Building in a copy keeps build artefacts (``*.egg-info``) out of the checkout, where
parallel test workers would race on them, and ships exactly what git would: tracked and
untracked files, not the ignored ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_checkout(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True).stdout.split(b"\0")
    for rel in map(os.fsdecode, filter(None, listed)):
        source = ROOT / rel
        if source.is_symlink() or source.is_file():  # a tracked file deleted in the work tree is skipped
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel, follow_symlinks=False)  # archspec/specs stays a link
    return dest
