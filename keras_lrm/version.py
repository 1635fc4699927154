"""The library version (one place, read by setup.py and export metadata)."""

__version__ = "0.1.0"
