"""Conformance kit for the Cloud's webhook receivers.

PYTEST_DONT_REWRITE: the package is imported before pytest starts when the command line runs the suite,
and nothing in it relies on assertion rewriting.
"""

__version__ = "0.1.0"
