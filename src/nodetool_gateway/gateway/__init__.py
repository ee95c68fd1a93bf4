"""The local gateway (``nodetool-gateway serve``) and its operator client (``call``).

Nodes connect to :class:`LocalGateway` on any path and register; operators connect
on ``/operator`` with :class:`OperatorClient` and send work, which the gateway routes
to a node and whose answers it relays back.

Operator → gateway frames::

    {"type": "list_nodes", "request_id"?}  ->  {"type": "nodes", "nodes": [...], "request_id"?}
    {"type": "cancel_request", "request_id"}    forwarded to the node, from its sender only
    {"type": <any other>, "node_id"?, "request_id"?, ...}       forwarded to the node

``node_id`` routes a request and is removed before the node sees it. When an
operator's connection closes, the gateway sends a ``cancel_request`` to the node
for each of its requests still pending; ``OperatorClient`` sends one itself when
a caller stops waiting (a timeout, a cancelled task).

Gateway errors::

    {"type": "error", "code", "error", "request_id"?}

with ``code`` one of ``NO_NODE``, ``NODE_DISCONNECTED``, ``TOO_LARGE``,
``NODE_ID_IN_USE``, ``NOT_FOUND`` (a cancel), ``RATE_LIMITED``, ``INVALID_MESSAGE``.
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
