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
#: transport modes (spec/02 2.1): one turn per HTTP exchange, or many turns on one exchange
RR, STREAM = "request_response", "stream"
MODES: tuple[str, ...] = (RR, STREAM)
TERMINATORS = frozenset({"end", "suspension", "error", "resume_miss"})

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
    #: kinds already injected, per transport mode (the prelude runs once in each mode)
    _used: dict[str, set[str]] = field(default_factory=dict)

    def decide(self, n: int, mode: str = RR) -> tuple[str | None, float]:
        """The fault for exchange (or streamed turn) ``n`` (or None) and its delay/hold
        parameter in seconds."""
        rng = sub_rng(self.seed, f"{self.label}:{n}")
        menu = [k for k in self.kinds if k not in TARGETED_FAULTS]
        kind = rng.choice(menu) if menu and rng.random() < self.probability else None
        delay = rng.uniform(0.0, self.max_delay_s)
        if not self.enabled:
            return None, delay
        if self.prelude and self.probability > 0:
            # coverage prelude: the first faulty-phase requests get each kind once, so that a
            # short or slow run still exercises every kind (the report checks it)
            used = self._used.setdefault(mode, set())
            left = [k for k in menu if k not in used]
            if left:
                kind = left[0]
        if kind is not None:
            self._used.setdefault(mode, set()).add(kind)
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
        #: the same faults per transport mode (``request_response`` / ``stream``)
        self.mode_faults: dict[str, Counter[str]] = {m: Counter() for m in MODES}
        #: exchanges (RR) and turns (stream) seen per mode, faulty or not
        self.mode_turns: Counter[str] = Counter()
        self.streams = 0  # streaming exchanges relayed
        self.held_s = 0.0  # seconds of injected delays and drop holds, summed
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

    def _count(self, kind: str, mode: str) -> None:
        self.faults[kind] += 1
        self.mode_faults[mode][kind] += 1

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
                request = await _next_event(conn, reader)
                if not isinstance(request, h11.Request):
                    return
                method, target = request.method.decode(), request.target.decode()
                headers = [(k.decode(), v.decode()) for k, v in request.headers]
                if target.startswith(self.fault_prefix) and _chunked(headers):
                    # streaming mode (spec/02 2.9): relayed turn by turn, both bodies open
                    self.streams += 1
                    relay = _StreamRelay(self, conn, reader, writer, method, target, headers)
                    if not await relay.run():
                        return
                    conn.start_next_cycle()
                    continue
                body = await _read_body(conn, reader)
                if body is None:
                    return
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
                               "wall_ms": int(time.time() * 1000), "mode": RR}
        self.observer.request(body, rec)
        self.exchanges.append(rec)
        self.mode_turns[RR] += 1
        fault, delay = self.policy.decide(n, RR)
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
                self._count(fault, RR)
                self.held_s += delay
                await asyncio.sleep(delay)
                raise _Abort(rst=False)
            if fault == "delay_request":
                self._count(fault, RR)
                self.held_s += delay
                await asyncio.sleep(delay)
            if fault == "duplicate_request":
                self._count(fault, RR)
                self._spawn(self._duplicate(rec, method, target, headers, body, delay))
            if fault == "reset_request":
                self._count(fault, RR)
                await self._send_partial(method, target, headers, body, rng)
                raise _Abort(rst=True)
            if fault == "truncate_request":
                self._count(fault, RR)
                body = _truncate(body, rng)
            status, rheaders, rbody = await self._forward(method, target, headers, body)
            types = self.observer.response(rec.get("invocation_id"), rbody, rec)
            rec["response"] = types[-1] if types else status
            targeted = self.policy.targeted(n, types) if fault is None and status == 200 else None
            if targeted is not None:
                rec["fault"] = targeted
                self._count(targeted, RR)
                raise _Abort(rst=False)
            if fault == "drop_response":
                self._count(fault, RR)
                raise _Abort(rst=False)
            if fault == "delay_response":
                self._count(fault, RR)
                self.held_s += delay
                await asyncio.sleep(delay)
            if fault == "reset_response":
                self._count(fault, RR)
                await self._send_partial_response(client, status, rheaders, rbody, rng)
                raise _Abort(rst=True)
            if fault == "truncate_response":
                self._count(fault, RR)
                rbody = _truncate(rbody, rng)
            return status, rheaders, rbody
        finally:
            rec["t_end"] = round(self.clock.now(), 6)

    async def _duplicate(self, original: dict[str, Any], method: str, target: str,
                         headers: list[tuple[str, str]], body: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        seq, t = self.clock.tick()
        rec = {k: v for k, v in original.items() if k not in ("t_end", "response", "fault", "turn")}
        # the copy always travels as a request/response exchange of its own (WIRE-STREAM-2)
        rec.update(id=len(self.exchanges) + 1, seq_start=seq, t_start=round(t, 6), t_end=None,
                   duplicate_of=original["id"], fault=None, wall_ms=int(time.time() * 1000),
                   mode=RR)
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


# ---------------------------------------------------------------------- HTTP helpers


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    """The next h11 event of the peer (``h11.ConnectionClosed`` at EOF)."""
    while True:
        ev = conn.next_event()
        if ev is not h11.NEED_DATA:
            return ev
        data = await reader.read(65536)
        conn.receive_data(data)  # b"" records EOF: the next event is ConnectionClosed or an error


async def _read_body(conn: h11.Connection, reader: asyncio.StreamReader) -> bytes | None:
    """The rest of the current request's body, or None if the connection ended first."""
    body = bytearray()
    while True:
        ev = await _next_event(conn, reader)
        if isinstance(ev, h11.Data):
            body += ev.data
        elif isinstance(ev, h11.EndOfMessage):
            return bytes(body)
        else:
            return None


def _chunked(headers: list[tuple[str, str]]) -> bool:
    return any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)


def _first_line(buf: bytearray | bytes) -> dict[str, Any] | None:
    nl = buf.find(b"\n")
    if nl < 0:
        return None
    try:
        obj = orjson.loads(buf[:nl])
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _take_turn(buf: bytearray) -> bytes | None:
    """Cut one whole turn's request part off ``buf``: ``start`` and the ``journal_length -
    resume_from`` entries it announces (WIRE-REQ-2). Complete lines that do not begin a turn
    are cut off as they are (relayed untouched, whatever they are)."""
    nl = buf.find(b"\n")
    if nl < 0:
        return None
    start = _first_line(buf)
    need = 0
    if start is not None and start.get("type") == "start":
        try:
            need = max(0, int(start.get("journal_length", 0)) - int(start.get("resume_from", 0)))
        except (TypeError, ValueError):
            need = 0
    end = nl + 1
    for _ in range(need):
        nl = buf.find(b"\n", end)
        if nl < 0:
            return None
        end = nl + 1
    part = bytes(buf[:end])
    del buf[:end]
    return part


def _take_turn_response(buf: bytearray) -> bytes | None:
    """Cut one turn's response off ``buf``: frames up to and including a terminator."""
    pos = 0
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return None
        line = buf[pos:nl]
        pos = nl + 1
        if b'"type"' not in line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("type") in TERMINATORS:
            part = bytes(buf[:pos])
            del buf[:pos]
            return part


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n" if data else b""


class _StreamAbort(Exception):
    pass


class _StreamRelay:
    """One streaming exchange (spec/02 2.9), relayed turn by turn in both directions.

    The server's chunked request body is cut into turns (``start`` + the entries it announces);
    the SDK's chunked response into turn responses (frames up to a terminator). Each turn is an
    exchange record of its own (``mode: "stream"``, ``turn``: its position), with the same seeded
    fault decision as a request/response exchange, applied at the turn's boundaries:

    * ``drop_request``: the turn is never written to the SDK; after a hold, both connections close;
    * ``delay_request`` / ``delay_response``: the turn (its response) is held back;
    * ``duplicate_request``: the turn also goes to the SDK as a request/response exchange of its
      own (possibly late, i.e. stale), whose answer is thrown away;
    * ``reset_request``: part of the turn is written to the SDK, then both connections are reset;
    * ``truncate_request``: a cut turn is written and the request body ends (a clean zero-length
      chunk) in the middle of a frame;
    * ``drop_response``, ``lose_run_proposal``, ``lose_suspension``: the SDK answered the turn,
      the server never hears it (both connections close);
    * ``reset_response``: part of the turn's response, then a reset (mid-stream);
    * ``truncate_response``: part of the turn's response, then a clean end of the response body.
    """

    def __init__(self, proxy: FaultProxy, conn: h11.Connection, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, method: str, target: str,
                 headers: list[tuple[str, str]]) -> None:
        self.p = proxy
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.method = method
        self.target = target
        self.headers = headers
        self.up_reader: asyncio.StreamReader | None = None
        self.up_writer: asyncio.StreamWriter | None = None
        self.up_task: asyncio.Task[None] | None = None
        #: the turn in flight: record, fault, delay, cut point, decision number
        self.cur: tuple[dict[str, Any], str | None, float, float, int] | None = None
        self.turns = 0
        self.aborted = False
        self.request_ended = False  # the zero-length chunk went to the SDK
        self.response_started = False
        self.response_done = False

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> bool:
        """Relay until both bodies ended; True if the server's connection can be reused."""
        try:
            await self._down()
            if not self.aborted and self.up_task is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.up_task), UPSTREAM_TIMEOUT_S)
        except _StreamAbort:
            pass
        except (ConnectionError, OSError, h11.ProtocolError, asyncio.IncompleteReadError):
            self.abort(rst=False)
        finally:
            if self.up_task is not None and not self.up_task.done():
                self.up_task.cancel()
            self._close_up(rst=False)
            self._end_turn()
        return (not self.aborted and self.response_done
                and self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE)

    def abort(self, rst: bool) -> None:
        """End the stream: close (or reset) the server's connection and the SDK's."""
        if self.aborted:
            return
        self.aborted = True
        self._end_turn()
        if rst:
            _rst(self.writer)
        else:
            with contextlib.suppress(Exception):
                self.writer.close()
        self._close_up(rst=rst)

    def _close_up(self, rst: bool) -> None:
        if self.up_writer is not None:
            if rst:
                _rst(self.up_writer)
            else:
                with contextlib.suppress(Exception):
                    self.up_writer.close()

    def _end_turn(self, rec: dict[str, Any] | None = None) -> None:
        """The turn ``rec`` (default: the one in flight) is over."""
        cur = self.cur[0] if self.cur is not None else None
        rec = rec if rec is not None else cur
        if rec is None:
            return
        if rec.get("t_end") is None:
            rec["t_end"] = round(self.p.clock.now(), 6)
        if rec is cur:
            self.cur = None

    def _check(self) -> None:
        if self.aborted:
            raise _StreamAbort()

    # ------------------------------------------------------------------ server -> SDK

    async def _down(self) -> None:
        buf = bytearray()
        while True:
            ev = await _next_event(self.conn, self.reader)
            self._check()
            if isinstance(ev, h11.Data):
                buf += ev.data
                while (part := _take_turn(buf)) is not None:
                    await self._turn(part)
                    self._check()
            elif isinstance(ev, h11.EndOfMessage):
                if buf and self.up_writer is not None and not self.request_ended:
                    self.up_writer.write(_chunk(bytes(buf)))  # a partial turn: relayed as it is
                if self.up_writer is not None and not self.request_ended:
                    self.request_ended = True
                    self.up_writer.write(b"0\r\n\r\n")
                    await self.up_writer.drain()
                return
            else:  # the server went away
                self.abort(rst=False)
                return

    async def _connect(self) -> bool:
        if self.up_writer is not None:
            return True
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*self.p.upstream), UPSTREAM_TIMEOUT_S)
        except (TimeoutError, OSError):
            await self._fail_response(b'{"error":"upstream unreachable"}')
            return False
        self.up_reader, self.up_writer = reader, writer
        lines = [f"{self.method} {self.target} HTTP/1.1",
                 f"host: {self.p.upstream[0]}:{self.p.upstream[1]}"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in HOP_BY_HOP]
        lines += ["transfer-encoding: chunked", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1"))
        self.up_task = asyncio.ensure_future(self._up())
        return True

    async def _fail_response(self, body: bytes) -> None:
        """Answer 502 if the server has no response yet (as for a request/response exchange),
        otherwise end the stream."""
        if self.response_started:
            self.abort(rst=False)
            return
        self.response_started = True
        headers = [("content-type", "application/json"), ("content-length", str(len(body))),
                   ("connection", "close")]
        with contextlib.suppress(Exception):
            self.writer.write(self.conn.send(h11.Response(status_code=502, headers=headers)) or b"")
            self.writer.write(self.conn.send(h11.Data(data=body)) or b"")
            self.writer.write(self.conn.send(h11.EndOfMessage()) or b"")
            await self.writer.drain()
        self.abort(rst=False)

    async def _turn(self, part: bytes) -> None:
        p = self.p
        n = p._n
        p._n += 1
        seq, t = p.clock.tick()
        rec: dict[str, Any] = {"id": len(p.exchanges) + 1, "n": n, "seq_start": seq,
                               "t_start": round(t, 6), "t_end": None, "target": self.target,
                               "wall_ms": int(time.time() * 1000), "mode": STREAM,
                               "turn": self.turns, "stream": p.streams}
        self.turns += 1
        p.observer.request(part, rec)
        p.exchanges.append(rec)
        p.mode_turns[STREAM] += 1
        fault, delay = p.policy.decide(n, STREAM)
        if time.monotonic() < p.partitioned_until:
            fault = "partition"
        rec["fault"] = fault
        cut = sub_rng(p.policy.seed, f"{p.policy.label}-cut:{n}").random()
        self._end_turn()  # a turn only begins after the previous one's terminator
        self.cur = (rec, fault, delay, cut, n)
        if fault == "partition":
            p.partitioned += 1
            await asyncio.sleep(max(0.0, p.partitioned_until - time.monotonic()))
            self.abort(rst=False)
            return
        if fault == "drop_request":
            p._count(fault, STREAM)
            p.held_s += delay
            await asyncio.sleep(delay)
            self.abort(rst=False)
            return
        if fault == "delay_request":
            p._count(fault, STREAM)
            p.held_s += delay
            await asyncio.sleep(delay)
            self._check()
        if fault == "duplicate_request":
            p._count(fault, STREAM)
            rr_headers = [(k, v) for k, v in self.headers if k.lower() not in HOP_BY_HOP]
            p._spawn(p._duplicate(rec, self.method, self.target, rr_headers, part, delay))
        if self.request_ended:  # the SDK's request body already ended (a truncated turn)
            return
        if not await self._connect():
            return
        assert self.up_writer is not None
        if fault == "reset_request":
            p._count(fault, STREAM)
            cut_part = _truncate(part, cut)
            self.up_writer.write(b"%x\r\n" % len(part) + cut_part)  # the chunk never completes
            with contextlib.suppress(Exception):
                await self.up_writer.drain()
                await asyncio.sleep(0.05)
            self.abort(rst=True)
            return
        if fault == "truncate_request":
            p._count(fault, STREAM)
            self.request_ended = True
            self.up_writer.write(_chunk(_truncate(part, cut)) + b"0\r\n\r\n")
        else:
            self.up_writer.write(_chunk(part))
        await self.up_writer.drain()

    # ------------------------------------------------------------------ SDK -> server

    async def _up(self) -> None:
        assert self.up_reader is not None
        client = h11.Connection(h11.CLIENT)
        client.send(h11.Request(method="POST", target="/", headers=[("host", "x"), ("content-length", "0")]))
        client.send(h11.EndOfMessage())
        buf = bytearray()
        passthrough = False
        try:
            while True:
                ev = client.next_event()
                if ev is h11.NEED_DATA:
                    data = await self.up_reader.read(65536)
                    client.receive_data(data)
                    continue
                self._check()
                if isinstance(ev, h11.InformationalResponse):
                    continue
                if isinstance(ev, h11.Response):
                    passthrough = ev.status_code != 200
                    headers = [(k.decode(), v.decode()) for k, v in ev.headers
                               if k.decode().lower() not in HOP_BY_HOP]
                    self.response_started = True
                    self.writer.write(self.conn.send(
                        h11.Response(status_code=ev.status_code, headers=headers)) or b"")
                    await self.writer.drain()
                elif isinstance(ev, h11.Data):
                    if passthrough:
                        self.writer.write(self.conn.send(h11.Data(data=ev.data)) or b"")
                        await self.writer.drain()
                        continue
                    buf += ev.data
                    while (part := _take_turn_response(buf)) is not None:
                        await self._answer(part)
                        self._check()
                elif isinstance(ev, h11.EndOfMessage):
                    if buf:  # frames after the last terminator, or a cut frame: as they are
                        self.writer.write(self.conn.send(h11.Data(data=bytes(buf))) or b"")
                    self.writer.write(self.conn.send(h11.EndOfMessage()) or b"")
                    await self.writer.drain()
                    self.response_done = True
                    self._end_turn()
                    return
                else:  # the SDK went away before the end of its response
                    await self._fail_response(b'{"error":"upstream failed"}')
                    return
        except _StreamAbort:
            return
        except (ConnectionError, OSError, h11.ProtocolError, asyncio.IncompleteReadError):
            if not self.aborted:
                await self._fail_response(b'{"error":"upstream failed"}')

    async def _answer(self, part: bytes) -> None:
        """One turn's response: observe it, apply the turn's response fault, relay it."""
        p = self.p
        if self.cur is None:  # nothing in flight (a protocol violation of the SDK): relay it
            self.writer.write(self.conn.send(h11.Data(data=part)) or b"")
            await self.writer.drain()
            return
        rec, fault, delay, cut, n = self.cur
        types = p.observer.response(rec.get("invocation_id"), part, rec)
        rec["response"] = types[-1] if types else None
        targeted = p.policy.targeted(n, types) if fault is None else None
        if targeted is not None:
            rec["fault"] = targeted
            p._count(targeted, STREAM)
            self.abort(rst=False)
            return
        if fault == "drop_response":
            p._count(fault, STREAM)
            self.abort(rst=False)
            return
        if fault == "delay_response":
            p._count(fault, STREAM)
            p.held_s += delay
            await asyncio.sleep(delay)
            self._check()
        if fault == "reset_response":
            p._count(fault, STREAM)
            self.writer.write(self.conn.send(h11.Data(data=_truncate(part, cut))) or b"")
            with contextlib.suppress(Exception):
                await self.writer.drain()
                await asyncio.sleep(0.05)
            self.abort(rst=True)
            return
        if fault == "truncate_response":
            p._count(fault, STREAM)
            self._end_turn(rec)
            self.writer.write(self.conn.send(h11.Data(data=_truncate(part, cut))) or b"")
            self.writer.write(self.conn.send(h11.EndOfMessage()) or b"")
            await self.writer.drain()
            self.abort(rst=False)
            return
        # over before the server can read the terminator and write the next turn
        self._end_turn(rec)
        self.writer.write(self.conn.send(h11.Data(data=part)) or b"")
        await self.writer.drain()
