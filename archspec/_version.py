"""The package version, below every stage so exports can stamp it without importing the façade."""

__version__ = "0.1.0"
