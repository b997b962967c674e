"""The fault proxy: an HTTP/1.1 reverse proxy between the server and the SDK deployment.

The server registers the proxy's URL as the deployment, so every ``POST /invoke/...`` crosses
it. For each request the seeded :class:`FaultPolicy` may pick a fault at a protocol point:

=====================  ===========================================================================
``drop_request``       never forwarded; the server's connection is closed after a short hold
``delay_request``      forwarded after a delay
``duplicate_request``  forwarded twice; the copy (possibly late, i.e. stale) has its answer thrown away
``reset_request``      half the body is sent to the SDK, then both connections are reset (RST)
``truncate_request``   forwarded as a well-formed HTTP request whose NDJSON body is cut short
``drop_response``      the SDK ran the attempt, the server never hears back (connection closed)
``delay_response``     the answer is held back
``reset_response``     half the answer is sent, then the connection is reset (RST)
``truncate_response``  the answer arrives well-formed at the HTTP level but its NDJSON is cut short
``lose_run_proposal``  targeted: an answer carrying ``propose_run_completion`` is dropped
                       (the step ran, its result never reached the server)
``lose_suspension``    targeted: an answer ending in ``suspension`` is dropped
=====================  ===========================================================================

The proxy is also the oracle's *protocol observer*: it decodes every request's NDJSON (leniently:
complete lines only) and logs, per exchange, the invocation, the program it runs (``owner``, from
the input command), which run completions the journal carried, and when the exchange was in
flight. The oracle uses this to tell a legitimate re-run (a request that did not carry the step's
completion was in flight) from a forbidden one, and to check that an acknowledged completion is
never forgotten or changed (see :mod:`fuzz.oracle`).

Why a hand-written proxy over h11 and asyncio streams: the faults need byte-level control
(reset mid-body, truncate, duplicate) that an HTTP client library hides.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import h11
import orjson

from .clock import Clock
from .programs import sub_rng

REQUEST_FAULTS = (
    "drop_request",
    "delay_request",
    "duplicate_request",
    "reset_request",
    "truncate_request",
)
RESPONSE_FAULTS = ("drop_response", "delay_response", "reset_response", "truncate_response")
TARGETED_FAULTS = ("lose_run_proposal", "lose_suspension")
FAULT_KINDS: tuple[str, ...] = REQUEST_FAULTS + RESPONSE_FAULTS + TARGETED_FAULTS

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te",
              "trailer", "upgrade", "proxy-connection"}
UPSTREAM_TIMEOUT_S = 60.0


@dataclass
class FaultPolicy:
    """Seeded per-exchange fault decisions. Exchange ``n`` always gets the same decision for a
    given seed, so a run's fault schedule is reproducible up to the order in which requests
    arrive (the one thing a real-time fuzzer cannot pin)."""

    seed: int
    probability: float = 0.15
    targeted_probability: float = 0.25
    max_delay_s: float = 0.6
    kinds: tuple[str, ...] = FAULT_KINDS
    enabled: bool = True
    #: distinguishes the PRNG streams of several proxies sharing a seed
    label: str = "proxy"
    prelude: bool = True
    _used: set[str] = field(default_factory=set)

    def decide(self, n: int) -> tuple[str | None, float]:
        """The fault for exchange ``n`` (or None) and its delay/hold parameter in seconds."""
        rng = sub_rng(self.seed, f"{self.label}:{n}")
        menu = [k for k in self.kinds if k not in TARGETED_FAULTS]
        kind = rng.choice(menu) if menu and rng.random() < self.probability else None
        delay = rng.uniform(0.0, self.max_delay_s)
        if not self.enabled:
            return None, delay
        if self.prelude and self.probability > 0:
            # coverage prelude: the first faulty-phase requests get each kind once, so that a
            # short or slow run still exercises every kind (the report checks it)
            left = [k for k in menu if k not in self._used]
            if left:
                kind = left[0]
        if kind is not None:
            self._used.add(kind)
        return kind, delay

    def targeted(self, n: int, response_types: list[str]) -> str | None:
        """A fault aimed at what the response turned out to carry."""
        if not self.enabled:
            return None
        rng = sub_rng(self.seed, f"{self.label}-target:{n}")
        if rng.random() >= self.targeted_probability:
            return None
        if "propose_run_completion" in response_types and "lose_run_proposal" in self.kinds:
            return "lose_run_proposal"
        if response_types and response_types[-1] == "suspension" and "lose_suspension" in self.kinds:
            return "lose_suspension"
        return None


def _lines(body: bytes) -> list[dict[str, Any]]:
    out = []
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


_RESULT_KEYS = ("value", "value_bytes", "void", "failure", "invocation_id")


class Observer:
    """Decodes the protocol traffic into exchange records for the oracle."""

    def __init__(self) -> None:
        self.names: dict[str, dict[int, str]] = defaultdict(dict)  # invocation -> cid -> run name
        self.sleeps: dict[str, dict[int, int]] = defaultdict(dict)  # invocation -> cid -> wake ms
        self.confirmed: dict[str, set[int]] = defaultdict(set)  # deadlines seen in a journal
        self.owners: dict[str, str] = {}

    def request(self, body: bytes, record: dict[str, Any]) -> None:
        lines = _lines(body)
        if not lines or lines[0].get("type") != "start":
            return
        start = lines[0]
        inv = str(start.get("invocation_id", ""))
        record.update(
            invocation_id=inv,
            attempt_id=start.get("attempt_id"),
            resume_attempt_id=start.get("resume_attempt_id"),
            resume_from=start.get("resume_from", 0),
            journal_length=start.get("journal_length"),
            service=start.get("service"),
            handler=start.get("handler"),
            key=start.get("key"),
        )
        names = self.names[inv]
        self._learn(inv, lines[1:], authoritative=True)
        for e in lines[1:]:
            if e.get("type") == "input":
                param = e.get("parameter") or {}
                value = param.get("value") if isinstance(param, dict) else None
                if isinstance(value, dict) and isinstance(value.get("id"), str):
                    self.owners[inv] = value["id"]
            elif e.get("type") == "run" and isinstance(e.get("completion_id"), int):
                names[e["completion_id"]] = str(e.get("name"))
        record["owner"] = self.owners.get(inv)
        comps: dict[str, Any] = {}
        dups: list[str] = []
        timers: list[list[int]] = []
        for e in lines[1:]:
            if e.get("type") == "completion" and e.get("completion_id") in self.sleeps[inv]:
                timers.append([e["completion_id"], self.sleeps[inv][e["completion_id"]]])
            if e.get("type") == "completion" and e.get("completion_id") in names:
                step = names[e["completion_id"]]
                result = {k: e[k] for k in _RESULT_KEYS if k in e}
                if step in comps:
                    dups.append(step)
                comps[step] = result
        record["completions"] = comps
        record["duplicate_completions"] = dups
        record["timer_completions"] = timers

    def _learn(self, inv: str, entries: list[dict[str, Any]], authoritative: bool = False) -> dict[str, int]:
        """Remember run names and sleep deadlines; return the delayed sends' invoke times.

        A sleep's deadline is the one the server stored. A request's journal carries it
        (``authoritative``); an answer only proposes one, and several attempts (a duplicated or
        lost answer, a retry) may propose different ones: until a journal says which was kept,
        the earliest proposal is assumed, so that the early-timer check never blames the server
        for a deadline it did not store."""
        sends: dict[str, int] = {}
        for e in entries:
            kind = e.get("type")
            if kind == "run" and isinstance(e.get("completion_id"), int):
                self.names[inv][e["completion_id"]] = str(e.get("name"))
            elif kind == "sleep" and isinstance(e.get("wake_up_time_ms"), int):
                cid, wake = int(e.get("completion_id", 0)), int(e["wake_up_time_ms"])
                known = self.sleeps[inv]
                if authoritative:
                    self.confirmed[inv].add(cid)
                    known[cid] = wake
                elif cid not in self.confirmed[inv]:
                    known[cid] = min(wake, known.get(cid, wake))
            elif kind == "send" and isinstance(e.get("invoke_time_ms"), int):
                param = e.get("parameter") or {}
                value = param.get("value") if isinstance(param, dict) else None
                if isinstance(value, dict) and isinstance(value.get("id"), str):
                    sends[value["id"]] = e["invoke_time_ms"]
        return sends

    def response(self, inv: str | None, body: bytes, record: dict[str, Any] | None = None) -> list[str]:
        """Learn from the SDK's new commands; return the message types, in order."""
        lines = _lines(body)
        if inv:
            sends = self._learn(inv, lines)
            if sends and record is not None:
                record["delayed_sends"] = sends
        return [str(e.get("type")) for e in lines]


class _Abort(Exception):
    """Close the server-side connection without an answer (reset if ``rst``)."""

    def __init__(self, rst: bool) -> None:
        super().__init__("abort")
        self.rst = rst


def _rst(writer: asyncio.StreamWriter) -> None:
    """Reset the connection (RST instead of FIN)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _truncate(body: bytes, rng_value: float) -> bytes:
    """Cut a body short, strictly (at least one byte removed, at least one kept if possible)."""
    if len(body) <= 1:
        return b""
    cut = 1 + int(rng_value * (len(body) - 2))
    return body[:cut]


class FaultProxy:
    def __init__(self, upstream_port: int, policy: FaultPolicy, clock: Clock,
                 host: str = "127.0.0.1", fault_prefix: str = "/invoke/") -> None:
        """``fault_prefix``: requests whose path starts with it get faults (and are logged);
        the rest pass through untouched. The SDK-side proxy targets ``/invoke/``; the
        client-side proxy (driver to ingress) targets the submissions."""
        self.upstream = (host, upstream_port)
        self.fault_prefix = fault_prefix
        self.policy = policy
        self.clock = clock
        self.observer = Observer()
        self.exchanges: list[dict[str, Any]] = []
        self.faults: Counter[str] = Counter()
        self._n = 0
        self.partitioned_until = 0.0  # time.monotonic(); see partition()
        self.partitioned = 0  # requests lost to partitions
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conn_tasks: set[asyncio.Task[Any]] = set()
        self._conns: set[asyncio.StreamWriter] = set()
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # end open server-side connections by closing them (cancelling a connection's task
        # makes asyncio's stream callback log a spurious CancelledError)
        for w in list(self._conns):
            w.transport.abort()
        for t in list(self._tasks):
            if t not in self._conn_tasks:
                t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for t in list(self._tasks):  # still forwarding upstream after 2 s
            t.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def partition(self, seconds: float) -> None:
        """For ``seconds``, nothing gets through: requests hang until the partition heals, then
        their connection is closed without an answer (what a network partition looks like)."""
        self.partitioned_until = max(self.partitioned_until, time.monotonic() + seconds)

    # ------------------------------------------------------------------ server side

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            self._conn_tasks.add(task)
        self._conns.add(writer)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                req = await self._read_request(conn, reader)
                if req is None:
                    return
                method, target, headers, body = req
                status, rheaders, rbody = await self._exchange(method, target, headers, body, writer)
                out_headers = [(k, v) for k, v in rheaders if k.lower() not in HOP_BY_HOP]
                out_headers.append(("content-length", str(len(rbody))))
                writer.write(conn.send(h11.Response(status_code=status, headers=out_headers)) or b"")
                writer.write(conn.send(h11.Data(data=rbody)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except _Abort as a:
            if a.rst:
                _rst(writer)
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
                self._conn_tasks.discard(task)
            self._conns.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_request(
        conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                data = await reader.read(65536)
                if not data:
                    return None
                conn.receive_data(data)
            elif isinstance(ev, h11.Request):
                request = ev
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                assert request is not None
                headers = [(k.decode(), v.decode()) for k, v in request.headers]
                return request.method.decode(), request.target.decode(), headers, bytes(body)
            else:
                return None

    # ------------------------------------------------------------------ one exchange

    async def _exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
        client: asyncio.StreamWriter,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if not target.startswith(self.fault_prefix):
            return await self._forward(method, target, headers, body)
        n = self._n
        self._n += 1
        seq, t = self.clock.tick()
        rec: dict[str, Any] = {"id": len(self.exchanges) + 1, "n": n, "seq_start": seq,
                               "t_start": round(t, 6), "t_end": None, "target": target,
                               "wall_ms": int(time.time() * 1000)}
        self.observer.request(body, rec)
        self.exchanges.append(rec)
        fault, delay = self.policy.decide(n)
        if time.monotonic() < self.partitioned_until:
            fault = "partition"
        rec["fault"] = fault
        rng = sub_rng(self.policy.seed, f"{self.policy.label}-cut:{n}").random()
        try:
            if fault == "partition":
                self.partitioned += 1
                await asyncio.sleep(max(0.0, self.partitioned_until - time.monotonic()))
                raise _Abort(rst=False)
            if fault == "drop_request":
                self.faults[fault] += 1
                await asyncio.sleep(delay)
                raise _Abort(rst=False)
            if fault == "delay_request":
                self.faults[fault] += 1
                await asyncio.sleep(delay)
            if fault == "duplicate_request":
                self.faults[fault] += 1
                self._spawn(self._duplicate(rec, method, target, headers, body, delay))
            if fault == "reset_request":
                self.faults[fault] += 1
                await self._send_partial(method, target, headers, body, rng)
                raise _Abort(rst=True)
            if fault == "truncate_request":
                self.faults[fault] += 1
                body = _truncate(body, rng)
            status, rheaders, rbody = await self._forward(method, target, headers, body)
            types = self.observer.response(rec.get("invocation_id"), rbody, rec)
            rec["response"] = types[-1] if types else status
            targeted = self.policy.targeted(n, types) if fault is None and status == 200 else None
            if targeted is not None:
                rec["fault"] = targeted
                self.faults[targeted] += 1
                raise _Abort(rst=False)
            if fault == "drop_response":
                self.faults[fault] += 1
                raise _Abort(rst=False)
            if fault == "delay_response":
                self.faults[fault] += 1
                await asyncio.sleep(delay)
            if fault == "reset_response":
                self.faults[fault] += 1
                await self._send_partial_response(client, status, rheaders, rbody, rng)
                raise _Abort(rst=True)
            if fault == "truncate_response":
                self.faults[fault] += 1
                rbody = _truncate(rbody, rng)
            return status, rheaders, rbody
        finally:
            rec["t_end"] = round(self.clock.now(), 6)

    async def _duplicate(self, original: dict[str, Any], method: str, target: str,
                         headers: list[tuple[str, str]], body: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        seq, t = self.clock.tick()
        rec = {k: v for k, v in original.items() if k not in ("t_end", "response", "fault")}
        rec.update(id=len(self.exchanges) + 1, seq_start=seq, t_start=round(t, 6), t_end=None,
                   duplicate_of=original["id"], fault=None, wall_ms=int(time.time() * 1000))
        self.exchanges.append(rec)
        try:
            _, _, rbody = await self._forward(method, target, headers, body)
            self.observer.response(rec.get("invocation_id"), rbody)
        except Exception:  # the copy's fate does not matter, only that it was in flight
            pass
        finally:
            rec["t_end"] = round(self.clock.now(), 6)

    # ------------------------------------------------------------------ upstream side

    def _request_head(self, method: str, target: str, headers: list[tuple[str, str]],
                      length: int) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.upstream[0]}:{self.upstream[1]}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
        lines += [f"content-length: {length}", "connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1")

    async def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), UPSTREAM_TIMEOUT_S)
        except (TimeoutError, OSError):
            return 502, [("content-type", "application/json")], b'{"error":"upstream unreachable"}'
        try:
            writer.write(self._request_head(method, target, headers, len(body)) + body)
            await writer.drain()
            return await asyncio.wait_for(self._read_response(reader), UPSTREAM_TIMEOUT_S)
        except (TimeoutError, OSError, h11.ProtocolError, asyncio.IncompleteReadError):
            return 502, [("content-type", "application/json")], b'{"error":"upstream failed"}'
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = h11.Connection(h11.CLIENT)
        # h11 needs to know a request was sent to parse the response
        conn.send(h11.Request(method="POST", target="/", headers=[("host", "x"), ("content-length", "0")]))
        conn.send(h11.EndOfMessage())
        status = 0
        headers: list[tuple[str, str]] = []
        body = bytearray()
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is h11.SEND_BODY:
                    raise asyncio.IncompleteReadError(bytes(body), None)
            elif isinstance(ev, h11.InformationalResponse):
                continue
            elif isinstance(ev, h11.Response):
                status = ev.status_code
                headers = [(k.decode(), v.decode()) for k, v in ev.headers]
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                return status, headers, bytes(body)
            elif isinstance(ev, h11.ConnectionClosed):
                raise asyncio.IncompleteReadError(bytes(body), None)

    async def _send_partial(self, method: str, target: str, headers: list[tuple[str, str]],
                            body: bytes, rng: float) -> None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 5.0)
        except (TimeoutError, OSError):
            return
        writer.write(self._request_head(method, target, headers, len(body)) + _truncate(body, rng))
        with contextlib.suppress(Exception):
            await writer.drain()
            await asyncio.sleep(0.05)
        _rst(writer)

    @staticmethod
    async def _send_partial_response(client: asyncio.StreamWriter, status: int,
                                     headers: list[tuple[str, str]], body: bytes, rng: float) -> None:
        lines = [f"HTTP/1.1 {status} X"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
        lines += [f"content-length: {len(body)}", "", ""]
        client.write("\r\n".join(lines).encode("latin-1") + _truncate(body, rng))
        with contextlib.suppress(Exception):
            await client.drain()
            await asyncio.sleep(0.05)
