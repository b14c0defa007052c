"""The one error every weight conversion raises: it names the tensor, the shapes and the layer."""

from __future__ import annotations


class ConversionError(ValueError):
    """A checkpoint that does not fit the compiled spec; the message is meant for the user as is."""
