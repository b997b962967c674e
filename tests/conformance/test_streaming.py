"""The streaming cases of both halves pass against our stack and fail against broken ones.

SDK half (SDK-100..114): our SDK passes; each wrapper of ``conformance.testing.broken_sdk``
breaks one property of spec/02 section 2.9 and the cases that check it must FAIL (or be
NON-STRICT, for a SHOULD); a deployment that declares REQUEST_RESPONSE gets SKIPPED, never PASS.

Wire half (WIRE-S-100..113): the in-process reference server passes; each injected bug (streaming
to a REQUEST_RESPONSE deployment, no streaming at all although declared, full-journal turns on the
stream, a request body kept open, a failed turn's frames appended, the abort timeout counted per
exchange, data after a terminator accepted, a connection reused after it, commits acknowledged
before they are durable, turns written in two chunks) turns the cases that check it into FAIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

import reference_server.invoker as invoker_mod
from conformance.model import CaseResult, Mode, Verdict
from conformance.sdk.runner import run_sdk_cases
from conformance.target import Target
from conformance.testing.broken_sdk import broken, reference_app, serve_sdk
from durable.protocol import decode_frames
from durable.protocol.messages import SuspensionMessage
from reference_server.runtime import Runtime

from .test_wire import run_wire

STREAM_SDK = "SDK-1[01]?"


def run_sdk(app: Any, patterns: list[str], stream_idle_s: float | None = None,
            session_idle_s: float | None = None) -> dict[str, CaseResult]:
    async def main() -> list[CaseResult]:
        async with serve_sdk(app) as url:
            return await run_sdk_cases(url, patterns, concurrency=16, stream_idle_s=stream_idle_s,
                                       session_idle_s=session_idle_s)

    return {r.case.id: r for r in asyncio.run(main())}


def verdicts(results: dict[str, CaseResult], ids: list[str], verdict: Verdict) -> None:
    for cid in ids:
        assert results[cid].verdict is verdict, (cid, results[cid].verdict, results[cid].message)


# ====================================================================== SDK half


@pytest.mark.timeout(120)
def test_reference_sdk_passes_streaming_cases() -> None:
    results = run_sdk(reference_app(stream_idle_seconds=2.0), [STREAM_SDK], stream_idle_s=2.0)
    assert len(results) >= 15
    bad = {k: (r.verdict.value, r.message) for k, r in results.items() if r.verdict is not Verdict.PASS}
    assert not bad, bad


@pytest.mark.timeout(120)
def test_request_response_deployment_skips_streaming_cases() -> None:
    results = run_sdk(reference_app(protocol="request_response"), [STREAM_SDK], stream_idle_s=1.0)
    assert all(r.verdict is Verdict.SKIPPED for r in results.values()), {
        k: r.verdict.value for k, r in results.items()}
    assert "REQUEST_RESPONSE" in results["SDK-100"].message


@pytest.mark.timeout(120)
def test_unknown_bound_skips_the_bounded_wait_case() -> None:
    results = run_sdk(reference_app(), ["SDK-109"])
    verdicts(results, ["SDK-109"], Verdict.SKIPPED)


@pytest.mark.timeout(120)
def test_buffering_deployment_is_caught() -> None:
    results = run_sdk(broken(reference_app(stream_idle_seconds=2.0), "buffering"),
                      ["SDK-100", "SDK-101", "SDK-112"], stream_idle_s=2.0)
    verdicts(results, ["SDK-100", "SDK-101"], Verdict.FAIL)
    verdicts(results, ["SDK-112"], Verdict.NON_STRICT)
    assert "WIRE-STREAM-8" in results["SDK-100"].message


@pytest.mark.timeout(120)
def test_stateless_per_turn_sdk_is_caught() -> None:
    ids = ["SDK-102", "SDK-103", "SDK-104", "SDK-105", "SDK-106"]
    results = run_sdk(broken(reference_app(), "per_turn"), ids)
    verdicts(results, ids, Verdict.FAIL)


@pytest.mark.timeout(120)
def test_data_after_a_suspension_is_caught() -> None:
    results = run_sdk(broken(reference_app(), "trailing_end"), ["SDK-101", "SDK-108"])
    verdicts(results, ["SDK-101", "SDK-108"], Verdict.FAIL)
    assert "WIRE-STREAM-9" in results["SDK-108"].message


@pytest.mark.timeout(120)
def test_skipped_resume_check_is_caught() -> None:
    results = run_sdk(broken(reference_app(), "resume_rewrite"), ["SDK-102"])
    verdicts(results, ["SDK-102"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_unbounded_wait_and_ignored_eof_are_caught() -> None:
    # the endpoint waits 30 s for a next turn while the kit was told 1 s: SDK-109 must fail
    results = run_sdk(reference_app(stream_idle_seconds=30.0), ["SDK-109"], stream_idle_s=1.0)
    verdicts(results, ["SDK-109"], Verdict.FAIL)
    # a platform that never passes the end of the request body on: the response must still end
    results = run_sdk(broken(reference_app(stream_idle_seconds=30.0), "buffering"), ["SDK-107"])
    verdicts(results, ["SDK-107"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_sessions_only_after_the_exchange_are_non_strict() -> None:
    results = run_sdk(broken(reference_app(), "late_sessions"), ["SDK-110", "SDK-101"])
    verdicts(results, ["SDK-110"], Verdict.NON_STRICT)
    verdicts(results, ["SDK-101"], Verdict.PASS)


@pytest.mark.timeout(120)
def test_split_turn_responses_are_non_strict() -> None:
    results = run_sdk(broken(reference_app(), "split_chunks"), ["SDK-113", "SDK-101"])
    verdicts(results, ["SDK-113"], Verdict.NON_STRICT)
    verdicts(results, ["SDK-101"], Verdict.PASS)


@pytest.mark.timeout(120)
def test_refusing_request_response_and_any_version_are_caught() -> None:
    results = run_sdk(broken(reference_app(), "stream_only"), ["SDK-111"])
    verdicts(results, ["SDK-111"], Verdict.FAIL)
    results = run_sdk(broken(reference_app(), "any_version"), ["SDK-114"])
    verdicts(results, ["SDK-114"], Verdict.FAIL)


# ====================================================================== wire half

STREAM_WIRE = ["WIRE-S-1[01]?"]


@pytest.mark.timeout(120)
def test_reference_server_passes_streaming_wire_cases(tmp_path: Path) -> None:
    for mode in (Mode.DEFAULT, Mode.ALWAYS_SUSPEND):
        results = run_wire(tmp_path / mode.value, STREAM_WIRE, mode)
        assert len(results) >= 14
        bad = {k: (r.verdict.value, r.message) for k, r in results.items()
               if r.verdict not in (Verdict.PASS, Verdict.SKIPPED)}
        assert not bad, (mode, bad)
        assert results["WIRE-S-101"].verdict is Verdict.PASS


def test_a_server_without_streaming_gets_unimplemented() -> None:
    from conformance.registry import select
    from conformance.runner import run_case

    caps = frozenset({"wire.durable_v1"})
    target = Target("no-streaming", "http://127.0.0.1:9", "http://127.0.0.1:9", None, caps)
    r = asyncio.run(run_case(select(["WIRE-S-100"])[0], target, Mode.DEFAULT))
    assert r.verdict is Verdict.UNIMPLEMENTED and "wire.streaming" in r.message


def streams_to_request_response(rt: Runtime) -> None:
    orig = rt._open_exchange

    def open_exchange(effect: Any) -> Any:
        ex = orig(effect)
        ex.streaming = True
        return ex

    rt._open_exchange = open_exchange  # type: ignore[method-assign]


def never_streams(rt: Runtime) -> None:
    import dataclasses

    rt.config = dataclasses.replace(rt.config, streaming=False)


def full_journal_on_stream(rt: Runtime) -> None:
    """Continuations are written as full-journal turns (resume_from 0) on the open stream."""
    import dataclasses

    orig = rt._turn_part

    async def turn_part(effect: Any) -> Any:
        if effect.start.resume_from > 0:
            start = dataclasses.replace(effect.start, resume_from=0, resume_attempt_id=None)
            effect = dataclasses.replace(effect, start=start)
        return await orig(effect)

    rt._turn_part = turn_part  # type: ignore[method-assign]


@pytest.mark.timeout(120)
def test_streaming_to_a_request_response_deployment_is_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-111"], bug=streams_to_request_response)
    verdicts(results, ["WIRE-S-111"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_declared_streaming_that_never_streams_is_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-100", "WIRE-S-101", "WIRE-S-111"], bug=never_streams)
    verdicts(results, ["WIRE-S-100", "WIRE-S-101"], Verdict.FAIL)
    verdicts(results, ["WIRE-S-111"], Verdict.PASS)


@pytest.mark.timeout(120)
def test_full_journal_turns_on_the_stream_are_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-101", "WIRE-S-110"], bug=full_journal_on_stream)
    verdicts(results, ["WIRE-S-101", "WIRE-S-110"], Verdict.FAIL)
    assert "WIRE-STREAM-5" in results["WIRE-S-101"].message


@pytest.fixture
def body_kept_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request body ends 5 s late after a turn that ends the stream."""
    orig_finish = invoker_mod.Exchange.finish

    async def end_body(self: Any) -> None:
        return None

    async def finish(self: Any) -> None:
        await asyncio.sleep(5.0)
        await orig_finish(self)

    monkeypatch.setattr(invoker_mod.Exchange, "_end_body", end_body)
    monkeypatch.setattr(invoker_mod.Exchange, "finish", finish)


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("body_kept_open")
def test_request_body_kept_open_is_caught(tmp_path: Path) -> None:
    ids = ["WIRE-S-102", "WIRE-S-103", "WIRE-S-113"]
    results = run_wire(tmp_path, ids)
    verdicts(results, ids, Verdict.FAIL)


@pytest.fixture
def broken_turn_appended(monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn whose response ends or breaks before its terminator is taken as suspended there."""
    orig = invoker_mod.Exchange._frames

    async def frames(self: Any, conn: Any) -> Any:
        try:
            return await orig(self, conn)
        except invoker_mod.InvokeError:
            lines = [ln for ln in bytes(conn.body).split(b"\n")[:-1] if ln.strip()]
            msgs = []
            for ln in lines:
                with contextlib.suppress(Exception):
                    msgs.extend(decode_frames(ln + b"\n"))
            cids = [int(c) for m in msgs if (c := getattr(m, "completion_id", None))]
            if not cids:
                raise
            suspension = decode_frames(
                b'{"type":"suspension","awaiting":{"combinator":"first_completed","completion_ids":[%d]}}\n' % cids[-1])
            assert isinstance(suspension[0], SuspensionMessage)
            del conn.body[:]
            self.streaming = False
            return msgs + suspension

    monkeypatch.setattr(invoker_mod.Exchange, "_frames", frames)


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("broken_turn_appended")
def test_appending_a_failed_turn_is_caught(tmp_path: Path) -> None:
    ids = ["WIRE-S-104", "WIRE-S-105"]
    results = run_wire(tmp_path, ids)
    verdicts(results, ids, Verdict.FAIL)


@pytest.fixture
def abort_per_exchange(monkeypatch: pytest.MonkeyPatch) -> None:
    """The abort timeout counts from the exchange's first turn, not from each turn."""
    orig = invoker_mod.Exchange.turn

    async def turn(self: Any, part: bytes, timeout_s: float) -> Any:
        first = self.__dict__.setdefault("_kit_first", time.monotonic())
        return await orig(self, part, max(0.01, timeout_s - (time.monotonic() - first)))

    monkeypatch.setattr(invoker_mod.Exchange, "turn", turn)


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("abort_per_exchange")
def test_abort_timeout_per_exchange_is_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-107"])
    verdicts(results, ["WIRE-S-107"], Verdict.FAIL)


@pytest.fixture
def trailing_data_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Data after a terminator is ignored, and the connection is pooled anyway."""
    orig_frames = invoker_mod.Exchange._frames

    async def frames(self: Any, conn: Any) -> Any:
        body = conn.body
        for _ in range(1000):
            nl_term = _terminator_end(bytes(body))
            if nl_term is not None:
                tail = bytes(body[nl_term:])
                del body[nl_term:]
                msgs = await orig_frames(self, conn)
                del tail
                return msgs
            if conn.complete or conn.closed:
                break
            await conn.wait()
        return await orig_frames(self, conn)

    async def finish(self: Any) -> None:
        conn = self.conn
        if conn is None:
            return
        self.conn = None
        if self.failed:
            return
        if not self.body_ended:
            self.body_ended = True
            await conn.write(b"0\r\n\r\n")
        deadline = time.monotonic() + 5
        while not conn.complete and not conn.closed and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.wait(), 0.5)
        del conn.body[:]
        self.invoker._release(self.target, conn)

    monkeypatch.setattr(invoker_mod.Exchange, "_frames", frames)
    monkeypatch.setattr(invoker_mod.Exchange, "finish", finish)


def _terminator_end(data: bytes) -> int | None:
    import json

    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        with contextlib.suppress(ValueError):
            if json.loads(data[pos:nl]).get("type") in ("end", "suspension", "error", "resume_miss"):
                return nl + 1
        pos = nl + 1
    return None


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("trailing_data_accepted")
def test_accepting_data_after_a_terminator_is_caught(tmp_path: Path) -> None:
    ids = ["WIRE-S-108", "WIRE-S-109"]
    results = run_wire(tmp_path, ids)
    verdicts(results, ids, Verdict.FAIL)


def commits_lag(rt: Runtime) -> None:
    """The store acknowledges a commit at once and makes it durable 0.3 s later (in order)."""
    orig = rt.store.commit
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def worker() -> None:
        while True:
            batch = await queue.get()
            await asyncio.sleep(0.3)
            await orig(batch)

    task = asyncio.get_running_loop().create_task(worker())
    rt.__dict__["_kit_lag_worker"] = task

    async def commit(batch: Any) -> None:
        await queue.put(batch)

    rt.store.commit = commit  # type: ignore[method-assign,assignment]


@pytest.mark.timeout(120)
def test_continuation_before_durability_is_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-110"], bug=commits_lag)
    verdicts(results, ["WIRE-S-110"], Verdict.FAIL)


@pytest.fixture
def split_request_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Continuation turns are written in two chunks."""
    orig = invoker_mod.Exchange.turn

    async def turn(self: Any, part: bytes, timeout_s: float) -> Any:
        if self.conn is not None and self.streaming and self.can_continue and len(part) > 4:
            half = len(part) // 2
            await self.conn.write(b"%x\r\n" % half + part[:half] + b"\r\n")
            await asyncio.sleep(0.05)
            part = part[half:]
        return await orig(self, part, timeout_s)

    monkeypatch.setattr(invoker_mod.Exchange, "turn", turn)


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("split_request_turns")
def test_split_request_turns_are_non_strict(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-112"])
    verdicts(results, ["WIRE-S-112"], Verdict.NON_STRICT)
