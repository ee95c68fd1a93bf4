"""Tests of the workflow engine (a package, so module names don't clash with other suites)."""
