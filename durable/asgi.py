"""The ASGI lifespan handshake, shared by every ASGI app in the project (server, SDK, UI, the
kit's and tests' fake peers): answer startup and shutdown, run an optional hook on shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

# loose on purpose: each app types its ASGI messages its own way (dict, MutableMapping, ...)
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


async def serve_lifespan(receive: Receive, send: Send, on_shutdown: Callable[[], None] | None = None) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
