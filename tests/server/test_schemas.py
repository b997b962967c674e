"""Every body the server answers and every wire message it sends validates against spec/schemas."""

from __future__ import annotations

import httpx

from durable.protocol.schemas import validate_body, validate_message

from .conftest import Stack


def check(schema: str, r: httpx.Response) -> None:
    assert r.headers["content-type"].startswith("application/json"), r.headers
    validate_body(schema, r.json())


def test_admin_and_ingress_bodies_match_the_schemas(stack: Stack) -> None:
    a, c = stack.admin, stack.ingress
    check("admin/health-response", a.get("/health"))
    check("ingress/health-response", c.get("/restate/health"))
    check("admin/deployment-response", a.post("/deployments", json={"uri": stack.sdk_url}))
    check("admin/deployment-list", a.get("/deployments"))
    dep_id = a.get("/deployments").json()["deployments"][0]["id"]
    check("admin/deployment", a.get(f"/deployments/{dep_id}"))
    check("admin/service-list", a.get("/services"))
    check("admin/service", a.get("/services/Flow"))
    sent = c.post("/restate/send/Greeter/greet?delay=10ms", json="x")
    check("ingress/send-response", sent)
    inv = sent.json()["invocationId"]
    assert c.get(f"/restate/attach/{inv}").status_code == 200
    c.post("/restate/call/Counter/k/add", json=2)
    c.post("/restate/call/Greeter/boom", json=None)
    c.post("/restate/call/Greeter/steps", json=2)
    c.post("/restate/call/Greeter/callgreet", json="y")
    run = c.post("/restate/send/Flow/s1/run", json={"name": "n"}).json()["invocationId"]
    check("admin/state-response", a.get("/services/Counter/state/k"))
    listing = a.get("/invocations", params={"limit": 50})
    check("admin/invocation-list", listing)
    for summary in listing.json()["invocations"]:
        check("admin/invocation", a.get(f"/invocations/{summary['id']}"))
    check("admin/cancel-response", a.patch(f"/invocations/{run}/cancel"))
    c.get(f"/restate/attach/{run}")
    check("admin/purge-response", a.patch(f"/invocations/{run}/purge"))
    other = c.post("/restate/send/Flow/s2/run", json={"name": "n"}).json()["invocationId"]
    check("admin/kill-response", a.patch(f"/invocations/{other}/kill"))
    for r in (
        c.post("/restate/call/Nope/x", json=1),
        c.post("/restate/call/Greeter/boom", json=None),
        c.post("/restate/output", json={"target": "workflow", "workflowName": "Flow", "workflowKey": "zz"}),
        a.patch(f"/invocations/{other}/kill"),
        a.get("/nope"),
    ):
        assert r.status_code >= 400
        check("error", r)


def test_every_request_to_the_sdk_validates(stack: Stack) -> None:
    c = stack.ingress
    c.post("/restate/call/Greeter/steps", json=3)
    c.post("/restate/call/Greeter/callgreet", json="z")
    c.post("/restate/call/Counter/v/add", json=1)
    c.post("/restate/send/Flow/v/run", json={"name": "n"})
    c.post("/restate/call/Flow/v/signal", json="go")
    assert c.post("/restate/attach", json={"target": "workflow", "workflowName": "Flow", "workflowKey": "v"}).json() == "n:go"
    assert stack.sdk.requests
    for lines in stack.sdk.requests:
        for line in lines:
            validate_message(line)
