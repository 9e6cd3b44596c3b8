"""Keyward's own code below every room: its version, errors, principal, cache and metrics."""

__version__ = "0.1.0"
