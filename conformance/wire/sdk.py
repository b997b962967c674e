"""A scripted SDK deployment: the kit plays the SDK and records what the server sends.

Each case starts one :class:`ScriptedSdk` (an ASGI app served by hypercorn on a free loopback
port), registers it through the admin API (``POST /deployments``) and scripts the answer to
every invoke request. Every request is recorded with its headers, raw body and decoded frames;
the raw body is checked against the framing rules (WIRE-FRAME-*) and every frame against
``spec/schemas`` (``validate_frames``), so every case also checks the request bodies it sees.
Service names are unique per case, so cases run side by side against one server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from durable.asgi import serve_lifespan
from durable.protocol.schemas import SchemaValidationError, validate_frames

from ..context import CaseContext

Json = Any
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CT = "application/vnd.durable.invocation.v1+ndjson"
MANIFEST_CT = "application/vnd.durable.endpointmanifest.v1+json"


# ---------------------------------------------------------------------- frames


def nd(*msgs: Json) -> bytes:
    """NDJSON body of the given messages."""
    return b"".join(json.dumps(m, separators=(",", ":")).encode() + b"\n" for m in msgs)


def output(index: int, value: Json) -> Json:
    return {"type": "output", "index": index, "value": value}


def failure_output(index: int, code: int, message: str) -> Json:
    return {"type": "output", "index": index, "failure": {"code": code, "message": message}}


END: Json = {"type": "end"}
RESUME_MISS: Json = {"type": "resume_miss"}


def error(code: int, message: str, next_retry_delay_ms: int | None = None) -> Json:
    m: Json = {"type": "error", "code": code, "message": message}
    if next_retry_delay_ms is not None:
        m["next_retry_delay_ms"] = next_retry_delay_ms
    return m


def suspension(*cids: int, signals: tuple[int, ...] = ()) -> Json:
    node: Json = {"combinator": "first_completed"}
    if cids:
        node["completion_ids"] = list(cids)
    if signals:
        node["signal_ids"] = list(signals)
    return {"type": "suspension", "awaiting": node}


def run_cmd(index: int, cid: int, name: str = "step") -> Json:
    return {"type": "run", "index": index, "completion_id": cid, "name": name}


def propose(cid: int, value: Json) -> Json:
    return {"type": "propose_run_completion", "completion_id": cid, "value": value}


def set_state(index: int, key: str, value: Json) -> Json:
    return {"type": "set_state", "index": index, "key": key, "parameter": {"value": value}}


def sleep_cmd(index: int, cid: int, wake_up_time_ms: int) -> Json:
    return {"type": "sleep", "index": index, "completion_id": cid, "wake_up_time_ms": wake_up_time_ms}


def awakeable_id(invocation_id: str, signal_id: int) -> str:
    raw = json.dumps([invocation_id, signal_id], separators=(",", ":")).encode()
    return "awk_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------- manifest


def service(name: str, handlers: list[str] | list[Json], ty: str = "SERVICE", **opts: Json) -> Json:
    """A manifest service; fast retries unless the case says otherwise."""
    hs = [{"name": h} if isinstance(h, str) else h for h in handlers]
    return {"name": name, "ty": ty, "handlers": hs, "retryPolicyInitialInterval": 20,
            "retryPolicyExponentiationFactor": 1, **opts}


def manifest(services: list[Json], **over: Json) -> Json:
    return {"protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 1, "maxProtocolVersion": 1,
            "services": services, **over}


# ---------------------------------------------------------------------- requests and replies


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    content_type: str | None = CT
    delay_s: float = 0.0


@dataclass
class Req:
    """One request the server sent to the scripted deployment."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    n: int = 0  # 0-based number of this attempt among the invocation's attempts
    frames: list[Json] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    replied_at: float = 0.0

    @property
    def start(self) -> Json:
        return self.frames[0] if self.frames else {}

    @property
    def entries(self) -> list[Json]:
        return self.frames[1:]

    @property
    def invocation_id(self) -> str:
        return str(self.start.get("invocation_id", ""))


Script = Callable[[Req], "Reply | Awaitable[Reply]"]


def framing_errors(body: bytes) -> list[str]:
    errs: list[str] = []
    if body.startswith(b"\xef\xbb\xbf"):
        errs.append("body starts with a byte-order mark (WIRE-FRAME-1)")
    if not body.endswith(b"\n"):
        errs.append("body does not end with a line feed (WIRE-FRAME-3)")
    if b"\n\n" in body or body.startswith(b"\n"):
        errs.append("body holds an empty frame (WIRE-FRAME-2)")
    try:
        frames = validate_frames(body)
    except SchemaValidationError as exc:
        errs.append(f"frame does not validate against spec/schemas/{exc.schema} (WIRE-MSG-7): {exc.errors[:3]}")
        return errs
    for i, f in enumerate(frames):
        if any(v is None for k, v in f.items() if k != "value"):
            errs.append(f"frame {i} carries a null field (WIRE-MSG-6): {f}")
    return errs


def journal_errors(frames: list[Json]) -> list[str]:
    """WIRE-REQ-1..5: one start first, then exactly entries resume_from..journal_length-1."""
    if not frames or frames[0].get("type") != "start":
        return ["the first frame is not a start message (WIRE-REQ-1)"]
    st = frames[0]
    length, resume = st.get("journal_length"), st.get("resume_from")
    if not isinstance(length, int) or not isinstance(resume, int):
        return [f"start lacks journal_length/resume_from: {st}"]
    errs: list[str] = []
    if length < 1:
        errs.append(f"start.journal_length {length} < 1 (WIRE-REQ-3)")
    if not 0 <= resume <= length:
        errs.append(f"start.resume_from {resume} outside 0..{length} (WIRE-REQ-4)")
    if (resume > 0) != ("resume_attempt_id" in st):
        errs.append(f"resume_attempt_id must be present exactly when resume_from > 0 (WIRE-REQ-5): {st}")
    if any(f.get("type") == "start" for f in frames[1:]):
        errs.append("a second start frame (WIRE-REQ-1)")
    got = [f.get("index") for f in frames[1:]]
    if got != list(range(resume, length)):
        errs.append(f"entries after start have indices {got}, expected {resume}..{length - 1} (WIRE-REQ-2)")
    if resume == 0 and length >= 1 and frames[1:] and frames[1].get("type") != "input":
        errs.append("entry 0 is not the input command (JRN-LOG-1)")
    return errs


class ScriptedSdk:
    """An SDK deployment whose answers a case scripts, recording every request."""

    def __init__(self, ctx: CaseContext, services: list[Json], scripts: dict[str, Script] | None = None,
                 *, manifest_doc: Json | None = None, discover_reply: Reply | None = None,
                 prefix: str = "/dep") -> None:
        self.ctx = ctx
        self.services = services
        self.scripts = scripts or {}
        self.manifest_doc = manifest_doc if manifest_doc is not None else manifest(services)
        self.discover_reply = discover_reply
        self.prefix = prefix
        self.invokes: list[Req] = []
        self.discovers: list[Req] = []
        self.others: list[Req] = []
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    @staticmethod
    def name(prefix: str = "W") -> str:
        return f"{prefix}{uuid.uuid4().hex[:10]}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ScriptedSdk:
        from hypercorn.asyncio import serve as hyper_serve
        from hypercorn.config import Config

        # Bind here (port 0 on loopback) and hand hypercorn the socket: no free-port race between
        # the many scripted SDKs that cases start side by side.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.setblocking(False)
        self.port = int(self._sock.getsockname()[1])
        config = Config()
        config.bind = [f"fd://{os.dup(self._sock.fileno())}"]  # hypercorn owns (and closes) the dup
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 0.5
        self._task = asyncio.create_task(
            hyper_serve(self.app, config, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not self._task.done():
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return self
            except OSError:
                await asyncio.sleep(0.02)
        await self._shutdown()
        raise self.ctx.fail("could not start the scripted SDK on a loopback port")

    async def _shutdown(self) -> None:
        self._closing.set()
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aexit__(self, et: object, exc: object, tb: object) -> None:
        await self._shutdown()
        if et is None:
            self.check_frames()

    def check_frames(self) -> None:
        for r in self.invokes:
            if r.errors:
                raise self.ctx.fail(f"request {r.method} {r.path} (attempt {r.n}) breaks the wire format: "
                                    + "; ".join(r.errors))

    # ------------------------------------------------------------------ ASGI

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        req = Req(scope["method"], scope["path"], headers, body, time.monotonic())
        path = scope["path"]
        reply: Reply
        if path == f"{self.prefix}/discover":
            self.discovers.append(req)
            reply = self.discover_reply or Reply(json.dumps(self.manifest_doc).encode(), 200, MANIFEST_CT)
        elif path.startswith(f"{self.prefix}/invoke/"):
            req.errors = framing_errors(body)
            try:
                req.frames = [json.loads(line) for line in body.split(b"\n") if line.strip()]
            except ValueError as exc:
                req.errors.append(f"not JSON: {exc}")
            req.errors += journal_errors(req.frames)
            req.n = sum(1 for r in self.invokes if r.invocation_id == req.invocation_id and r.invocation_id)
            self.invokes.append(req)
            handler = path[len(self.prefix) + len("/invoke/"):]
            script = self.scripts.get(handler) or self.scripts.get("*")
            if script is None:
                reply = Reply(nd(output(int(req.start.get("journal_length", 1)), None), END))
            else:
                got = script(req)
                reply = await got if inspect.isawaitable(got) else got
        else:
            self.others.append(req)
            reply = Reply(b'{"code":404,"message":"not found"}', 404, "application/json")
        self._changed.set()
        if reply.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay_s)
        # connection: close, so that no idle keep-alive connection is left to cancel at shutdown
        hdrs = [(b"connection", b"close")]
        if reply.content_type:
            hdrs.append((b"content-type", reply.content_type.encode()))
        req.replied_at = time.monotonic()
        await send({"type": "http.response.start", "status": reply.status, "headers": hdrs})
        await send({"type": "http.response.body", "body": reply.body})

    # ------------------------------------------------------------------ case helpers

    async def register(self, headers: dict[str, str] | None = None, expect: int | None = 201) -> httpx.Response:
        body: Json = {"uri": self.url}
        if headers:
            body["additional_headers"] = headers
        r = await self.ctx.admin_post("/deployments", body)
        if expect is not None:
            self.ctx.must(r.status_code in (expect, 200) if expect == 201 else r.status_code == expect,
                          f"POST /deployments {self.url}: expected {expect}, got {r.status_code} {r.text[:300]}")
        return r

    def of(self, invocation_id: str) -> list[Req]:
        return [r for r in self.invokes if r.invocation_id == invocation_id]

    async def wait(self, pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.ctx.fail(f"{what} not seen within {timeout}s ({len(self.invokes)} invoke requests: "
                                    + ", ".join(f"{r.path}#{r.n}" for r in self.invokes[-6:]) + ")")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))

    async def attempts(self, invocation_id: str, n: int, timeout: float = 10.0) -> list[Req]:
        await self.wait(lambda: len(self.of(invocation_id)) >= n, f"attempt {n} of {invocation_id}", timeout)
        self.check_frames()  # a malformed request is the finding, before what a case asserts on it
        return self.of(invocation_id)

    async def first(self, handler_path: str, timeout: float = 10.0) -> Req:
        """The first invoke request whose path ends with ``handler_path`` (``svc/handler``)."""
        await self.wait(lambda: any(r.path.endswith(handler_path) for r in self.invokes),
                        f"an invoke request for {handler_path}", timeout)
        return next(r for r in self.invokes if r.path.endswith(handler_path))

    async def quiet(self, invocation_id: str, n: int, duration: float) -> None:
        """Require that no attempt beyond ``n`` arrives for ``duration`` seconds."""
        await asyncio.sleep(duration)
        got = len(self.of(invocation_id))
        self.ctx.must(got <= n, f"expected no further attempt of {invocation_id} after {n}, got {got}")
