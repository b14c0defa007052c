"""The compiler: Plan rows -> torch modules (imports torch; never imported by validate/report)."""

from .network import Network
from .registry import build_unit

__all__ = ["Network", "build_unit"]
