"""Protocol codecs: frames <-> requests and answers, with no socket inside.

The session owns the socket; a codec only turns text into :class:`Request`
objects and answers into text. Handlers never see which codec carried a request.
"""

from __future__ import annotations

from ._base import (Answer, Control, HandshakeRejected, Offer, Protocol, ProtocolError, Request,
                    utc_now)

__all__ = ["Answer", "Control", "HandshakeRejected", "Offer", "Protocol", "ProtocolError",
           "Request", "utc_now", "protocol_for", "check_protocol"]


_KNOWN = ("nodetool", "openclaw")


def check_protocol(protocol: str) -> None:
    """Raise FatalError for a protocol this version cannot speak."""
    if protocol not in _KNOWN:
        from ..errors import FatalError

        raise FatalError(f"gateway.protocol {protocol!r} is not supported; use one of {_KNOWN}")


def protocol_for(config, **context) -> Protocol:
    """A fresh protocol object for one connection, from the config.

    ``context`` carries what a protocol needs beyond the config (e.g. OpenClaw's
    device identity).
    """
    check_protocol(config.gateway.protocol)
    if config.gateway.protocol == "openclaw":
        from .openclaw import OpenClawProtocol

        return OpenClawProtocol.from_config(config, **context)
    from .nodetool import NodeToolProtocol

    gw = config.gateway
    return NodeToolProtocol(token=gw.token(), heartbeat_interval=config.heartbeat.interval,
                            query_param=gw.auth.query_param)
