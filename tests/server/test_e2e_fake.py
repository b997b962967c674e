"""End to end over HTTP: ServerThread + the hand-written fake SDK (real sockets, hypercorn)."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path
from typing import Any

import httpx

from reference_server import ServerThread, ids

from .conftest import Stack
from .fakesdk import AppThread, build_app


def wait_until(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_calls_runs_sleeps_and_children(stack: Stack) -> None:
    c = stack.ingress
    r = c.post("/restate/call/Greeter/greet", json="bob")
    assert r.status_code == 200 and r.json() == "hello bob"
    assert r.headers["x-restate-id"].startswith("inv_")
    assert c.post("/restate/call/Greeter/steps", json=4).json() == 6
    t0 = time.monotonic()
    assert c.post("/restate/call/Greeter/nap", json=300).json() == "rested"
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 0.3 + 0.5, elapsed  # never early; fired promptly
    assert c.post("/restate/call/Greeter/callgreet", json="x").json() == "hello x"
    assert c.post("/Greeter/greet", json="legacy").json() == "hello legacy"


def test_retries_then_terminal_failure(stack: Stack) -> None:
    c = stack.ingress
    r = c.post("/restate/call/Greeter/flaky", json=2)
    assert r.status_code == 200 and r.json() == 3
    r = c.post("/restate/call/Greeter/boom", json=None)
    assert r.status_code == 418 and r.json() == {"code": 418, "message": "boom"}


def test_send_delay_and_attach(stack: Stack) -> None:
    c = stack.ingress
    r = c.post("/restate/send/Greeter/greet?delay=300ms", json="later")
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "Accepted" and "executionTime" in body
    inv = body["invocationId"]
    out = c.get(f"/restate/output/{inv}")
    assert out.status_code == 470 and out.json()["code"] == 470
    t0 = time.monotonic()
    assert c.get(f"/restate/attach/{inv}").json() == "hello later"
    assert time.monotonic() - t0 > 0.1
    assert c.get(f"/restate/output/{inv}").json() == "hello later"
    assert c.post("/restate/call/Greeter/greet?delay=1s", json="x").status_code == 400


def test_idempotency_key(stack: Stack) -> None:
    c = stack.ingress
    h = {"idempotency-key": "abc"}
    a = c.post("/restate/call/Greeter/steps", json=3, headers=h)
    b = c.post("/restate/call/Greeter/steps", json=99, headers=h)
    assert a.json() == b.json() == 3 and a.headers["x-restate-id"] == b.headers["x-restate-id"]
    s = c.post("/restate/send/Greeter/steps", json=3, headers=h)
    assert s.json()["status"] == "PreviouslyAccepted"
    r = c.post("/restate/attach", json={"target": "idempotentInvocation", "service": "Greeter",
                                        "handler": "steps", "idempotencyKey": "abc"})
    assert r.json() == 3


def test_workflow_lifecycle_promise_and_state(stack: Stack) -> None:
    c = stack.ingress
    bad = c.post("/restate/call/Flow/w1/run", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert c.post("/restate/call/Flow/w1/run", json={"nom": 1}).status_code == 400
    sent = c.post("/restate/send/Flow/w1/run", json={"name": "n"})
    assert sent.status_code == 202 and sent.json()["status"] == "Accepted"
    wf_id = sent.json()["invocationId"]
    assert wf_id == ids.workflow_invocation_id("Flow", "w1")
    again = c.post("/restate/send/Flow/w1/run", json={"name": "n"})
    assert again.json() == {"invocationId": wf_id, "status": "PreviouslyAccepted"}
    dup = c.post("/restate/call/Flow/w1/run", json={"name": "n"})
    assert dup.status_code == 409 and dup.json()["message"] == "the workflow method was already invoked"
    assert dup.headers["x-restate-id"] == wf_id
    assert c.post("/restate/call/Flow/w1/run", json={"name": "n"}, headers={"idempotency-key": "x"}).status_code == 400
    target = {"target": "workflow", "workflowName": "Flow", "workflowKey": "w1"}
    wait_until(lambda: c.post("/restate/call/Flow/w1/status", json=None).json() == "started")
    assert c.post("/restate/output", json=target).status_code == 470
    state = stack.admin.get("/services/Flow/state/w1").json()
    assert state == {"service": "Flow", "key": "w1", "state": {"status": {"value": "started"}}}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        attached = pool.submit(lambda: c.post("/restate/attach", json=target))
        time.sleep(0.1)
        assert c.post("/restate/call/Flow/w1/signal", json="yes").json() == "ok"
        assert attached.result(10).json() == "n:yes"
    assert c.post("/restate/call/Flow/w1/signal", json="again").status_code == 409  # already completed
    assert c.post("/restate/output", json=target).json() == "n:yes"
    assert c.post("/restate/attach", json={"target": "workflow", "workflowName": "Flow", "workflowKey": "nope"}).status_code == 404


def test_virtual_object_serializes_exclusive_handlers(stack: Stack) -> None:
    c = stack.ingress
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: c.post("/restate/call/Counter/k/add", json=1).json(), range(8)))
    assert sorted(results) == list(range(1, 9))
    assert c.get("/restate/call/Counter/k/get").json() == 8
    assert c.post("/restate/call/Counter/add", json=1).status_code == 400
    assert c.post("/restate/call/Greeter/k/greet", json=1).status_code == 400


def test_awakeable_resolve(stack: Stack, tmp_path: Path) -> None:
    c = stack.ingress
    inv = c.post("/restate/send/Greeter/awake", json=None).json()["invocationId"]
    ledger = tmp_path / "ledger.txt"
    line = wait_until(lambda: ledger.exists() and [x for x in ledger.read_text().splitlines() if x.startswith("awakeable")])
    awk = line[0].split()[1]
    assert c.post("/restate/awakeables/awk_bad/resolve", json=1).status_code == 400
    assert c.post(f"/restate/awakeables/{awk}/resolve", json={"ok": True}).status_code == 202
    assert c.get(f"/restate/attach/{inv}").json() == {"ok": True}
    assert c.post(f"/restate/awakeables/{awk}/resolve", json=1).status_code == 404


def test_ingress_errors(stack: Stack) -> None:
    c = stack.ingress
    assert c.post("/restate/call/Nope/h", json=1).status_code == 404
    assert c.post("/restate/call/Greeter/nope", json=1).status_code == 404
    assert c.put("/restate/call/Greeter/greet", json=1).status_code == 405
    r = c.post("/restate/call/Greeter/greet", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["code"] == 415
    assert c.post("/restate/send/Greeter/greet?delay=P1Y", json=1).status_code == 400
    assert c.get("/restate/attach/not-an-id").status_code == 400
    assert c.get("/restate/attach/inv_1234567").status_code == 404
    assert c.post("/restate/attach", json={"target": "nope"}).status_code == 400
    assert c.get("/restate/health").json()["status"] == "ok"
    big = c.post("/restate/call/Greeter/greet", content=b"1" * (32 * 1024 * 1024 + 10),
                 headers={"content-type": "application/json"})
    assert big.status_code == 413


def test_admin_api(stack: Stack) -> None:
    a = stack.admin
    assert a.get("/health").json()["status"] == "ok"
    again = a.post("/deployments", json={"uri": stack.sdk_url})
    assert again.status_code == 200
    assert a.post("/deployments", json={"uri": "ftp://x"}).status_code == 400
    assert a.post("/deployments", json={"uri": "http://127.0.0.1:1"}).status_code == 400
    assert a.post("/deployments", json={"nope": 1}).status_code == 400
    assert a.post("/deployments", content=b"{bad", headers={"content-type": "application/json"}).status_code == 400
    names = {s["name"] for s in a.get("/services").json()["services"]}
    assert {"Greeter", "Counter", "Flow", "Ledger"} <= names
    assert a.get("/services/Flow").json()["ty"] == "Workflow"
    assert a.get("/services/Nope").status_code == 404
    assert a.get("/services/Greeter/state/k").status_code == 400
    inv = stack.ingress.post("/restate/call/Greeter/steps", json=2).headers["x-restate-id"]
    detail = a.get(f"/invocations/{inv}").json()
    assert detail["status"] == "completed" and detail["outcome"] == "success"
    runs = [e for e in detail["journal"] if e["type"] == "run"]
    assert [e["name"] for e in runs] == ["s0", "s1"] and all(e["completed"] for e in runs)
    listed = a.get("/invocations", params={"service": "Greeter", "status": "completed"}).json()["invocations"]
    assert inv in {i["id"] for i in listed}
    assert a.get("/invocations", params={"status": "weird"}).status_code == 400
    assert a.get("/invocations/inv_1234567").status_code == 404
    assert a.patch(f"/invocations/{inv}/cancel").status_code == 409
    assert a.patch(f"/invocations/{inv}/kill").status_code == 409
    assert a.patch(f"/invocations/{inv}/purge").json() == {"invocation_id": inv, "status": "purged"}
    assert a.get(f"/invocations/{inv}").status_code == 404
    assert a.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert a.get("/nope").status_code == 404


def test_cancel_and_kill(stack: Stack) -> None:
    c, a = stack.ingress, stack.admin
    run = c.post("/restate/send/Flow/c1/run", json={"name": "n"}).json()["invocationId"]
    wait_until(lambda: a.get(f"/invocations/{run}").json()["status"] == "suspended")
    assert a.patch(f"/invocations/{run}/cancel").json() == {"invocation_id": run, "status": "cancel_requested"}
    r = c.get(f"/restate/attach/{run}")
    assert r.status_code == 409 and r.json()["message"] == "cancelled"
    assert a.get(f"/invocations/{run}").json()["outcome"] == "cancelled"
    run2 = c.post("/restate/send/Flow/c2/run", json={"name": "n"}).json()["invocationId"]
    assert a.patch(f"/invocations/{run2}/kill").json() == {"invocation_id": run2, "status": "killed"}
    assert c.get(f"/restate/attach/{run2}").json()["message"] == "killed"
    later = c.post("/restate/send/Greeter/greet?delay=1h", json="x").json()["invocationId"]
    assert a.patch(f"/invocations/{later}/cancel").json()["status"] == "cancelled"
    assert a.patch(f"/invocations/{later}/purge").status_code == 200


def test_restart_keeps_timers_workflows_and_results(tmp_path: Path) -> None:
    sdk = build_app()
    with AppThread(sdk) as app:
        with ServerThread(data_dir=tmp_path / "d") as srv:
            httpx.post(srv.admin_url + "/deployments", json={"uri": app.url})
            nap = httpx.post(srv.ingress_url + "/restate/send/Greeter/nap", json=700).json()["invocationId"]
            delayed = httpx.post(srv.ingress_url + "/restate/send/Greeter/greet?delay=500ms", json="d").json()["invocationId"]
            wf = httpx.post(srv.ingress_url + "/restate/send/Flow/r/run", json={"name": "r"}).json()["invocationId"]
            done = httpx.post(srv.ingress_url + "/restate/call/Greeter/greet", json="z").headers["x-restate-id"]
            time.sleep(0.2)
        with ServerThread(data_dir=tmp_path / "d") as srv:
            c = httpx.Client(base_url=srv.ingress_url, timeout=20)
            assert c.get(f"/restate/attach/{nap}").json() == "rested"
            assert c.get(f"/restate/attach/{delayed}").json() == "hello d"
            assert c.get(f"/restate/output/{done}").json() == "hello z"
            assert c.post("/restate/call/Flow/r/run", json={"name": "r"}).status_code == 409
            assert c.post("/restate/call/Flow/r/signal", json="go").json() == "ok"
            assert c.get(f"/restate/attach/{wf}").json() == "r:go"
            c.close()


def test_always_suspend_mode(tmp_path: Path) -> None:
    sdk = build_app()
    with AppThread(sdk) as app, ServerThread(data_dir=tmp_path / "d", always_suspend=True) as srv:
        httpx.post(srv.admin_url + "/deployments", json={"uri": app.url})
        assert httpx.post(srv.ingress_url + "/restate/call/Greeter/steps", json=3, timeout=20).json() == 3
    starts = [req[0] for req in sdk.requests]
    assert all(s["resume_from"] == 0 for s in starts) and len(starts) == 4
