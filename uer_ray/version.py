"""The package version (one module, so that records can stamp it without importing the package's
top level)."""

__version__ = "0.1.0"
