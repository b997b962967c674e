"""Each fault kind of the proxy, against a hypercorn-served echo app."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest

from fuzz.clock import Clock
from fuzz.proxy import FAULT_KINDS, FaultPolicy, FaultProxy


def _body(extra: list[dict[str, Any]] | None = None) -> bytes:
    lines = [
        {"type": "start", "invocation_id": "inv_1", "journal_length": 3, "resume_from": 0},
        {"type": "input", "index": 0, "parameter": {"value": {"id": "p7"}}},
        {"type": "run", "index": 1, "completion_id": 1, "name": "p7#0"},
        {"type": "completion", "index": 2, "completion_id": 1, "value": {"exec": 1}},
        *(extra or []),
    ]
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


def _run(echo_port: int, kind: str | None, body: bytes | None = None,
         targeted: bool = False) -> tuple[Any, list[dict[str, Any]], FaultProxy, float]:
    async def go() -> tuple[Any, list[dict[str, Any]], FaultProxy, float]:
        async with httpx.AsyncClient() as c:
            before = len((await c.get(f"http://127.0.0.1:{echo_port}/log")).json())
        if targeted:
            policy = FaultPolicy(seed=1, probability=0.0, targeted_probability=1.0, max_delay_s=0.3)
        else:
            policy = FaultPolicy(seed=1, probability=1.0 if kind else 0.0,
                                 kinds=(kind,) if kind else ("drop_request",), max_delay_s=0.3)
        proxy = FaultProxy(echo_port, policy, Clock())
        url = await proxy.start()
        t0 = time.monotonic()
        result: Any
        try:
            async with httpx.AsyncClient(timeout=5) as c:
                r = await c.post(f"{url}/invoke/Svc/h", content=body or _body())
                result = (r.status_code, r.content)
        except httpx.HTTPError as exc:
            result = exc
        elapsed = time.monotonic() - t0
        await asyncio.sleep(0.4)  # let a duplicate land
        await proxy.stop()
        async with httpx.AsyncClient() as c:
            log = (await c.get(f"http://127.0.0.1:{echo_port}/log")).json()[before:]
        return result, log, proxy, elapsed

    return asyncio.run(go())


def test_no_fault_forwards_and_observes(echo_port: int) -> None:
    result, log, proxy, _ = _run(echo_port, None)
    assert result == (200, _body())
    assert log == [{"path": "/invoke/Svc/h", "len": len(_body()), "complete": True}]
    ex = proxy.exchanges[0]
    assert ex["owner"] == "p7" and ex["invocation_id"] == "inv_1"
    assert ex["completions"] == {"p7#0": {"value": {"exec": 1}}}
    assert ex["t_end"] is not None and ex["t_end"] >= ex["t_start"]


@pytest.mark.parametrize("kind", ["drop_request", "reset_request"])
def test_request_never_arrives_whole(echo_port: int, kind: str) -> None:
    result, log, proxy, _ = _run(echo_port, kind)
    assert isinstance(result, httpx.HTTPError)
    assert not any(e["complete"] for e in log)
    assert proxy.faults[kind] == 1


def test_duplicate_request_arrives_twice(echo_port: int) -> None:
    result, log, proxy, _ = _run(echo_port, "duplicate_request")
    assert result == (200, _body())
    assert len(log) == 2
    assert [e.get("duplicate_of") for e in proxy.exchanges] == [None, 1]


def test_truncate_request(echo_port: int) -> None:
    result, log, _, _ = _run(echo_port, "truncate_request")
    assert result[0] == 200 and len(result[1]) < len(_body())
    assert log[0]["complete"] and log[0]["len"] < len(_body())


@pytest.mark.parametrize("kind", ["drop_response", "reset_response"])
def test_response_lost_after_the_sdk_ran(echo_port: int, kind: str) -> None:
    result, log, _, _ = _run(echo_port, kind)
    assert isinstance(result, httpx.HTTPError)
    assert log and log[0]["complete"]


def test_truncate_response(echo_port: int) -> None:
    result, _log, _, _ = _run(echo_port, "truncate_response")
    assert result[0] == 200 and 0 < len(result[1]) < len(_body())
    assert _body().startswith(result[1])


@pytest.mark.parametrize("kind", ["delay_request", "delay_response"])
def test_delays(echo_port: int, kind: str) -> None:
    result, _, _, elapsed = _run(echo_port, kind)
    assert result == (200, _body())
    policy = FaultPolicy(seed=1, probability=1.0, kinds=(kind,), max_delay_s=0.3)
    assert elapsed >= policy.decide(0)[1] * 0.9


def test_targeted_run_proposal_loss(echo_port: int) -> None:
    body = _body([{"type": "propose_run_completion", "completion_id": 2, "value": 1}])
    result, log, proxy, _ = _run(echo_port, None, body=body, targeted=True)
    assert isinstance(result, httpx.HTTPError)
    assert proxy.faults["lose_run_proposal"] == 1 and log[0]["complete"]


def test_targeted_suspension_loss(echo_port: int) -> None:
    body = _body([{"type": "suspension", "awaiting": {"completion_ids": [2]}}])
    result, _, proxy, _ = _run(echo_port, None, body=body, targeted=True)
    assert isinstance(result, httpx.HTTPError)
    assert proxy.faults["lose_suspension"] == 1


def test_decisions_are_seeded() -> None:
    a = [FaultPolicy(seed=4).decide(n) for n in range(200)]
    assert a == [FaultPolicy(seed=4).decide(n) for n in range(200)]
    kinds = {k for k, _ in a if k}
    assert kinds and kinds <= set(FAULT_KINDS)


def test_observer_uses_the_stored_sleep_deadline() -> None:
    from fuzz.proxy import Observer

    def frames(*objs: dict[str, Any]) -> bytes:
        return b"".join(orjson.dumps(o) + b"\n" for o in objs)

    obs = Observer()
    start = {"type": "start", "invocation_id": "inv_9", "journal_length": 2, "resume_from": 0}
    sleep = {"type": "sleep", "index": 1, "completion_id": 4}
    obs.response("inv_9", frames({**sleep, "wake_up_time_ms": 200}))
    obs.response("inv_9", frames({**sleep, "wake_up_time_ms": 100}))  # a stale duplicate's
    assert obs.sleeps["inv_9"][4] == 100  # the earliest proposal until a journal says
    rec: dict[str, Any] = {}
    obs.request(frames(start, {"type": "input", "index": 0, "parameter": {"value": {"id": "p"}}},
                       {**sleep, "wake_up_time_ms": 150},
                       {"type": "completion", "index": 2, "completion_id": 4, "void": True}), rec)
    assert rec["timer_completions"] == [[4, 150]]
    obs.response("inv_9", frames({**sleep, "wake_up_time_ms": 50}))
    assert obs.sleeps["inv_9"][4] == 150


def test_partition_holds_then_drops(echo_port: int) -> None:
    async def go() -> None:
        proxy = FaultProxy(echo_port, FaultPolicy(seed=1, probability=0.0), Clock())
        url = await proxy.start()
        proxy.partition(0.3)
        t0 = time.monotonic()
        async with httpx.AsyncClient(timeout=5) as c:
            with pytest.raises(httpx.HTTPError):
                await c.post(f"{url}/invoke/Svc/h", content=_body())
            assert time.monotonic() - t0 >= 0.25
            r = await c.post(f"{url}/invoke/Svc/h", content=_body())  # healed
            assert r.status_code == 200
        assert proxy.partitioned == 1
        await proxy.stop()

    asyncio.run(go())


# ---------------------------------------------------------------------- streaming mode


def _turn(inv: str, n: int, answer: str = "suspension") -> bytes:
    """A turn's request part: ``start`` and the entries it announces."""
    start = {"type": "start", "invocation_id": inv, "attempt_id": f"att_{n}", "answer": answer,
             "journal_length": n + 2, "resume_from": 0 if n == 0 else n + 1}
    entries = ([{"type": "input", "index": 0, "parameter": {"value": {"id": "p9"}}},
                {"type": "run", "index": 1, "completion_id": 1, "name": "p9#0"}] if n == 0 else
               [{"type": "completion", "index": n + 1, "completion_id": 1, "value": {"exec": n}}])
    return b"".join(orjson.dumps(x) + b"\n" for x in [start, *entries])


async def _stream(port: int, turns: list[bytes]) -> tuple[list[bytes], str]:
    """Play the server's side of a streaming exchange: write each turn once the previous one's
    terminator arrived, then end the request body. Returns the turn responses and how the
    exchange ended: ``ok``, ``ended`` (the response ended early) or ``closed``."""
    import h11

    from fuzz.proxy import _take_turn_response

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /invoke/Stream/h HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\n"
                 b"transfer-encoding: chunked\r\n\r\n")
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="POST", target="/", headers=[("host", "x"), ("content-length", "0")]))
    conn.send(h11.EndOfMessage())
    got: list[bytes] = []
    buf = bytearray()

    async def event() -> Any:
        while (ev := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(await asyncio.wait_for(reader.read(65536), 5))
        return ev

    try:
        for t in [*turns, None]:
            writer.write(b"0\r\n\r\n" if t is None else b"%x\r\n" % len(t) + t + b"\r\n")
            await writer.drain()
            while True:
                ev = await event()
                if isinstance(ev, h11.Data):
                    buf += ev.data
                    if t is not None and (part := _take_turn_response(buf)) is not None:
                        got.append(part)
                        break
                elif isinstance(ev, h11.EndOfMessage):
                    done = t is None or (bool(got) and b'"end"' in got[-1])
                    return got, "ok" if done else "ended"
                elif not isinstance(ev, h11.Response):
                    return got, "closed"
    except (h11.ProtocolError, ConnectionError, OSError):
        return got, "closed"
    finally:
        writer.close()
    return got, "ok"


def _run_stream(echo_port: int, kind: str | None, turns: list[bytes],
                targeted: bool = False) -> tuple[list[bytes], str, list[dict[str, Any]], FaultProxy]:
    async def go() -> tuple[list[bytes], str, list[dict[str, Any]], FaultProxy]:
        async with httpx.AsyncClient() as c:
            before = len((await c.get(f"http://127.0.0.1:{echo_port}/log")).json())
        if targeted:
            policy = FaultPolicy(seed=1, probability=0.0, targeted_probability=1.0, max_delay_s=0.2)
        else:
            policy = FaultPolicy(seed=1, probability=1.0 if kind else 0.0,
                                 kinds=(kind,) if kind else ("drop_request",), max_delay_s=0.2)
        proxy = FaultProxy(echo_port, policy, Clock())
        await proxy.start()
        got, how = await _stream(proxy.port, turns)
        await asyncio.sleep(0.4)  # let a duplicate land
        await proxy.stop()
        async with httpx.AsyncClient() as c:
            log = (await c.get(f"http://127.0.0.1:{echo_port}/log")).json()[before:]
        return got, how, log, proxy

    return asyncio.run(go())


TWO_TURNS = [_turn("inv_s", 0), _turn("inv_s", 1, "end")]


def test_stream_relays_turn_by_turn(echo_port: int) -> None:
    got, how, log, proxy = _run_stream(echo_port, None, TWO_TURNS)
    assert how == "ok" and len(got) == 2
    assert b'"suspension"' in got[0]
    assert b'"end"' in got[1]
    assert [(e["path"], e["chunked"], e["turns"]) for e in log] == [("/invoke/Stream/h", True, 2)]
    assert [(e["mode"], e["turn"], e["attempt_id"]) for e in proxy.exchanges] == [
        ("stream", 0, "att_0"), ("stream", 1, "att_1")]
    assert all(e["t_end"] is not None and e["owner"] == "p9" for e in proxy.exchanges)
    assert proxy.exchanges[1]["completions"] == {"p9#0": {"value": {"exec": 1}}}
    assert proxy.exchanges[0]["response"] == "suspension" and proxy.streams == 1


@pytest.mark.parametrize("kind", ["drop_request", "reset_request"])
def test_stream_turn_never_arrives_whole(echo_port: int, kind: str) -> None:
    got, how, log, proxy = _run_stream(echo_port, kind, TWO_TURNS)
    assert got == [] and how == "closed"
    assert all(e["turns"] == 0 for e in log)
    assert proxy.mode_faults["stream"][kind] == 1 and proxy.mode_faults["request_response"][kind] == 0


def test_stream_truncated_turn_ends_the_request_body_mid_frame(echo_port: int) -> None:
    got, how, log, proxy = _run_stream(echo_port, "truncate_request", TWO_TURNS)
    assert log[0]["complete"] and log[0]["turns"] == 0  # the SDK saw a body that ends in a turn
    assert len(got) == 1 and b'"error"' in got[0] and how != "ok"
    assert proxy.mode_faults["stream"]["truncate_request"] == 1


def test_stream_duplicate_turn_goes_out_again_on_its_own_exchange(echo_port: int) -> None:
    got, how, log, proxy = _run_stream(echo_port, "duplicate_request", TWO_TURNS)
    assert how == "ok" and len(got) == 2
    assert sorted(e["chunked"] for e in log) == [False, False, True]  # the stream + 2 copies
    copies = [e for e in proxy.exchanges if e.get("duplicate_of")]
    assert len(copies) == 2 and all(e["mode"] == "request_response" for e in copies)


@pytest.mark.parametrize("kind", ["delay_request", "delay_response"])
def test_stream_delays_keep_the_content(echo_port: int, kind: str) -> None:
    got, how, _log, proxy = _run_stream(echo_port, kind, TWO_TURNS)
    assert how == "ok" and len(got) == 2
    assert proxy.mode_faults["stream"][kind] == 2


@pytest.mark.parametrize("kind", ["drop_response", "reset_response"])
def test_stream_answer_lost_after_the_sdk_ran_the_turn(echo_port: int, kind: str) -> None:
    got, how, log, _ = _run_stream(echo_port, kind, TWO_TURNS)
    assert got == [] and how == "closed"
    assert log[0]["turns"] == 1


def test_stream_truncated_answer_ends_cleanly_mid_frame(echo_port: int) -> None:
    got, how, log, _ = _run_stream(echo_port, "truncate_response", TWO_TURNS)
    assert got == [] and how == "ended"
    assert log[0]["turns"] == 1


@pytest.mark.parametrize("answer,kind", [("suspension", "lose_run_proposal")])
def test_stream_targeted_loss(echo_port: int, answer: str, kind: str) -> None:
    got, how, _, proxy = _run_stream(echo_port, None, [_turn("inv_t", 0, answer)], targeted=True)
    assert got == [] and how == "closed"
    assert proxy.mode_faults["stream"][kind] == 1


def test_prelude_runs_in_each_mode() -> None:
    policy = FaultPolicy(seed=3, probability=0.01)
    menu = [k for k in FAULT_KINDS if k not in ("lose_run_proposal", "lose_suspension")]
    rr = [policy.decide(n, "request_response")[0] for n in range(len(menu))]
    stream = [policy.decide(100 + n, "stream")[0] for n in range(len(menu))]
    assert sorted(k for k in rr if k) == sorted(menu) == sorted(k for k in stream if k)
