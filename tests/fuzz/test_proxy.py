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
