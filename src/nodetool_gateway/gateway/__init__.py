"""The local gateway (``nodetool-gateway serve``) and its operator client (``call``).

Nodes connect to :class:`LocalGateway` on any path and register; operators connect
on ``/operator`` with :class:`OperatorClient` and send work, which the gateway routes
to a node and whose answers it relays back.

Operator → gateway frames::

    {"type": "list_nodes", "request_id"?}  ->  {"type": "nodes", "nodes": [...], "request_id"?}
    {"type": "cancel_request", "request_id", "node_id"?}        forwarded to the node
    {"type": <any other>, "node_id"?, "request_id"?, ...}       forwarded to the node

Gateway errors::

    {"type": "error", "code": "NO_NODE" | "INVALID_MESSAGE", "error", "request_id"?}
"""

from .client import GatewayError, OperatorClient, UpdateCallback
from .server import DEFAULT_PORT, LocalGateway, NodeInfo, serve_forever

__all__ = [
    "DEFAULT_PORT",
    "GatewayError",
    "LocalGateway",
    "NodeInfo",
    "OperatorClient",
    "UpdateCallback",
    "serve_forever",
]
