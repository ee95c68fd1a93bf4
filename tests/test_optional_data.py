"""A node without the ``data`` extra: its table types are known, and validation names the extra.

The install without pandas is real: a site-packages folder of links to this venv's
packages, less pandas, with the node started on it in its own process.
"""

from __future__ import annotations


from conftest import TIME
from test_optional_extras import node_on, site_lacking


GRAPH = {"nodes": [
    {"id": "imp", "type": "nodetool.data.ImportCSV", "data": {"csv_data": "a,b\n1,2\n"}},
    {"id": "o", "type": "nodetool.output.Output", "data": {"name": "table"}}],
    "edges": [{"source": "imp", "sourceHandle": "output", "target": "o", "targetHandle": "value"}]}


async def test_table_types_name_the_extra_without_pandas(tmp_path):
    """Without pandas, validating or running a table workflow is an error naming the data extra."""
    async with node_on(site_lacking(tmp_path, "pandas"), tmp_path, "no-pandas") as (_, op):
        info = await op.call("get_node_info", {"node_type": "nodetool.data.ImportCSV"},
                             node_id="no-pandas", timeout=30 * TIME)
        checked = await op.call("validate_workflow", {"graph": GRAPH}, node_id="no-pandas",
                                timeout=30 * TIME)
        ran = await op.call("run_workflow", {"graph": GRAPH}, node_id="no-pandas",
                            timeout=30 * TIME)
    assert info["status"] == "success", info
    assert checked["status"] == "success" and checked["result"]["valid"] is False, checked
    errors = " ".join(checked["result"]["errors"])
    assert "imp" in errors and "pip install 'nodetool-gateway[data]'" in errors
    assert ran["status"] == "error" and "pip install 'nodetool-gateway[data]'" in ran["error"], ran
