"""Interop tests against a real OpenClaw gateway (installed by scripts/install-openclaw.sh)."""
