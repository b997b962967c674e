"""A tiny asyncio HTTP/1.1 server (h11) for the fuzzer's own endpoints (the effect ledger).

Why not hypercorn: the ledger must stay up while the system under test is killed and restarted
around it, inside the fuzzer's event loop, with no extra process and no ASGI machinery whose
own behaviour could blur what the ledger records.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import h11

Handler = Callable[[str, str, bytes], Awaitable[tuple[int, bytes]]]
MAX_BODY = 16 * 1024 * 1024


async def _serve_conn(handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is not h11.SEND_BODY:
                    return
                continue
            if isinstance(event, h11.Request):
                body = bytearray()
                while True:
                    ev = conn.next_event()
                    if ev is h11.NEED_DATA:
                        data = await reader.read(65536)
                        if not data:
                            return
                        conn.receive_data(data)
                    elif isinstance(ev, h11.Data):
                        body += ev.data
                        if len(body) > MAX_BODY:
                            return
                    elif isinstance(ev, h11.EndOfMessage):
                        break
                    else:
                        return
                status, payload = await handler(event.method.decode(), event.target.decode(), bytes(body))
                headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
                writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
                writer.write(conn.send(h11.Data(data=payload)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
            else:
                return
    except (h11.RemoteProtocolError, h11.LocalProtocolError, ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def start(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Start serving; ``port=0`` picks a free port (read it from ``server.sockets``)."""
    return await asyncio.start_server(lambda r, w: _serve_conn(handler, r, w), host, port)


def bound_port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port
