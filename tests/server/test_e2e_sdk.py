"""The server with the real reference SDK (the tour's examples), in both invocation modes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reference_server import ServerThread

from .fakesdk import AppThread

tour = pytest.importorskip("examples.tour")


@pytest.mark.parametrize("always_suspend", [False, True])
def test_tour_basics_on_the_reference_sdk(tmp_path: Path, always_suspend: bool) -> None:
    with AppThread(tour.app) as sdk, ServerThread(data_dir=tmp_path, always_suspend=always_suspend) as srv:
        admin = httpx.Client(base_url=srv.admin_url, timeout=30)
        c = httpx.Client(base_url=srv.ingress_url, timeout=30)
        assert admin.post("/deployments", json={"uri": sdk.url}).status_code == 201
        # ADM: the deployment reports the mode its manifest declares (DISC-MAN-2)
        assert [d["protocol_mode"] for d in admin.get("/deployments").json()["deployments"]] == ["BIDI_STREAM"]
        body = {"name": "John Doe", "email": "john@mail.com"}
        r = c.post("/restate/call/SignupWorkflow/johndoe/run", json=body)
        assert r.status_code == 200 and r.json() is True
        assert c.post("/restate/call/SignupWorkflow/johndoe/run", json=body).status_code == 409
        assert c.post("/restate/call/SignupWorkflow/bad/run", content=b"{not json",
                      headers={"content-type": "application/json"}).status_code == 400
        assert c.post("/restate/call/SignupWorkflow/bad/run", json=body).status_code == 200
        assert c.post("/restate/call/SignupWithActivitiesWorkflow/carl/run", json=body).json() is True
        sent = c.post("/restate/send/SignupWithEventsWorkflow/ev/run", json=body)
        assert sent.status_code == 202
        assert c.post("/restate/call/SignupWithEventsWorkflow/ev/waitForUserCreation").json() == "User created."
        eve = c.post("/restate/send/SignupWithSignalsWorkflow/eve/run", json=body).json()["invocationId"]
        r = admin.patch(f"/invocations/{eve}/cancel")
        assert r.status_code in (200, 202)
        out = c.get(f"/restate/attach/{eve}")
        assert out.status_code == 409
        detail = admin.get(f"/invocations/{eve}").json()
        assert detail["outcome"] == "cancelled"
        admin.close()
        c.close()
