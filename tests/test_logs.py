"""Log output: one line per event, text or JSON, secrets masked."""

from __future__ import annotations

import io
import json
import logging

import pytest

from nodetool_gateway.logs import setup_logging


@pytest.fixture
def stream():
    out = io.StringIO()
    yield out
    root = logging.getLogger()
    for h in [h for h in root.handlers if h.get_name() == "nodetool-gateway"]:
        root.removeHandler(h)
    logging.getLogger("nodetool").setLevel(logging.NOTSET)


def test_json_format_one_object_per_line(stream):
    """logging.format json writes one JSON object per line, the secret masked."""
    setup_logging("INFO", "json", ["hunter2"], stream=stream)
    log = logging.getLogger("nodetool.gateway.client")
    log.info("registered as %s", "n1")
    log.debug("not at INFO")
    try:
        raise ValueError("bad hunter2")
    except ValueError:
        log.warning("handler failed", exc_info=True)
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert [e["message"] for e in entries] == ["registered as n1", "handler failed"]
    assert entries[0]["level"] == "INFO" and entries[0]["logger"] == "nodetool.gateway.client"
    assert entries[0]["time"].endswith("Z")
    assert "ValueError: bad **********" in entries[1]["exception"]
    assert "hunter2" not in stream.getvalue()


def test_text_format_and_reconfigure(stream):
    """Text lines carry time, level and logger; a second setup (a reload) updates in place."""
    setup_logging("INFO", "text", [], stream=stream)
    setup_logging("WARNING", "text", ["s3cret"], stream=stream)
    log = logging.getLogger("nodetool.gateway.reload")
    log.info("hidden at WARNING")
    log.error("reload failed: token s3cret")
    text = stream.getvalue()
    assert "hidden" not in text
    assert "ERROR   nodetool.gateway.reload: reload failed: token **********" in text
    assert len([h for h in logging.getLogger().handlers if h.get_name() == "nodetool-gateway"]) == 1
