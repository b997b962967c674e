"""The load generator: a lean asyncio HTTP/1.1 keep-alive client, bounded in count and time.

``concurrency`` workers share one list of distinct workflow keys; each takes the next key,
sends one request and records its latency (send to full response). A worker stops when the
keys run out or the batch's deadline has passed (requests already in flight finish, each
bounded by the client timeout), so a slow stack makes a batch shorter, never the run endless.
Throughput is successful workflows over the batch's wall time (first send to last response).

Why not httpx: the load generator runs on the same two cores as both stacks, so its CPU per
request is taken from whichever stack is measured. httpx (with httpcore and anyio) spent
several times the CPU per request of this client (measured in ``docs/benchmarks.md``). This
client is an ``asyncio.Protocol`` around llhttp (``httptools``, the parser the server's HTTP
layer uses too): one connection per worker, kept alive and reused; responses with a
``content-length``, ``transfer-encoding: chunked`` or (HTTP/1.0 style) read-to-close bodies;
every request bounded by a total timeout; every failure (connect, reset, timeout, malformed
response) becomes a recorded error, never a hang. Loopback only: no proxy, no TLS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson

__all__ = ["Batch", "Client", "ClientError", "Request", "Response", "make_client", "one",
           "run_batch", "signup_request"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of a batch and the body that counts as success."""

    method: str
    path: str
    json: Any = None
    expect: Any = None


@dataclass
class Batch:
    """What one batch measured."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    stopped_by_deadline: bool = False


class ClientError(Exception):
    """A request that got no complete HTTP response (connect, reset, timeout, bad framing)."""


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    content: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class _Conn(asyncio.Protocol):
    """One keep-alive connection; parses the response of the current request as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.bad: str | None = None
        self.waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.bad = f"malformed HTTP response: {exc}"
            self.close()
        if self.complete or self.bad is not None:
            self._wake()

    def eof_received(self) -> bool:
        # a response without content-length or chunked framing ends at the close
        if (self.headers_done and not self.complete and "content-length" not in self.headers
                and "transfer-encoding" not in self.headers):
            self.complete = True
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    # llhttp callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # an interim response (100 Continue): the real one follows
            self.headers, self.body, self.headers_done = {}, [], False
            return
        # asked here: once the message is complete llhttp resets, and answers False
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    # use
    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def exchange(self, data: bytes) -> Response:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ClientError("connection closed")
        self.status, self.headers, self.body = 0, {}, []
        self.headers_done = self.complete = self.keep_alive = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        while not self.complete:
            if self.bad is not None:
                raise ClientError(self.bad)
            if self.closed:
                raise ClientError("connection closed before a complete response")
            await self.waiter
            self.waiter = asyncio.get_running_loop().create_future()
        self.waiter = None
        return Response(self.status, b"".join(self.body), self.headers)

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.bad is None


class Client:
    """``async with make_client(url) as client: r = await client.post(path, json=...)``.

    A pool of keep-alive connections to one ``http://host:port``: a request takes an idle
    connection or opens one, and gives it back when the response ended cleanly, so ``n``
    concurrent workers use ``n`` connections. ``timeout_s`` bounds each whole request
    (connect, send, full response). Not for ``HEAD`` (llhttp would wait for a body)."""

    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"only http://host:port URLs: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or 80
        self.timeout_s = timeout_s
        self._prefix = url.path.rstrip("/")
        self._host_header = f"{self.host}:{self.port}".encode()
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()

    def _encode(self, method: str, path: str, body: bytes | None) -> bytes:
        head = [method.encode(), b" ", (self._prefix + path).encode(), b" HTTP/1.1\r\nhost: ",
                self._host_header, b"\r\naccept: */*\r\n"]
        if body is not None:
            head += [b"content-type: application/json\r\ncontent-length: ",
                     str(len(body)).encode(), b"\r\n\r\n", body]
        else:
            head.append(b"\r\n")
        return b"".join(head)

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Conn, self.host, self.port)
        self._all.add(conn)
        return conn

    def _take_idle(self) -> _Conn | None:
        """An idle connection the server has not closed meanwhile (keep-alive timeout)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            self._all.discard(conn)
        return None

    async def request(self, method: str, path: str, json: Any = None) -> Response:
        """Send one request; raise :class:`ClientError` when no complete response came."""
        data = self._encode(method, path, None if json is None else orjson.dumps(json))
        conn: _Conn | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                conn = self._take_idle() or await self._connect()
                response = await conn.exchange(data)
        except TimeoutError:
            raise ClientError(f"no complete response within {self.timeout_s:g} s") from None
        except OSError as exc:
            raise ClientError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if conn is not None:
                if conn.reusable():
                    self._idle.append(conn)
                else:
                    conn.close()
                    self._all.discard(conn)
        return response

    async def get(self, path: str) -> Response:
        return await self.request("GET", path)

    async def post(self, path: str, json: Any = None) -> Response:
        return await self.request("POST", path, json)


def make_client(base_url: str, timeout_s: float = 120.0) -> Client:
    return Client(base_url, timeout_s)


def signup_request(key: str) -> Request:
    """The seed's SignupWorkflow ``run`` for workflow key ``key`` (it answers ``true``)."""
    return Request("POST", f"/SignupWorkflow/{key}/run",
                   {"name": key, "email": f"{key}@example.com"}, True)


async def one(client: Client, req: Request) -> tuple[float, str | None]:
    """Send ``req``; return (latency seconds, error text or None)."""
    t0 = time.perf_counter()
    try:
        r = await client.request(req.method, req.path, req.json)
    except ClientError as exc:
        return time.perf_counter() - t0, str(exc)
    dt = time.perf_counter() - t0
    if r.status_code >= 300:
        return dt, f"{r.status_code} {r.text[:200]}"
    if req.expect is not None:
        try:
            ok = r.json() == req.expect
        except orjson.JSONDecodeError:
            ok = False
        if not ok:
            return dt, f"unexpected body {r.text[:200]}"
    return dt, None


async def run_batch(client: Client, keys: list[str], make: Callable[[str], Request],
                    concurrency: int, time_limit_s: float) -> Batch:
    """Send ``make(key)`` for each key with ``concurrency`` workers until done or out of time."""
    batch = Batch()
    todo = list(reversed(keys))
    start = time.perf_counter()
    deadline = start + time_limit_s
    last = start

    async def worker() -> None:
        nonlocal last
        while todo:
            if time.perf_counter() >= deadline:
                batch.stopped_by_deadline = True
                return
            latency, error = await one(client, make(todo.pop()))
            last = max(last, time.perf_counter())
            if error is None:
                batch.latencies_s.append(latency)
            else:
                batch.errors += 1
                if len(batch.error_samples) < 5:
                    batch.error_samples.append(error)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    batch.wall_s = last - start
    return batch

