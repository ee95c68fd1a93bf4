"""Protocol codecs: frames <-> requests and answers, with no socket inside.

The session owns the socket; a codec only turns text into :class:`Request`
objects and answers into text. Handlers never see which codec carried a request.
"""

from __future__ import annotations

from ._base import Answer, Control, ProtocolError, Request, utc_now

__all__ = ["Answer", "Control", "ProtocolError", "Request", "utc_now", "codec_for"]


def codec_for(protocol: str):
    """Return the codec module for a ``gateway.protocol`` name."""
    if protocol == "nodetool":
        from . import nodetool

        return nodetool
    from ..errors import FatalError

    raise FatalError(f"gateway.protocol {protocol!r} is not supported by this version "
                     "of nodetool-gateway; use 'nodetool'")
