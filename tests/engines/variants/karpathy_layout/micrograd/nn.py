"""Imports the engine as the lecture does."""

from micrograd.engine import Value  # noqa: F401
