"""The TinyLSM checker: grades each day, runs the mutant catalogue, keeps stubs in sync."""

__version__ = "0.1.0"
