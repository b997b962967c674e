"""The ASGI endpoint (httpx.ASGITransport) and the Lambda-style handler."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

import reference_sdk as restate
from durable.protocol.framing import decode_frames, encode_frames
from durable.protocol.messages import (
    MANIFEST_CONTENT_TYPE,
    VOID,
    CompletionNotification,
    EndMessage,
    ErrorMessage,
    InputCommand,
    Message,
    OutputCommand,
    ResumeMissMessage,
    RunCommand,
    SleepCommand,
    StartMessage,
    SuspensionMessage,
    Value,
    invocation_content_type,
)
from durable.protocol.schemas import validate_body, validate_frames
from reference_sdk.endpoint import SessionStore

CT = invocation_content_type()


class Order(BaseModel):
    item: str
    qty: int


def services() -> list[Any]:
    svc = restate.Service("Greeter", description="says hello")

    @svc.handler()
    async def greet(ctx: restate.Context, name: str) -> str:
        return f"hello {name}"

    @svc.handler("noInput", invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=100), max_attempts=5, exponentiation_factor=2.0))
    async def no_input(ctx: restate.Context) -> None:
        await ctx.sleep(timedelta(seconds=1))

    obj = restate.VirtualObject("Cart")

    @obj.handler()
    async def add(ctx: restate.ObjectContext, order: Order) -> int:
        return order.qty

    @obj.handler(kind="shared")
    async def view(ctx: restate.ObjectSharedContext) -> list[str]:
        return []

    wf = restate.Workflow("Flow")

    @wf.main()
    async def run(ctx: restate.WorkflowContext, order: Order) -> bool:
        await ctx.run_typed("step", lambda: 1)
        return True

    @wf.handler("getStatus")
    async def status(ctx: restate.WorkflowSharedContext) -> str | None:
        return await ctx.get("status")

    return [svc, obj, wf]


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sdk")


def call(app: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with client(app) as c:
            return await c.request(method, path, **kw)

    return asyncio.run(go())


def invoke(app: Any, svc: str, handler: str, messages: list[Message]) -> list[Message]:
    r = call(app, "POST", f"/invoke/{svc}/{handler}", content=encode_frames(messages), headers={"content-type": CT})
    assert r.status_code == 200, r.text
    validate_frames(r.content)
    assert r.headers["content-type"] == CT
    return decode_frames(r.content)


def start(svc: str, handler: str, length: int, **kw: Any) -> StartMessage:
    return StartMessage(invocation_id=kw.pop("invocation_id", "inv_1"), service=svc, handler=handler,
                        attempt_id=kw.pop("attempt_id", "a1"), journal_length=length, **kw)


def test_discovery_manifest() -> None:
    app = restate.app(services=services())
    r = call(app, "GET", "/discover", headers={"accept": MANIFEST_CONTENT_TYPE})
    assert r.status_code == 200 and r.headers["content-type"] == MANIFEST_CONTENT_TYPE
    m = r.json()
    validate_body("discovery/manifest", m)
    # DISC-MAN-2: the ASGI app declares the streaming mode by default (restate-sdk's protocol="bidi")
    assert (m["protocolMode"], m["minProtocolVersion"], m["maxProtocolVersion"]) == ("BIDI_STREAM", 1, 1)
    by_name = {s["name"]: s for s in m["services"]}
    assert {n: s["ty"] for n, s in by_name.items()} == {"Greeter": "SERVICE", "Cart": "VIRTUAL_OBJECT", "Flow": "WORKFLOW"}
    greet, no_input = by_name["Greeter"]["handlers"]
    assert "ty" not in greet and by_name["Greeter"]["documentation"] == "says hello"
    assert greet["input"] == {"required": True, "contentType": "application/json", "jsonSchema": {"type": "string"}}
    assert greet["output"]["jsonSchema"] == {"type": "string"}
    assert no_input["input"] == {"required": False}
    assert (no_input["retryPolicyInitialInterval"], no_input["retryPolicyMaxAttempts"],
            no_input["retryPolicyExponentiationFactor"]) == (100, 5, 2.0)
    assert [h["ty"] for h in by_name["Cart"]["handlers"]] == ["EXCLUSIVE", "SHARED"]
    run, status = by_name["Flow"]["handlers"]
    assert (run["name"], run["ty"], status["name"], status["ty"]) == ("run", "WORKFLOW", "getStatus", "SHARED")
    assert run["input"]["jsonSchema"]["required"] == ["item", "qty"]


def test_protocol_option_sets_the_declared_mode() -> None:
    """DISC-MAN-2, DISC-MAN-12: restate-sdk's ``protocol`` option picks what the manifest declares."""
    modes = {}
    for protocol in ("bidi", "request_response"):
        app = restate.app(services=services(), protocol=protocol)
        m = call(app, "GET", "/discover").json()
        validate_body("discovery/manifest", m)
        modes[protocol] = m["protocolMode"]
    assert modes == {"bidi": "BIDI_STREAM", "request_response": "REQUEST_RESPONSE"}
    with pytest.raises(ValueError, match="protocol must be"):
        restate.app(services=services(), protocol="http3")


def test_the_tour_manifest_validates() -> None:
    from examples.tour import app as tour

    validate_body("discovery/manifest", orjson.loads(call(tour, "GET", "/discover").content))


def test_http_errors() -> None:
    app = restate.app(services=services())
    assert call(app, "POST", "/discover").status_code == 405
    assert call(app, "GET", "/discover", headers={"accept": "application/json"}).status_code == 415
    assert call(app, "GET", "/discover", headers={"accept": "text/html, */*;q=0.1"}).status_code == 200
    assert call(app, "GET", "/discover", headers={"accept": "application/*"}).status_code == 200
    assert call(app, "GET", "/invoke/Greeter/greet").status_code == 405
    assert call(app, "POST", "/invoke/Greeter/greet", content=b"", headers={"content-type": "application/json"}).status_code == 415
    r = call(app, "POST", "/invoke/Greeter/greet", content=b"",
             headers={"content-type": "application/vnd.durable.invocation.v9+ndjson"})
    assert r.status_code == 415 and "v1" in r.json()["message"]
    r = call(app, "POST", "/invoke/Nope/greet", content=b"", headers={"content-type": CT})
    assert r.status_code == 404 and r.json()["code"] == 404 and r.json()["name"] == "NOT_FOUND"
    validate_body("error", r.json())
    assert call(app, "GET", "/elsewhere").status_code == 404
    assert call(app, "GET", "/health").status_code == 404
    assert call(app, "POST", "/invoke/Greeter/greet/extra", content=b"", headers={"content-type": CT}).status_code == 404


def test_body_over_32_mib_is_413() -> None:
    app = restate.app(services=services())
    r = call(app, "POST", "/invoke/Greeter/greet", content=b"x" * (32 * 1024 * 1024 + 1), headers={"content-type": CT})
    assert r.status_code == 413


def test_protocol_violations_end_the_attempt_with_571() -> None:
    app = restate.app(services=services())
    r = call(app, "POST", "/invoke/Greeter/greet", content=b'{"type": "start"', headers={"content-type": CT})
    out = decode_frames(r.content)
    assert isinstance(out[-1], ErrorMessage) and out[-1].code == 571
    out = invoke(app, "Greeter", "greet", [start("Other", "greet", 1), InputCommand(0, parameter=Value("x"))])
    assert isinstance(out[-1], ErrorMessage) and out[-1].code == 571 and "path" in out[-1].message
    out = invoke(app, "Greeter", "greet", [start("Greeter", "greet", 2), InputCommand(0, parameter=Value("x"))])
    assert isinstance(out[-1], ErrorMessage) and out[-1].code == 571


def test_request_response_round_trip() -> None:
    app = restate.app(services=services())
    out = invoke(app, "Greeter", "greet", [start("Greeter", "greet", 1), InputCommand(0, parameter=Value("bob"))])
    assert out == [OutputCommand(1, result=Value("hello bob")), EndMessage()]


def test_nondeterminism_over_http_is_570_with_a_diff() -> None:
    app = restate.app(services=services())
    out = invoke(app, "Flow", "run", [
        start("Flow", "run", 2, key="k"),
        InputCommand(0, parameter=Value({"item": "a", "qty": 1})),
        RunCommand(1, completion_id=1, name="other-step"),
    ])
    err = out[-1]
    assert isinstance(err, ErrorMessage)
    assert (err.code, err.related_command_index, err.related_command_type) == (570, 1, "run")
    assert 'field name: expected "other-step", actual "step"' in err.message
    assert "expected:" in err.message and "actual:" in err.message


def test_warm_resume_hit_miss_and_bounds() -> None:
    app = restate.app(services=services(), max_sessions=2)

    async def go() -> None:
        async with client(app) as c:
            async def post(msgs: list[Message]) -> list[Message]:
                r = await c.post("/invoke/Greeter/noInput", content=encode_frames(msgs), headers={"content-type": CT})
                return decode_frames(r.content)

            first = await post([start("Greeter", "noInput", 1), InputCommand(0)])
            assert isinstance(first[0], SleepCommand) and isinstance(first[-1], SuspensionMessage)
            assert len(app.sessions) == 1
            miss = await post([start("Greeter", "noInput", 3, attempt_id="a2", resume_from=3, resume_attempt_id="a1"),
                               CompletionNotification(2, completion_id=1, result=VOID)][:1])
            assert miss[-1] == ResumeMissMessage() or isinstance(miss[-1], ErrorMessage)
            # a correct warm resume continues without replay
            first = await post([start("Greeter", "noInput", 1, attempt_id="b1"), InputCommand(0)])
            hit = await post([start("Greeter", "noInput", 3, attempt_id="b2", resume_from=2, resume_attempt_id="b1"),
                              CompletionNotification(2, completion_id=1, result=VOID)])
            assert hit == [OutputCommand(3, result=VOID), EndMessage()]
            assert len(app.sessions) == 0
            # unknown attempt: resume_miss
            miss = await post([start("Greeter", "noInput", 3, attempt_id="c2", resume_from=2, resume_attempt_id="zz"),
                               CompletionNotification(2, completion_id=1, result=VOID)])
            assert miss == [ResumeMissMessage()]
            for i in range(4):
                await post([start("Greeter", "noInput", 1, invocation_id=f"inv_{i}"), InputCommand(0)])
            assert len(app.sessions) == 2, "the session store is bounded by count"

    asyncio.run(go())


class _HeldSession:
    """Stands in for a suspended Session in the session store."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_session_store_drops_idle_sessions() -> None:
    now = [0.0]
    store = SessionStore(max_sessions=10, idle_seconds=5, clock=lambda: now[0])
    d = _HeldSession()
    store.put("inv", "a", d)  # type: ignore[arg-type]
    now[0] = 10
    assert store.take("inv", "a") is None and d.closed


def test_session_store_uses_one_timer_and_drops_by_invocation() -> None:
    now = [0.0]
    store = SessionStore(max_sessions=10, idle_seconds=5, clock=lambda: now[0])

    async def go() -> None:
        sessions = [_HeldSession() for _ in range(4)]
        for i, d in enumerate(sessions[:3]):
            now[0] = float(i)
            store.put(f"inv_{i}", "a", d)  # type: ignore[arg-type]
        timer = store._timer
        assert timer is not None and len(asyncio.get_running_loop()._scheduled) == 1  # type: ignore[attr-defined]
        store.put("inv_1", "b", sessions[3])  # type: ignore[arg-type]  # a newer attempt replaces it
        assert sessions[1].closed and len(store) == 3 and store._timer is timer
        now[0] = 5.5  # inv_0 (put at 0) is idle, inv_2 (2) and inv_1/b (2) are not
        store._on_timer()
        assert sessions[0].closed and not sessions[2].closed and len(store) == 2
        assert store._timer is not None  # the next run: when the oldest remaining goes idle
        now[0] = 8.0
        store._on_timer()
        assert len(store) == 0 and store._timer is None
        assert store.take("inv_2", "a") is None

    asyncio.run(go())


def test_lifespan() -> None:
    app = restate.app(services=services())
    sent: list[dict[str, Any]] = []
    msgs = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(msgs)

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_lambda_handler_with_api_gateway_events(monkeypatch: Any) -> None:
    from examples.workflows.signup_workflow import signup_workflow

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "signup")
    handler = restate.app(services=[signup_workflow])
    assert isinstance(handler, restate.LambdaEndpoint)

    body = encode_frames([
        StartMessage(invocation_id="inv_l", service="SignupWorkflow", handler="run", key="bob",
                     attempt_id="a1", journal_length=1),
        InputCommand(0, parameter=Value({"name": "Bob", "email": "bob@mail.com"})),
    ])
    event = {
        "httpMethod": "POST",
        "path": "/invoke/SignupWorkflow/run",
        "headers": {"Content-Type": CT},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    resp = handler(event, None)
    assert resp["statusCode"] == 200 and resp["isBase64Encoded"] is True
    out = decode_frames(base64.b64decode(resp["body"]))
    assert isinstance(out[0], RunCommand) and out[0].name == "create" and isinstance(out[-1], SuspensionMessage)
    v2 = {"requestContext": {"http": {"method": "GET"}}, "rawPath": "/discover", "headers": {}}
    d = handler(v2, None)
    assert d["statusCode"] == 200
    lambda_manifest = orjson.loads(base64.b64decode(d["body"]))
    assert lambda_manifest["services"][0]["name"] == "SignupWorkflow"
    assert lambda_manifest["protocolMode"] == "REQUEST_RESPONSE"  # DISC-MAN-12: a function platform buffers
    warm = handler({**event, "body": base64.b64encode(encode_frames([
        StartMessage(invocation_id="inv_l", service="SignupWorkflow", handler="run", key="bob", attempt_id="a2",
                     journal_length=3, resume_from=2, resume_attempt_id="a1"),
        CompletionNotification(2, completion_id=1, result=Value(True)),
    ])).decode()}, None)
    out = decode_frames(base64.b64decode(warm["body"]))
    assert isinstance(out[0], RunCommand) and out[0].name == "activate", out
    handler.app.sessions.clear()
    loop = handler.app._lambda_loop
    assert loop is not None
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def test_lambda_handler_helper() -> None:
    h = restate.lambda_handler(services())
    r = h({"httpMethod": "GET", "path": "/discover", "headers": {}, "body": None}, None)
    assert r["statusCode"] == 200


def test_missing_required_input_fails_the_attempt() -> None:
    app = restate.app(services=services())
    out = invoke(app, "Cart", "add", [start("Cart", "add", 1, key="k"), InputCommand(0, parameter=VOID)])
    assert len(out) == 1 and isinstance(out[0], ErrorMessage) and out[0].code == 500
    assert "invalid input" in out[0].message
