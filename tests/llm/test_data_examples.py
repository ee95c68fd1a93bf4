"""NodeTool's example workflows that need a language model and the feed and database node
types ("Daily Digest", "Flashcard Generator"), end to end against the local model.

The files in ``tests/data/nodetool-examples-data`` are NodeTool's own, unchanged; the
folder's README says how each run is checked. The feed is served on loopback, which
``network.allow`` lets the node reach; the SQLite database lands in the node's storage.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import TIME, serving

from llm.conftest import providers_for
from llm.test_llm_nodes import llm_config, run
from web.server import WebServer

EXAMPLES = Path(__file__).parents[1] / "data" / "nodetool-examples-data"
EXAMPLE_TIMEOUT = 300 * TIME


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@pytest.fixture
async def node(tmp_path, llama):
    cfg = llm_config(tmp_path, llama, providers=providers_for(llama, max_output_tokens=400),
                     network={"allow": ["127.0.0.1"]})
    async with serving(cfg) as (op, client):
        yield op


async def test_daily_digest_summarizes_a_loopback_feed(node):
    """The feed's items reach the summarizer and the summary reaches the digest output."""
    workflow = example("Daily Digest")
    with WebServer() as web:
        r = await run(node, workflow["graph"], {"feed_url": f"{web.url}/feed.xml"},
                      timeout=EXAMPLE_TIMEOUT)
        assert [p for m, p, _ in web.requests] == ["/feed.xml"]
    assert r.ok, r.answer.get("error")
    digests = r.outputs["digest"]
    assert isinstance(digests, list) and digests, digests
    digest = digests[-1]
    assert isinstance(digest, str) and digest.strip()
    job = await node.call("get_job", {"job_id": r.answer["result"]["job_id"]})
    assert job["result"]["status"] == "completed"


async def test_flashcard_generator_stores_the_generated_rows(node, tmp_path):
    """Every row the model generates is inserted into flashcards.db in the node's storage."""
    g = copy.deepcopy(example("Flashcard Generator")["graph"])
    # Observe what the generator produced, beside the file's own nodes.
    g["nodes"].append({"id": "generated", "type": "nodetool.output.Output",
                       "data": {"name": "generated"}})
    g["edges"].append({"source": "generate_flashcards", "sourceHandle": "dataframe",
                       "target": "generated", "targetHandle": "value"})
    r = await run(node, g, timeout=EXAMPLE_TIMEOUT)
    assert r.ok, r.answer.get("error")
    generated = r.outputs["generated"]
    assert isinstance(generated, list) and generated, generated
    frame = generated[-1]
    with sqlite3.connect(tmp_path / "storage" / "sqlite" / "flashcards.db") as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(study_cards)")]
        stored = conn.execute("SELECT question, answer, category FROM study_cards ORDER BY id").fetchall()
    assert columns == ["id", "question", "answer", "category"]
    assert len(stored) == len(frame["data"]) > 0
