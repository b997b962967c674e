"""Serve the server's ASGI apps with uvicorn's httptools (llhttp) protocol in the running loop.

Why uvicorn rather than hypercorn here: the ingress is on the path of every workflow, and a
profile at concurrency 16 had hypercorn + h11 (pure-Python parsing, one task per connection
plus a task per request, a lock per send) among the largest CPU consumers of the server. The
httptools protocol parses in C and writes straight to the transport.

What this module adds to plain uvicorn, so that the HTTP behaviour the tests and the
conformance kit check stays the same:

- a request head (request line + headers) is limited to ``MAX_HEAD_BYTES`` (hypercorn's
  ``h11_max_incomplete_size``), answered ``431`` with our JSON error; llhttp has no limit of
  its own;
- a malformed request is answered ``400`` with our JSON error (uvicorn sends text/plain);
- no signal handlers (``Server.stop`` / ``ServerThread`` / the CLI own shutdown), no access
  log, no ``server`` or ``date`` header, no proxy-header middleware, no logging config.

``100 Continue`` is sent when the app first reads the body (as before); an app that answers
without reading the body (an over-limit ``content-length``) adds ``connection: close``.

A response leaves in one write: uvicorn writes the status line and headers when the app sends
``http.response.start`` and the body in a second write, so every response was two TCP segments
and two wake-ups of a waiting client (the load generator, the fuzzer, curl). Our apps always send
the body right after the start, so :class:`_OneWrite` holds the head until the first body write
(or a close) and sends both together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, cast

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD_BYTES", "AppServer", "DurableHttpProtocol"]

MAX_HEAD_BYTES = 64 * 1024
KEEP_ALIVE_S = 75
GRACEFUL_S = 1
LINGER_S = 2.0

Asgi = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class _HeadTooLarge(Exception):
    pass


def _error_bytes(status: int, phrase: str, message: str) -> bytes:
    body = orjson.dumps({"code": status, "message": message})
    return b"".join([
        f"HTTP/1.1 {status} {phrase}\r\n".encode(),
        b"content-type: application/json\r\n",
        b"content-length: ", str(len(body)).encode(), b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ])


class _OneWrite:
    """The transport as one request/response cycle sees it: the response head (the cycle's
    first write after ``http.response.start``) is joined to the next write. Not used for HEAD,
    whose response has no body write."""

    __slots__ = ("_cycle", "_head", "_state", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head = b""
        self._state = 0  # 0: head not written yet, 1: head held, 2: head sent

    def write(self, data: bytes) -> None:
        if self._state == 0 and self._cycle.response_started:
            self._head, self._state = data, 1
            return
        if self._state == 1:
            data, self._head, self._state = self._head + data, b"", 2
        self._transport.write(data)

    def close(self) -> None:
        if self._state == 1:  # a head still held: it goes out before the close
            self._transport.write(self._head)
            self._head, self._state = b"", 2
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class DurableHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and JSON protocol errors."""

    _head_bytes = 0  # bytes of the current request head seen so far (url + headers)
    _raw_head = 0  # received bytes while a head is incomplete (bounds one huge header)
    _in_head = True  # between messages or inside a head (not inside a body)
    _completed = False  # a message completed during the current data_received
    _too_large = False
    _rejected = False  # answered 400/431: the rest of the connection's bytes are discarded

    def _reject_head(self) -> None:
        self._too_large = True
        raise _HeadTooLarge

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._reject_head()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            self._reject_head()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._raw_head = 0
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not before and cycle is not None and self.scope["method"] != "HEAD":
            cycle.transport = cast(asyncio.Transport, _OneWrite(self.transport, cycle))

    def on_message_complete(self) -> None:
        self._in_head = True
        self._completed = True
        self._raw_head = 0
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        self._completed = False
        super().data_received(data)
        # A head that is still incomplete after this chunk: llhttp buffers a header's value
        # until its end, so count raw bytes too. A chunk in which a message completed may hold
        # the end of a body: not counted (at most one chunk less strict, never a false 431).
        if self._in_head and not self._completed and not self._too_large:
            self._raw_head += len(data)
            if self._raw_head > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._too_large = True
                self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            out = _error_bytes(431, "Request Header Fields Too Large",
                               f"request head larger than {MAX_HEAD_BYTES} bytes")
        else:
            out = _error_bytes(400, "Bad Request", "malformed HTTP request")
        self._rejected = True
        self.transport.write(out)
        # A lingering close: closing with the client's bytes still unread would send a TCP
        # reset, which can destroy the answer before the client reads it. So end our side
        # (FIN after the answer), discard what still arrives, and close when the client does
        # (eof_received) or after LINGER_S.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # shutdown is ours (AppServer.stop), never a signal handler of uvicorn's


class AppServer:
    """One ASGI app on one pre-bound listening socket, served in the running loop."""

    def __init__(self, app: Asgi, sock: socket.socket) -> None:
        config = uvicorn.Config(
            app,
            http=DurableHttpProtocol,
            interface="asgi3",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=False,
            proxy_headers=False,
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=GRACEFUL_S,
            ws="none",
        )
        self._server = _Server(config)
        self._sock = sock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start serving; returns once the socket is being served (or raises what failed)."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.005)

    def request_stop(self) -> None:
        self._server.should_exit = True

    async def wait_stopped(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


class _QuietShutdown(logging.Filter):
    """Drop uvicorn's report of a request task cancelled at shutdown (a long-poll, say) and
    its warning for a malformed request (the client got our JSON 400 or 431)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return False
        return record.msg != "Invalid HTTP request received."


_uvicorn_log = logging.getLogger("uvicorn.error")
if _uvicorn_log.level == logging.NOTSET:
    _uvicorn_log.setLevel(logging.WARNING)  # not its start/stop chatter at the server's INFO
_uvicorn_log.addFilter(_QuietShutdown())

# httptools is what makes this protocol class work; import it explicitly so that a missing
# wheel fails at import time rather than at the first connection.
_ = httptools
