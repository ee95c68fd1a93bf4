"""The seed's custom client: a GatewayClient subclass with its own message handler.

Run it against a local gateway:

    nodetool-gateway serve --insecure-no-auth &
    GATEWAY_URL=ws://127.0.0.1:8080 python examples/custom_client.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from nodetool_gateway import GatewayClient


class CustomGatewayClient(GatewayClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Add custom handlers
        self._handlers["custom_message"] = self._handle_custom_message

    async def _handle_custom_message(self, data: dict[str, Any]):
        # Handle custom message type
        self.log.info(f"Received custom message: {data}")
        return {"echo": data.get("text")}


async def main() -> None:
    # GATEWAY_URL, GATEWAY_AUTH_TOKEN, GATEWAY_NODE_ID and GATEWAY_USER_ID fill in what is not given.
    client = CustomGatewayClient()
    await client.run()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
