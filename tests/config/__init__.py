"""Tests of the config pipeline (a package, so its conftest does not shadow tests/conftest.py)."""
