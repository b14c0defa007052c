"""The spec language (Pydantic models) and its YAML loader."""

from .loader import load, load_text, SpecError, Problem
from .models import Spec

__all__ = ["Problem", "Spec", "SpecError", "load", "load_text"]
