"""The protocol and session tests once more with the standard json module.

The test extra installs orjson (chromadb needs it), and the node's codec prefers it,
so without this the JSON path of a plain ``pip install nodetool-gateway`` would never
be tested. This runs those test files in a fresh pytest with orjson hidden
(``NODETOOL_GATEWAY_TEST_JSON=stdlib``, see conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FILES = ["test_protocol_limits.py", "test_openclaw_codec.py", "test_session.py",
         "test_delivery.py", "test_seed_api.py", "test_update_limits.py",
         "test_gateway_stall.py", "test_remote_text.py"]


@pytest.mark.timeout(300)
@pytest.mark.skipif(os.environ.get("NODETOOL_GATEWAY_TEST_JSON") == "stdlib",
                    reason="already running on the standard json module")
def test_protocol_and_session_tests_pass_on_the_standard_json_module():
    env = {**os.environ, "NODETOOL_GATEWAY_TEST_JSON": "stdlib"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FILES],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=290)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
