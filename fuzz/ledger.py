"""The effect ledger: an append-only record of external effects, outside the system under test.

Every ``ctx.run`` closure of the interpreter POSTs ``{"type": "exec", "step", "owner"}`` here
*first*, so an execution is recorded even if the SDK process is killed a microsecond later. The
ledger answers with the execution number ``n`` of that step (1, 2, ...), which the closure returns
as its result: the journal then says which execution was acknowledged, and the oracle can tell a
legitimate re-run (before acknowledgement) from a forbidden one.

The interpreter also posts non-durable markers: ``done`` (with its observations) when a program
ends, ``awakeable``/``promise`` registrations that the fuzzer resolves from outside, and
``blocked`` when a program waits to be cancelled. Markers may repeat on replay; the oracle
requires repeats to agree.

Records are kept in memory and appended to a JSONL file (part of a reproduction).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from . import httpserver
from .clock import Clock

Listener = Callable[[dict[str, Any]], None]


class Ledger:
    def __init__(self, clock: Clock, path: Path | None = None) -> None:
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self._counts: dict[str, int] = defaultdict(int)
        self._done: dict[str, dict[str, Any]] = {}
        self._listeners: list[Listener] = []
        self._file: IO[bytes] | None = path.open("ab") if path else None
        self._server: asyncio.Server | None = None
        self.port = 0

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def record(self, body: dict[str, Any]) -> dict[str, Any]:
        """Append one record (stamped with seq and time); returns the answer for the caller."""
        seq, t = self.clock.tick()
        rec = dict(body)
        rec["seq"], rec["t"] = seq, round(t, 6)
        answer: dict[str, Any] = {"seq": seq}
        if rec.get("type") == "exec":
            step = str(rec.get("step"))
            self._counts[step] += 1
            rec["n"] = answer["n"] = self._counts[step]
        elif rec.get("type") == "done":
            self._done.setdefault(str(rec.get("pid")), rec)
        self.records.append(rec)
        if self._file is not None:
            self._file.write(orjson.dumps(rec) + b"\n")
            self._file.flush()
        for listener in self._listeners:
            listener(rec)
        return answer

    def executions(self, step: str) -> int:
        return self._counts.get(step, 0)

    def done(self) -> dict[str, dict[str, Any]]:
        """The first ``done`` marker of each program (a live view: do not modify)."""
        return self._done

    async def _handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if method != "POST" or path != "/record":
            return 404, b'{"error":"not found"}'
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 400, b'{"error":"bad json"}'
        if not isinstance(obj, dict):
            return 400, b'{"error":"not an object"}'
        return 200, orjson.dumps(self.record(obj))

    async def start(self, port: int = 0) -> str:
        self._server = await httpserver.start(self._handle, port=port)
        self.port = httpserver.bound_port(self._server)
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._file is not None:
            self._file.close()
            self._file = None
