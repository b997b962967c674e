"""Ingress basics: call and send paths, headers, raw bodies, error answers (spec/05)."""

from __future__ import annotations

import asyncio
import os

import httpx

from ..context import CaseContext
from ..model import Strength, WireEntry
from ..registry import case


@case("ING-001", "call a service handler returns its JSON output", requirements=["ING-CALL-1", "TS-UTILS-1"])
async def call_echo(t: CaseContext) -> None:
    out = await t.call_ok("TestUtilsService", "echo", {"hello": [1, 2, 3]})
    t.must_eq(out, {"hello": [1, 2, 3]}, "echo output")


@case("ING-002", "a call answer carries x-restate-id with an inv_ id", requirements=["ING-CALL-2"])
async def call_id_header(t: CaseContext) -> None:
    r = await t.call("TestUtilsService", "echo", 1)
    t.must(r.status_code == 200 and r.json() == 1, f"status {r.status_code}, body {r.text[:100]}")
    inv = r.headers.get("x-restate-id", "")
    t.must(inv.startswith("inv_"), f"x-restate-id missing or malformed: {inv!r}")


@case("ING-003", "send answers 202 with invocationId and status Accepted", requirements=["ING-SEND-1"])
async def send_accepted(t: CaseContext) -> None:
    r = await t.send("TestUtilsService", "echo", "x")
    t.must_eq(r.status_code, 202, "send status")
    body = r.json()
    t.must(str(body.get("invocationId", "")).startswith("inv_"), f"invocationId: {body}")
    t.must_eq(body.get("status"), "Accepted", "send status field")
    t.should(r.headers.get("x-restate-id") == body.get("invocationId"), "x-restate-id should equal invocationId")


@case("ING-004", "a sent invocation runs (its effect becomes visible)", requirements=["ING-SEND-2", "TS-COUNTER-1"])
async def send_runs(t: CaseContext) -> None:
    key = t.uid()
    await t.send_ok("Counter", "add", 5, key=key)

    async def get() -> object:
        return await t.call_ok("Counter", "get", key=key)

    await t.eventually(get, lambda v: v == 5, 15, "Counter after a sent add(5)")


@case("ING-005", "legacy path /{svc}/{handler} calls the handler", requirements=["ING-LEGACY-1"],
      capabilities=["ingress.legacy_paths"])
async def legacy_call(t: CaseContext) -> None:
    r = await t.call("TestUtilsService", "echo", "legacy", legacy=True)
    t.must_eq(r.status_code, 200, "legacy call status")
    t.must_eq(r.json(), "legacy", "legacy call output")


@case("ING-006", "legacy path /{svc}/{key}/{handler}/send sends", requirements=["ING-LEGACY-1"],
      capabilities=["ingress.legacy_paths"])
async def legacy_send(t: CaseContext) -> None:
    key = t.uid()
    r = await t.send("Counter", "add", 2, key=key, legacy=True)
    t.must_eq(r.status_code, 202, "legacy send status")

    async def get() -> object:
        return await t.call_ok("Counter", "get", key=key)

    await t.eventually(get, lambda v: v == 2, 15, "Counter after legacy send")


@case("ING-007", "unknown service answers 404 with a JSON error", requirements=["ING-ERR-404", "ERR-JSON-1"])
async def unknown_service(t: CaseContext) -> None:
    r = await t.call("NoSuchService", "echo", 1)
    t.must_eq(r.status_code, 404, "status for an unknown service")
    t.should("message" in r.json(), "error body should be JSON with a message")


@case("ING-008", "unknown handler answers 404", requirements=["ING-ERR-404"])
async def unknown_handler(t: CaseContext) -> None:
    r = await t.call("TestUtilsService", "noSuchHandler", 1)
    t.must_eq(r.status_code, 404, "status for an unknown handler")


@case("ING-009", "unsupported HTTP method on an invocation path answers 405", requirements=["ING-ERR-405"])
async def bad_method(t: CaseContext) -> None:
    r = await t.http.put(f"{t.target.ingress}/restate/call/TestUtilsService/echo", json=1)
    t.must_eq(r.status_code, 405, "PUT status")


@case("ING-010", "raw bytes round-trip unchanged (octet-stream handler)", requirements=["ING-CALL-3", "TS-UTILS-2"])
async def raw_bytes(t: CaseContext) -> None:
    data = os.urandom(100)
    r = await t.call("TestUtilsService", "rawEcho", raw=data)
    t.must_eq(r.status_code, 200, "rawEcho status")
    t.must(r.content == data, f"bytes differ: sent {data.hex()}, got {r.content.hex()}")


@case("ING-011", "request headers reach the handler", requirements=["ING-HDR-1", "TS-UTILS-3"])
async def headers_forwarded(t: CaseContext) -> None:
    out = await t.call_ok("TestUtilsService", "echoHeaders", headers={"x-conformance-test": "hello"})
    t.must(isinstance(out, dict), f"echoHeaders answered {out!r}")
    t.must_eq(out.get("x-conformance-test"), "hello", "forwarded header")


@case("ING-012", "a JSON string input and output (uppercaseEcho)", requirements=["ING-CALL-1", "TS-UTILS-1"])
async def uppercase(t: CaseContext) -> None:
    t.must_eq(await t.call_ok("TestUtilsService", "uppercaseEcho", "abc é"), "ABC É", "uppercaseEcho")


@case("ING-013", "JSON null, numbers and nested values round-trip", requirements=["ING-CALL-1"])
async def json_values(t: CaseContext) -> None:
    values: list[object] = [None, 0, -1.5, True, "", [], {}, {"a": [None, {"b": "c"}]}]
    for v in values:
        t.must_eq(await t.call_ok("TestUtilsService", "echo", v), v, "echo")


@case("ING-014", "a virtual-object call without a key is refused with 4xx", requirements=["ING-ERR-400"])
async def object_without_key(t: CaseContext) -> None:
    r = await t.call("Counter", "get")
    t.must(400 <= r.status_code < 500, f"expected 4xx, got {r.status_code}")


@case("ING-015", "delay on a call (not a send) answers 400", requirements=["ING-DELAY-2"],
      capabilities=["ingress.delayed_send"])
async def delay_on_call(t: CaseContext) -> None:
    r = await t.http.post(f"{t.target.ingress}/restate/call/TestUtilsService/echo", params={"delay": "1s"}, json=1)
    t.must_eq(r.status_code, 400, "status of a call with ?delay")


@case("ING-016", "a delayed send reports executionTime", requirements=["ING-DELAY-3"],
      capabilities=["ingress.delayed_send"])
async def delayed_send_execution_time(t: CaseContext) -> None:
    r = await t.send("TestUtilsService", "echo", 1, delay="1s")
    t.must_eq(r.status_code, 202, "delayed send status")
    t.must("executionTime" in r.json(), f"no executionTime in {r.text}")


async def _oversized_post(t: CaseContext, path: str, size: int) -> int | None:
    """POST ``size`` bytes over a raw socket with ``expect: 100-continue`` (as curl does).

    A server may answer 413 from the headers alone and close the connection; an ordinary client
    then fails writing the body and never sees the status. So: send the headers, wait briefly for
    a final status or ``100 Continue``, and only then stream the body while watching for the answer.
    """
    url = httpx.URL(f"{t.target.ingress}{path}")
    host, port = url.host, url.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST {url.raw_path.decode()} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
            f"content-length: {size}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n")
    entry = WireEntry("POST", str(url), {"content-length": str(size), "expect": "100-continue"}, f"<{size} bytes>")
    t.wire.entries.append(entry)
    writer.write(head.encode())
    await writer.drain()
    line = b""
    try:
        try:
            line = await asyncio.wait_for(reader.readline(), 1.0)
        except TimeoutError:
            line = b""
        if not line or b" 100 " in line:
            while line and line not in (b"\r\n", b"\n"):  # the 100's header lines up to the blank line
                line = await asyncio.wait_for(reader.readline(), 5.0)
            status_line = asyncio.ensure_future(reader.readline())
            chunk, sent = b"a" * 65536, 0
            try:
                while sent < size and not status_line.done():
                    n = min(len(chunk), size - sent)
                    writer.write(chunk[:n])
                    await writer.drain()
                    sent += n
            except OSError:
                pass
            try:
                line = await asyncio.wait_for(status_line, 30)
            except OSError as exc:
                t.note(f"connection closed without a readable HTTP status after {sent} body bytes ({exc})")
                return None
    finally:
        writer.close()
    parts = line.decode("latin-1").split()
    entry.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    entry.response_body = line.decode("latin-1").strip()
    if entry.status is None:
        raise t.fail(f"no HTTP status line: {line!r}")
    return entry.status


@case("ING-017", "a body over 32 MiB is refused (413, or the connection is cut before any answer)",
      requirements=["ING-ERR-413"], capabilities=["ingress.body_limit"], timeout_s=60)
async def body_limit(t: CaseContext) -> None:
    status = await _oversized_post(t, "/restate/call/TestUtilsService/echo", 33 * 1024 * 1024)
    t.must(status in (413, None), f"status for a 33 MiB body: {status}")


@case("ING-020", "an over-limit Content-Length is answered 413 before the body is read", requirements=["ING-ERR-413"],
      capabilities=["ingress.body_limit"], strength=Strength.SHOULD, timeout_s=60)
async def body_limit_early(t: CaseContext) -> None:
    """With ``expect: 100-continue`` a client must be able to read the 413: a server that
    first answers 100 and then cuts the connection mid-body loses the answer to a TCP reset."""
    status = await _oversized_post(t, "/restate/call/TestUtilsService/echo", 33 * 1024 * 1024)
    t.must_eq(status, 413, "status a client can read")


@case("ING-018", "an empty body reaches a no-input handler", requirements=["ING-CALL-1", "TS-UTILS-3"])
async def empty_body(t: CaseContext) -> None:
    r = await t.call("TestUtilsService", "echoHeaders")
    t.must_eq(r.status_code, 200, "status")
    t.must(isinstance(r.json(), dict), f"echoHeaders must answer an object, got {r.text[:100]}")


@case("ING-019", "a failed invocation answers a JSON error with code and message", requirements=["ERR-JSON-1", "ING-ERR-1"])
async def error_json(t: CaseContext) -> None:
    r = await t.call("Failing", "terminallyFailingCall", {"errorMessage": "boom-json"}, key=t.uid())
    t.must(r.status_code >= 400, f"status {r.status_code}")
    body = r.json()
    t.must(body.get("message") == "boom-json", f"message: {body}")
    t.must(isinstance(body.get("code"), int), f"code: {body}")
