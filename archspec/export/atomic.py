"""The atomic-file helper's former home, kept so existing imports still work.

The helper lives in :mod:`archspec.files`, below every stage, so that spec, diagram,
space and export may all write atomically without importing each other.
"""

from ..files import Batch, WholeWrites, check_target, remove_stale, staged, staging_pattern, write_bytes, write_text

__all__ = ["Batch", "WholeWrites", "check_target", "remove_stale", "staged", "staging_pattern", "write_bytes",
           "write_text"]
