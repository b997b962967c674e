"""The server's invoke client (reference_server/invoker.py) against scripted asyncio HTTP servers
on 127.0.0.1: request/response and streaming exchanges, chunked parsing, keep-alive reuse, and
clean attempt failures on truncation, reset, timeout, bad status and bad content
(WIRE-HTTP-3/7/8/9, WIRE-NEG-1/5, WIRE-STREAM-3/4/7/13/14)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from durable.protocol import encode_frames
from durable.protocol.messages import (
    TURN_FOLLOWS_HEADER,
    EndMessage,
    InputCommand,
    OutputCommand,
    StartMessage,
    SuspensionMessage,
    Value,
)
from reference_server.invoker import Exchange, InvokeError, Invoker

CT = "application/vnd.durable.invocation.v1+ndjson"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

START = encode_frames([
    StartMessage(invocation_id="inv_1", service="S", handler="h", attempt_id="a1", journal_length=1),
    InputCommand(0, parameter=Value(1)),
])
SUSPEND = b'{"type":"suspension","awaiting":{"combinator":"first_completed","completion_ids":[1]}}\n'
OUTPUT_END = encode_frames([OutputCommand(1, result=Value(2)), EndMessage()])


def sync(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test on its own loop, bounded (no pytest plugin needed)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))

    return run


class Peer:
    """A scripted HTTP/1.1 server; ``handler`` serves each connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/base"


@asynccontextmanager
async def peer(handler: Handler) -> AsyncIterator[Peer]:
    p = Peer(handler)
    p.server = await asyncio.start_server(p._serve, "127.0.0.1", 0)
    p.port = p.server.sockets[0].getsockname()[1]
    try:
        yield p
    finally:
        p.server.close()


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
    data = await reader.readexactly(size)
    assert await reader.readexactly(2) == b"\r\n"
    if size == 0:
        return b""
    return data


def response_head(extra: str = "", status: str = "200 OK", ctype: str = CT) -> bytes:
    return f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\n{extra}\r\n".encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def exchange(inv: Invoker, p: Peer, *, streaming: bool, headers: dict[str, str] | None = None) -> Exchange:
    return inv.exchange(p.uri, "/invoke/S/h", headers or {}, CT, streaming=streaming)


@sync
async def test_request_response_exchange_and_keep_alive() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):  # bounded: at most three requests per connection
            line, headers = await read_head(reader)
            body = await reader.readexactly(int(headers["content-length"]))
            seen.append((line, headers, body))
            writer.write(response_head(f"content-length: {len(OUTPUT_END)}\r\n") + OUTPUT_END)
            await writer.drain()

    inv = Invoker()
    async with peer(handler) as p:
        for _ in range(2):
            ex = exchange(inv, p, streaming=False, headers={"x-token": "secret"})
            msgs = await ex.turn(START, 5)
            assert isinstance(msgs[-1], EndMessage) and isinstance(msgs[0], OutputCommand)
            await ex.finish()
        assert p.connections == 1  # the keep-alive connection was reused
    await inv.aclose()
    line, headers, body = seen[0]
    assert line == "POST /base/invoke/S/h HTTP/1.1"  # WIRE-HTTP-1
    assert headers["content-type"] == CT and headers["accept"] == CT  # WIRE-NEG-1
    assert headers["x-token"] == "secret"  # WIRE-HTTP-7
    assert body == START and "transfer-encoding" not in headers  # WIRE-HTTP-3: a complete body


@sync
async def test_streaming_turns_on_one_exchange() -> None:
    """WIRE-STREAM-3/4/7: chunked request, one chunk per turn, the body ends after the last turn."""
    turns: list[bytes] = []
    ended = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _line, headers = await read_head(reader)
        assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
        turns.append(await read_chunk(reader))
        # the response frames of turn 1 split byte by byte over many chunks
        writer.write(response_head("transfer-encoding: chunked\r\n"))
        for i in range(len(SUSPEND)):
            writer.write(chunk(SUSPEND[i : i + 1]))
            await writer.drain()
        turns.append(await read_chunk(reader))
        writer.write(chunk(OUTPUT_END))
        await writer.drain()
        assert await read_chunk(reader) == b""  # the zero-length chunk: the body ended
        ended.set()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client closes or the test ends

    inv = Invoker()
    async with peer(handler) as p:
        ex = exchange(inv, p, streaming=True)
        first = await ex.turn(START, 5)
        assert [type(m) for m in first] == [SuspensionMessage]
        assert ex.can_continue
        second = await ex.turn(b'{"type":"completion"}\n', 5)
        assert isinstance(second[-1], EndMessage)
        await ex.finish()
        assert ended.is_set()
    await inv.aclose()
    assert turns == [START, b'{"type":"completion"}\n']


@sync
async def test_content_length_response_in_many_reads() -> None:
    body = b"".join([OUTPUT_END[:-1]])  # without the last newline first

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _line, headers = await read_head(reader)
        await reader.readexactly(int(headers["content-length"]))
        writer.write(response_head(f"content-length: {len(OUTPUT_END)}\r\n"))
        for b in (body[:5], body[5:], b"\n"):
            writer.write(b)
            await writer.drain()

    inv = Invoker()
    async with peer(handler) as p:
        msgs = await exchange(inv, p, streaming=False).turn(START, 5)
    assert isinstance(msgs[-1], EndMessage)
    await inv.aclose()


@pytest.mark.parametrize("streaming", [False, True])
@sync
async def test_truncated_response_fails_the_attempt(streaming: bool) -> None:
    """WIRE-HTTP-9, WIRE-FRAME-3, WIRE-STREAM-13: a body that ends inside a frame or before the
    terminator is a failure; nothing of it is returned."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        if streaming:
            writer.write(response_head("transfer-encoding: chunked\r\n") + chunk(OUTPUT_END[:12]))
        else:
            writer.write(response_head(f"content-length: {len(OUTPUT_END)}\r\n") + OUTPUT_END[:12])
        await writer.drain()
        writer.close()

    inv = Invoker()
    async with peer(handler) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=streaming).turn(START, 5)
    assert err.value.code == 503 and "closed" in err.value.message
    await inv.aclose()


@sync
async def test_stream_ending_before_the_terminator_is_a_protocol_violation() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(response_head("transfer-encoding: chunked\r\n") + chunk(b'{"type":"output","index":1,"void":true}\n')
                     + b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    inv = Invoker()
    async with peer(handler) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=True).turn(START, 5)
    assert err.value.code == 571 and "before the turn's terminator" in err.value.message
    await inv.aclose()


@sync
async def test_reset_connection_fails_the_attempt() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(response_head("transfer-encoding: chunked\r\n"))
        await writer.drain()
        writer.transport.abort()  # RST

    inv = Invoker()
    async with peer(handler) as p:
        ex = exchange(inv, p, streaming=True)
        with pytest.raises(InvokeError) as err:
            await ex.turn(START, 5)
        assert err.value.code == 503
        assert not ex.can_continue  # WIRE-STREAM-13: no further turn on a failed exchange
        with pytest.raises(InvokeError):
            await ex.turn(START, 5)
    await inv.aclose()


@sync
async def test_abort_timeout_per_turn() -> None:
    """WIRE-HTTP-8: no terminator within the abort timeout fails the turn (the peer stays silent)."""
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(response_head("transfer-encoding: chunked\r\n"))
        await writer.drain()
        await release.wait()

    inv = Invoker()
    async with peer(handler) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=True).turn(START, 0.2)
        release.set()
    assert "abort timeout" in err.value.message
    await inv.aclose()


@pytest.mark.parametrize(
    ("status", "ctype", "code"),
    [("415 Unsupported Media Type", "application/json", 415), ("500 Oops", "text/plain", 500),
     ("200 OK", "application/json", 571), ("200 OK", "application/vnd.durable.invocation.v2+ndjson", 571)],
)
@sync
async def test_bad_status_or_content_type(status: str, ctype: str, code: int) -> None:
    """WIRE-HTTP-9, WIRE-NEG-5."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        body = b'{"code":415,"message":"nope"}'
        writer.write(response_head(f"content-length: {len(body)}\r\n", status, ctype) + body)
        await writer.drain()
        await reader.read()

    inv = Invoker()
    async with peer(handler) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=True).turn(START, 5)
    assert err.value.code == code
    await inv.aclose()


@sync
async def test_data_after_the_terminator_is_rejected() -> None:
    """WIRE-STREAM-14: nothing may follow a turn's terminator before the server's next turn."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(response_head("transfer-encoding: chunked\r\n") + chunk(SUSPEND + SUSPEND))
        await writer.drain()
        await reader.read()

    inv = Invoker()
    async with peer(handler) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=True).turn(START, 5)
    assert err.value.code == 571 and "after the turn's terminator" in err.value.message
    await inv.aclose()


@sync
async def test_malformed_frame_is_a_protocol_violation() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(response_head("transfer-encoding: chunked\r\n") + chunk(b"{not json\n"))
        await writer.drain()
        await reader.read()

    inv = Invoker()
    async with peer(handler) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=True).turn(START, 5)
    assert err.value.code == 571
    await inv.aclose()


@sync
async def test_a_pooled_connection_closed_by_the_peer_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _line, headers = await read_head(reader)
        await reader.readexactly(int(headers["content-length"]))
        writer.write(response_head(f"content-length: {len(OUTPUT_END)}\r\n") + OUTPUT_END)
        await writer.drain()  # then the handler returns and the connection is closed

    inv = Invoker()
    async with peer(handler) as p:
        for _ in range(3):
            ex = exchange(inv, p, streaming=False)
            conn = None
            assert isinstance((await ex.turn(START, 5))[-1], EndMessage)
            conn = ex.conn
            await ex.finish()
            for _ in range(500):  # bounded: until the client has seen the peer's close
                if conn is None or conn.closed:
                    break
                await asyncio.sleep(0.01)
        assert p.connections == 3  # a connection the peer closed while idle is never reused
    await inv.aclose()


@sync
async def test_unreachable_deployment() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    inv = Invoker()
    ex = inv.exchange(f"http://127.0.0.1:{port}", "/invoke/S/h", {}, CT, streaming=True)
    with pytest.raises(InvokeError) as err:
        await ex.turn(START, 5)
    assert err.value.code == 503 and "cannot connect" in err.value.message
    await inv.aclose()


@sync
async def test_bad_additional_header_is_a_clean_error() -> None:
    inv = Invoker()
    async with peer(lambda r, w: asyncio.sleep(0)) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=False, headers={"x-evil": "a\r\nb: c"}).turn(START, 5)
    assert err.value.code == 500
    async with peer(lambda r, w: asyncio.sleep(0)) as p:
        with pytest.raises(InvokeError) as err:
            await exchange(inv, p, streaming=False, headers={"x-snow": "\u2603"}).turn(START, 5)
    assert err.value.code == 500
    await inv.aclose()



@sync
async def test_a_large_frame_in_many_chunks() -> None:
    """A frame of several MiB arriving in small chunks is parsed once complete (WIRE-FRAME-4)."""
    big = b'{"type":"output","index":1,"value":"' + b"x" * (4 * 1024 * 1024) + b'"}\n{"type":"end"}\n'

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await read_chunk(reader)
        writer.write(response_head("transfer-encoding: chunked\r\n"))
        for i in range(0, len(big), 16384):
            writer.write(chunk(big[i : i + 16384]))
        await writer.drain()
        await reader.read()

    inv = Invoker()
    async with peer(handler) as p:
        msgs = await exchange(inv, p, streaming=True).turn(START, 30)
    assert isinstance(msgs[0], OutputCommand) and msgs[0].result == Value("x" * (4 * 1024 * 1024))
    assert isinstance(msgs[-1], EndMessage)
    await inv.aclose()


@sync
async def test_awaiting_counts_turns_in_flight_and_returns_to_zero() -> None:
    """``Invoker.awaiting`` (the group-commit hint) counts turns written whose terminator has not
    arrived: up while the peer holds its answer, back to zero after success and after failure."""
    answered = asyncio.Event()
    seen: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _line, headers = await read_head(reader)
        await reader.readexactly(int(headers["content-length"]))
        await answered.wait()
        writer.write(response_head(f"content-length: {len(OUTPUT_END)}\r\n") + OUTPUT_END)
        await writer.drain()

    inv = Invoker()
    async with peer(handler) as p:
        turns = [asyncio.ensure_future(exchange(inv, p, streaming=False).turn(START, 5)) for _ in range(2)]
        for _ in range(100):  # bounded: until both requests are written and waiting
            await asyncio.sleep(0.01)
            if inv.awaiting == 2:
                break
        seen.append(inv.awaiting)
        answered.set()
        await asyncio.gather(*turns)
        seen.append(inv.awaiting)
    refused = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = refused.sockets[0].getsockname()[1]
    refused.close()
    await refused.wait_closed()
    with pytest.raises(InvokeError):
        await inv.exchange(f"http://127.0.0.1:{port}", "/invoke/S/h", {}, CT, streaming=True).turn(START, 5)
    seen.append(inv.awaiting)
    await inv.aclose()
    assert seen == [2, 0, 0]


async def _serve_streaming(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           log: list[tuple[str, Any]], close_after_early_head: bool = False) -> None:
    """One streaming request per iteration: answer its one turn with output + end."""
    for _ in range(3):  # bounded: at most three requests per connection
        _line, headers = await read_head(reader)
        log.append(("head", headers))
        if close_after_early_head and headers.get(TURN_FOLLOWS_HEADER) == "1":
            return  # the peer goes away between the early head and the turn
        log.append(("turn", await read_chunk(reader)))
        writer.write(response_head("transfer-encoding: chunked\r\n") + chunk(OUTPUT_END))
        await writer.drain()
        assert await read_chunk(reader) == b""
        writer.write(b"0\r\n\r\n")
        await writer.drain()


@sync
async def test_an_early_head_goes_out_alone_and_the_turn_follows_on_its_connection() -> None:
    """WIRE-STREAM-16: the head, marked turn-follows, on an idle pooled connection; the first
    turn later on the same connection, as one chunk."""
    log: list[tuple[str, Any]] = []
    inv = Invoker()
    async with peer(lambda r, w: _serve_streaming(r, w, log)) as p:
        first = exchange(inv, p, streaming=True)
        assert not first.send_head_early()  # no idle connection yet: nothing sent
        await first.turn(START, 5)
        await first.finish()
        assert not exchange(inv, p, streaming=False).send_head_early()  # request/response: never
        ex = exchange(inv, p, streaming=True)
        assert ex.send_head_early()
        for _ in range(100):  # bounded: until the peer read the head
            await asyncio.sleep(0.01)
            if len(log) == 3:
                break
        assert [k for k, _ in log] == ["head", "turn", "head"]
        assert log[2][1][TURN_FOLLOWS_HEADER] == "1" and TURN_FOLLOWS_HEADER not in log[0][1]
        msgs = await ex.turn(START, 5)
        assert isinstance(msgs[-1], EndMessage)
        await ex.finish()
        assert p.connections == 1
    await inv.aclose()
    assert log[3] == ("turn", START)


@sync
async def test_an_early_head_on_a_connection_that_closed_is_sent_again_with_the_turn() -> None:
    log: list[tuple[str, Any]] = []
    inv = Invoker()
    async with peer(lambda r, w: _serve_streaming(r, w, log, close_after_early_head=True)) as p:
        first = exchange(inv, p, streaming=True)
        await first.turn(START, 5)
        await first.finish()
        ex = exchange(inv, p, streaming=True)
        assert ex.send_head_early()
        for _ in range(100):  # bounded: until the peer has closed that connection
            await asyncio.sleep(0.01)
            if ex.conn is not None and ex.conn.closed:
                break
        msgs = await ex.turn(START, 5)  # nothing of the attempt went out: a new connection
        assert isinstance(msgs[-1], EndMessage)
        await ex.finish()
        assert p.connections == 2
    await inv.aclose()
    assert [k for k, _ in log] == ["head", "turn", "head", "head", "turn"]
    assert TURN_FOLLOWS_HEADER not in log[3][1] and log[4] == ("turn", START)
