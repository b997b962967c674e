"""The load generator's HTTP/1.1 client against a scripted raw-socket server on loopback.

Each connection of the fake server reads one request head (and its content-length body) at a
time and answers with the bytes a test chose: content-length, chunked, read-to-close, an
interim 100, garbage, or nothing at all (the client's timeout must end the request).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
import pytest

from benchmarks.load import ClientError, Request, make_client, one, run_batch, signup_request

Answer = Callable[[bytes, bytes], bytes | None]  # (head, body) -> bytes to write, None: hang


class FakeServer:
    def __init__(self, answer: Answer, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head, body))
                out = self.answer(head, body)
                if out is None:
                    await asyncio.sleep(3600)
                    return
                writer.write(out)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(answer: Answer, close_after: bool = False) -> AsyncIterator[tuple[str, FakeServer]]:
    fake = FakeServer(answer, close_after)
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", fake
    finally:
        server.close()


def json_answer(obj: object, status: int = 200) -> bytes:
    body = orjson.dumps(obj)
    return (f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


def chunked_answer(parts: list[bytes]) -> bytes:
    out = [b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"]
    for p in parts:
        out.append(b"%x\r\n%s\r\n" % (len(p), p))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def test_content_length_json_and_keep_alive() -> None:
    async def main() -> None:
        async with serving(lambda head, body: json_answer(orjson.loads(body))) as (url, fake), \
                make_client(url) as client:
            for i in range(5):
                r = await client.post("/Echo/x/run", json={"i": i})
                assert r.status_code == 200 and r.json() == {"i": i}
            assert fake.connections == 1  # one keep-alive connection for sequential requests
            head, body = fake.requests[0]
            assert head.startswith(b"POST /Echo/x/run HTTP/1.1\r\n")
            assert b"content-type: application/json" in head and orjson.loads(body) == {"i": 0}

    asyncio.run(main())


def test_chunked_response_and_interim_100() -> None:
    async def main() -> None:
        def answer(head: bytes, body: bytes) -> bytes:
            return b"HTTP/1.1 100 Continue\r\n\r\n" + chunked_answer([b"[1,", b"2,", b"3]"])

        async with serving(answer) as (url, _), make_client(url) as client:
            r = await client.get("/x")
            assert r.status_code == 200 and r.json() == [1, 2, 3]
            r = await client.get("/y")  # the connection is still usable after a chunked body
            assert r.json() == [1, 2, 3]

    asyncio.run(main())


def test_read_to_close_body() -> None:
    async def main() -> None:
        async with serving(lambda h, b: b"HTTP/1.0 200 OK\r\n\r\ntrue", close_after=True) as (url, fake), \
                make_client(url) as client:
            assert (await client.get("/a")).json() is True
            assert (await client.get("/b")).json() is True  # a new connection
            assert fake.connections == 2

    asyncio.run(main())


def test_failures_are_errors_never_hangs() -> None:
    async def main() -> None:
        async with serving(lambda h, b: b"NOT HTTP AT ALL\r\n\r\n") as (url, _), make_client(url) as client:
            with pytest.raises(ClientError, match="malformed"):
                await client.get("/x")
        async with serving(lambda h, b: None) as (url, _), make_client(url, timeout_s=0.3) as client:
            with pytest.raises(ClientError, match="no complete response"):
                await client.get("/x")
        async with serving(lambda h, b: b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
                           close_after=True) as (url, _), make_client(url) as client:
            with pytest.raises(ClientError, match="closed"):
                await client.get("/x")
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        async with make_client(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(ClientError):
                await client.get("/x")

    asyncio.run(main())


def test_one_checks_status_and_expected_body() -> None:
    async def main() -> None:
        answers = iter([json_answer(True), json_answer(False), json_answer({"code": 500}, 500),
                        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nnot"])
        async with serving(lambda h, b: next(answers)) as (url, _), make_client(url) as client:
            req = Request("POST", "/W/k/run", {"a": 1}, True)
            assert (await one(client, req))[1] is None
            assert "unexpected body" in str((await one(client, req))[1])
            assert str((await one(client, req))[1]).startswith("500 ")
            assert "unexpected body" in str((await one(client, req))[1])

    asyncio.run(main())


def test_run_batch_one_connection_per_worker_and_errors_recorded() -> None:
    async def main() -> None:
        def answer(head: bytes, body: bytes) -> bytes:
            key = orjson.loads(body)["name"]
            return json_answer(True) if not key.endswith("7") else json_answer({"code": 400}, 400)

        async with serving(answer) as (url, fake), make_client(url) as client:
            keys = [f"k{i}" for i in range(40)]
            batch = await run_batch(client, keys, signup_request, 4, 60.0)
            assert len(batch.latencies_s) == 36 and batch.errors == 4
            assert batch.error_samples[0].startswith("400 ")
            assert fake.connections <= 4
            assert not batch.stopped_by_deadline and batch.wall_s > 0

    asyncio.run(main())


def test_run_batch_stops_at_the_deadline() -> None:
    async def main() -> None:
        async with serving(lambda h, b: json_answer(True)) as (url, _), make_client(url) as client:
            batch = await run_batch(client, [f"k{i}" for i in range(10)], signup_request, 2, 0.0)
            assert batch.stopped_by_deadline and not batch.latencies_s

    asyncio.run(main())
