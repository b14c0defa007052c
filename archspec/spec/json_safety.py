"""Read untrusted JSON (metrics files, results and index lines, latency tables) without a traceback.

``json.loads`` recurses once per nesting level and raises ``RecursionError`` (not a
``ValueError``) on ``[[[[...]]]]`` a thousand levels deep, a 4 KB file; every caller catches
``json.JSONDecodeError`` for a bad file, so :func:`loads` turns the one into the other.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """``json.loads``; nesting too deep for it is a ``json.JSONDecodeError`` saying so."""
    try:
        return json.loads(text)
    except RecursionError:
        doc = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
        raise json.JSONDecodeError("nested too deeply to be read (a thousand levels or more)", doc, 0) from None
