"""Shared by the store tests: the time scale and where the example workflows are."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["TIME", "EXAMPLES"]

# Scale every timing in the tests (raise it on a slow machine), as tests/conftest.py does.
TIME = float(os.environ.get("NODETOOL_GATEWAY_TEST_TIME", "1"))

# NodeTool's own example workflows (plus expected.json, which is not a workflow).
EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "nodetool-examples"
