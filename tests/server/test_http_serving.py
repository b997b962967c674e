"""The server's HTTP layer over raw sockets (uvicorn + httptools, on uvloop and on asyncio):
keep-alive, 100-continue, body and head limits with JSON errors, malformed requests, headers.

Raw sockets because what is checked is the bytes on the wire (an interim ``100 Continue``, a
connection closed after a refused body), which an ordinary client hides.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_server.http.serve import MAX_HEAD_BYTES
from reference_server.server import ServerThread, loop_factory

LIMIT = 4096


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    data: Path = tmp_path_factory.mktemp(f"http-{request.param}")
    with ServerThread(data_dir=data, loop=request.param, max_body_bytes=LIMIT) as srv:
        yield srv


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def _read_response(s: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One content-length response from ``s`` (bytes beyond it stay in ``buf``)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {bytes(buf)!r}")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        body += chunk
    buf[:] = body[length:]
    return status, headers, bytes(body[:length])


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_serves_requests_on_one_connection(server: ServerThread) -> None:
    with _connect(server.ingress_url) as s:
        buf = bytearray()
        for _ in range(3):
            s.sendall(b"GET /restate/health HTTP/1.1\r\nhost: x\r\n\r\n")
            status, headers, body = _read_response(s, buf)
            assert status == 200 and json.loads(body)["status"] == "ok"
            assert "date" not in headers and "server" not in headers
            assert headers["content-type"] == "application/json"


def test_store_reads_answer_on_this_loop(server: ServerThread) -> None:
    """The store's reads go through an executor and back via the loop (call_soon_threadsafe)."""
    with _connect(server.admin_url) as s:
        s.sendall(b"GET /invocations HTTP/1.1\r\nhost: x\r\n\r\n")
        status, _, body = _read_response(s, bytearray())
        assert status == 200 and isinstance(json.loads(body), dict)


def test_expect_100_continue_then_the_body(server: ServerThread) -> None:
    body = b'{"uri": "ftp://nowhere"}'
    with _connect(server.admin_url) as s:
        s.sendall(b"POST /deployments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: %d\r\nexpect: 100-continue\r\n\r\n" % len(body))
        interim = s.recv(64)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        status, _, answer = _read_response(s, bytearray())
        assert status == 400 and json.loads(answer)["code"] == 400


def test_over_limit_content_length_is_413_before_the_body_and_closes(server: ServerThread) -> None:
    with _connect(server.admin_url) as s:
        s.sendall(b"POST /deployments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: %d\r\nexpect: 100-continue\r\n\r\n" % (LIMIT + 1))
        buf = bytearray()
        status, headers, body = _read_response(s, buf)
        assert status == 413 and bytes(buf) == b""  # no 100 Continue before it
        assert json.loads(body)["code"] == 413 and headers["connection"] == "close"
        assert _closed(s)


def test_over_limit_chunked_body_is_413(server: ServerThread) -> None:
    chunk = b"1" * 1000
    with _connect(server.admin_url) as s:
        s.sendall(b"POST /deployments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                  b"transfer-encoding: chunked\r\n\r\n")
        for _ in range(LIMIT // len(chunk) + 1):  # just over: the server reads it all
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, headers, body = _read_response(s, bytearray())
        assert status == 413 and json.loads(body)["code"] == 413 and headers["connection"] == "close"


def test_request_head_over_the_limit_is_431_json(server: ServerThread) -> None:
    with _connect(server.ingress_url) as s:
        s.sendall(b"GET /restate/health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (MAX_HEAD_BYTES + 10)
                  + b"\r\n\r\n")
        status, _, body = _read_response(s, bytearray())
        assert status == 431 and json.loads(body)["code"] == 431
        assert _closed(s)
    with _connect(server.ingress_url) as s:  # many headers, each small
        s.sendall(b"GET /restate/health HTTP/1.1\r\nhost: x\r\n"
                  + b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 100) for i in range(MAX_HEAD_BYTES // 100 + 10)))
        status, _, body = _read_response(s, bytearray())
        assert status == 431 and json.loads(body)["code"] == 431


def test_a_large_head_under_the_limit_is_served(server: ServerThread) -> None:
    with _connect(server.ingress_url) as s:
        s.sendall(b"GET /restate/health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (MAX_HEAD_BYTES // 2)
                  + b"\r\n\r\n")
        status, _, _ = _read_response(s, bytearray())
        assert status == 200


def test_malformed_request_is_400_json(server: ServerThread) -> None:
    with _connect(server.ingress_url) as s:
        s.sendall(b"NOT A REQUEST\r\n\r\n")
        status, _, body = _read_response(s, bytearray())
        assert status == 400 and json.loads(body)["code"] == 400


def test_unknown_event_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event loop"):
        loop_factory("trio")


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Cycle:
    response_started = False


def test_a_response_head_and_body_leave_in_one_write() -> None:
    from reference_server.http.serve import _OneWrite

    transport, cycle = _Transport(), _Cycle()
    one = _OneWrite(transport, cycle)  # type: ignore[arg-type]
    one.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: passes at once
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    one.write(b"HEAD\r\n\r\n")
    assert len(transport.writes) == 1  # held
    one.write(b"body")
    one.write(b"more")
    assert transport.writes[1:] == [b"HEAD\r\n\r\nbody", b"more"]
    assert not one.is_closing()  # everything else is the transport's


def test_a_held_head_is_written_before_a_close() -> None:
    from reference_server.http.serve import _OneWrite

    transport, cycle = _Transport(), _Cycle()
    one = _OneWrite(transport, cycle)  # type: ignore[arg-type]
    cycle.response_started = True
    one.write(b"HEAD\r\n\r\n")
    one.close()
    assert transport.writes == [b"HEAD\r\n\r\n"] and transport.closed


def test_head_requests_get_their_answer(server: ServerThread) -> None:
    with _connect(server.ingress_url) as s:
        s.sendall(b"HEAD /restate/health HTTP/1.1\r\nhost: x\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
        assert buf.startswith(b"HTTP/1.1 ")
        s.sendall(b"GET /restate/health HTTP/1.1\r\nhost: x\r\n\r\n")  # and the connection goes on
        status, _, body = _read_response(s, bytearray(buf.partition(b"\r\n\r\n")[2]))
        assert status == 200 and json.loads(body)["status"] == "ok"
