"""The node library: NodeTool's core namespaces and its language-model nodes, under
NodeTool's own type names."""

# Modules whose node types the default registry loads, in order.
MODULES = [
    "nodetool_gateway.engine.library.input",
    "nodetool_gateway.engine.library.output",
    "nodetool_gateway.engine.library.constant",
    "nodetool_gateway.engine.library.text",
    "nodetool_gateway.engine.library.boolean",
    "nodetool_gateway.engine.library.math",
    "nodetool_gateway.engine.library.numbers",
    "nodetool_gateway.engine.library.list",
    "nodetool_gateway.engine.library.dictionary",
    "nodetool_gateway.engine.library.data",
    "nodetool_gateway.engine.library.json",
    "nodetool_gateway.engine.library.control",
    "nodetool_gateway.engine.library.code",
    "nodetool_gateway.engine.library.base_node",
    "nodetool_gateway.engine.library.agents",
    "nodetool_gateway.engine.library.generators",
    "nodetool_gateway.engine.library.llms",
    "nodetool_gateway.engine.library.anthropic_agents",
    "nodetool_gateway.engine.library.files",
    "nodetool_gateway.engine.library.lib_os",
    "nodetool_gateway.engine.library.sqlite",
    "nodetool_gateway.engine.library.http",
    "nodetool_gateway.engine.library.rss",
    "nodetool_gateway.engine.library.markdown",
    "nodetool_gateway.engine.library.pymupdf",
    "nodetool_gateway.engine.library.beautifulsoup",
]
