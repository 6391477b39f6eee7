"""Conformance kit for the Cloud's webhook receivers."""

__version__ = "0.1.0"
