"""The seed tour, end to end, the way a user runs it.

Every curl command of the seed's Python tab is taken from the seed file itself and run with
real curl against `durable server` + `hypercorn examples.tour:app`; only the ports differ
(chosen free at run time). Each documented outcome is checked: submission, resubmission
refused, a delayed send not started before its delay, attach, the retrying Alice workflow
finishing once the failure line is removed and the service restarted, activities, queries,
signals resolved with the secret copied from the service log, events, timers sending reminders
until verified, retries exhausting then continuing, sagas compensating, cancellation.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from durable.protocol.audit import summarise

from .stack import ServerProcess, ServiceProcess, copy_examples, register, seed_commands, wait_until

pytestmark = pytest.mark.e2e


@dataclass
class CurlResult:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Tour:
    server: ServerProcess
    service: ServiceProcess
    tmp: Path
    commands: list[str]

    def rewrite(self, cmd: str) -> str:
        return cmd.replace("localhost:8080", f"localhost:{self.server.ingress_port}").replace(
            "localhost:9070", f"localhost:{self.server.admin_port}"
        )

    def command(self, prefix: str) -> str:
        """The next seed command starting with ``prefix`` (consumed in document order)."""
        for i, c in enumerate(self.commands):
            if c.startswith(prefix) or prefix in c:
                del self.commands[i]
                return c
        raise AssertionError(f"the seed has no (more) command matching {prefix!r}")

    def curl(self, cmd: str, timeout: float = 60) -> CurlResult:
        headers_file = self.tmp / "headers.txt"
        args = [*shlex.split(self.rewrite(cmd)), "-sS", "-D", str(headers_file), "-w", "\n%{http_code}"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=True).stdout
        body, _, status = out.rpartition("\n")
        headers: dict[str, str] = {}
        for line in headers_file.read_text().splitlines()[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return CurlResult(int(status), body, headers)

    def curl_background(self, cmd: str) -> subprocess.Popen[str]:
        args = [*shlex.split(self.rewrite(cmd)), "-sS", "-w", "\n%{http_code}"]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def invocation(self, inv_id: str) -> dict[str, object]:
        r = httpx.get(f"{self.server.admin}/invocations/{inv_id}", timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body, dict)
        return body

    def find_invocation(self, service: str, key: str) -> dict[str, object]:
        r = httpx.get(f"{self.server.admin}/invocations", params={"service": service, "key": key}, timeout=10)
        assert r.status_code == 200, r.text
        invs = r.json()["invocations"]
        assert invs, f"no invocation for {service}/{key}"
        return self.invocation(invs[0]["id"])

    def attach_workflow(self, name: str, key: str, timeout: float = 60) -> httpx.Response:
        return httpx.post(
            f"{self.server.ingress}/restate/attach",
            json={"target": "workflow", "workflowName": name, "workflowKey": key},
            timeout=timeout,
        )

    def logged_curl(self, workflow: str, key: str, after: int = 0) -> tuple[str, int]:
        """The verification curl command the service printed for ``workflow/key``."""
        pattern = re.compile(rf"curl localhost:8080/restate/call/{workflow}/{key}/verifyEmail --json '[^']*'")
        found: list[tuple[str, int]] = []

        def seen() -> bool:
            for m in pattern.finditer(self.service.log()):
                if m.start() >= after:
                    found.append((m.group(0), m.end()))
                    return True
            return False

        wait_until(seen, 30, f"the verification email for {workflow}/{key} in the service log")
        return found[0]


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tour]:
    tmp = tmp_path_factory.mktemp("tour")
    code = copy_examples(tmp / "code")
    server = ServerProcess(data_dir=tmp / "data", log_path=tmp / "server.log")
    service = ServiceProcess("examples.tour:app", log_path=tmp / "service.log", pythonpath=code)
    server.start()
    service.start()
    try:
        r = register(server.admin, service.url)
        assert r.status_code == 201, r.text
        yield Tour(server, service, tmp, seed_commands())
    finally:
        service.stop()
        server.stop()


def test_submit_workflow(tour: Tour) -> None:
    cmd = tour.command("curl localhost:8080/restate/call/SignupWorkflow/johndoe/run")
    r = tour.curl(cmd)
    assert (r.status, r.json()) == (200, True)
    assert r.headers["x-restate-id"].startswith("inv_")
    again = tour.curl(cmd)
    assert again.status == 409, again.body
    assert again.json()["code"] == 409


def test_delayed_send_does_not_start_before_its_delay(tour: Tour) -> None:
    r = tour.curl(tour.command("restate/send/SignupWorkflow/petewhite/run?delay=5m"))
    assert r.status == 202, r.body
    body = r.json()
    assert body["status"] == "Accepted" and body["invocationId"].startswith("inv_")
    time.sleep(1.0)
    inv = tour.invocation(body["invocationId"])
    assert inv["status"] == "scheduled", inv
    output = httpx.get(f"{tour.server.ingress}/restate/output/{body['invocationId']}", timeout=10)
    assert output.status_code == 470, output.text


def test_attach(tour: Tour) -> None:
    r = tour.curl(tour.command("curl localhost:8080/restate/attach"))
    assert (r.status, r.json()) == (200, True)


def test_programmatic_legacy_path(tour: Tour) -> None:
    # the seed's client.py: POST http://127.0.0.1:8080/SignupWorkflow/<key>/run with httpx
    url = f"{tour.server.ingress}/SignupWorkflow/user-123/run"
    r = httpx.post(url, json={"name": "John Doe", "email": "john@mail.com"}, timeout=60)
    assert (r.status_code, r.json()) == (200, True)


def test_alice_retries_until_the_fix(tour: Tour) -> None:
    waiting = tour.curl_background(tour.command("SignupWorkflow/alicedoe/run"))
    try:

        def retrying() -> bool:
            inv = tour.find_invocation("SignupWorkflow", "alicedoe")
            return int(inv.get("retry_count", 0)) >= 2 and "SIMULATED" in json.dumps(inv.get("last_failure"))

        wait_until(retrying, 30, "the Alice workflow retrying the welcome email", interval=0.3)
        assert waiting.poll() is None, "the call returned while the workflow was still retrying"
        # "remove the line fail_on_alice from send_welcome_email", then restart the service
        utils = tour.service.pythonpath / "examples" / "utils.py"  # type: ignore[operator]
        src = utils.read_text()
        fixed = re.sub(r"\n(\s*)fail_on_alice\(user\.name, \"send welcome email\"\)\n", "\n", src)
        assert fixed != src, "examples/utils.py lost the seed's fail_on_alice line"
        utils.write_text(fixed)
        tour.service.stop()
        tour.service.start()
        out, _ = waiting.communicate(timeout=60)
        body, _, status = out.rpartition("\n")
        assert (int(status), json.loads(body)) == (200, True)
        # put the simulated failure back: the retries and sagas sections rely on it
        utils.write_text(src)
        tour.service.stop()
        tour.service.start()
    finally:
        if waiting.poll() is None:
            waiting.kill()


def test_activities(tour: Tour) -> None:
    r = tour.curl(tour.command("SignupWithActivitiesWorkflow/carl/run"))
    assert (r.status, r.json()) == (200, True)
    inv = tour.find_invocation("SignupWithActivitiesWorkflow", "carl")
    assert "UserService" in json.dumps(inv["journal"]), "the workflow did not call UserService"


def test_queries(tour: Tour) -> None:
    r = tour.curl(tour.command("SignupWithQueriesWorkflow/janedoe/run"))
    assert (r.status, r.json()) == (200, True)
    status = httpx.post(f"{tour.server.ingress}/restate/call/SignupWithQueriesWorkflow/janedoe/getStatus", timeout=30)
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "created"
    assert status.json()["user"]["name"] == "Jane Doe"


def test_signals(tour: Tour) -> None:
    r = tour.curl(tour.command("restate/send/SignupWithSignalsWorkflow/johndoe/run"))
    assert r.status == 202 and r.json()["status"] == "Accepted"
    seed_verify = tour.command("SignupWithSignalsWorkflow/johndoe/verifyEmail")
    logged, _ = tour.logged_curl("SignupWithSignalsWorkflow", "johndoe")
    assert logged.split(" --json")[0] == seed_verify.split(" --json")[0]
    pending = httpx.post(
        f"{tour.server.ingress}/restate/output",
        json={"target": "workflow", "workflowName": "SignupWithSignalsWorkflow", "workflowKey": "johndoe"},
        timeout=10,
    )
    assert pending.status_code == 470, pending.text
    v = tour.curl(logged)
    assert v.status == 200, v.body
    done = tour.attach_workflow("SignupWithSignalsWorkflow", "johndoe")
    assert (done.status_code, done.json()) == (200, True)


def test_events(tour: Tour) -> None:
    r = tour.curl(tour.command("restate/send/SignupWithEventsWorkflow/johndoe/run"))
    assert r.status == 202
    w = tour.curl(tour.command("SignupWithEventsWorkflow/johndoe/waitForUserCreation"))
    assert (w.status, w.json()) == (200, "User created.")


def test_timers_send_reminders_until_verified(tour: Tour) -> None:
    r = tour.curl(tour.command("restate/send/SignupWithTimersWorkflow/johndoe/run"))
    assert r.status == 202
    seed_verify = tour.command("SignupWithTimersWorkflow/johndoe/verifyEmail")
    first, end = tour.logged_curl("SignupWithTimersWorkflow", "johndoe")
    assert first.split(" --json")[0] == seed_verify.split(" --json")[0]
    started = time.monotonic()
    reminder, _ = tour.logged_curl("SignupWithTimersWorkflow", "johndoe", after=end)  # waits up to 30 s
    assert time.monotonic() - started >= 10, "a reminder came before the 15 s timer could fire"
    assert reminder == first
    v = tour.curl(first)
    assert v.status == 200, v.body
    done = tour.attach_workflow("SignupWithTimersWorkflow", "johndoe")
    assert (done.status_code, done.json()) == (200, True)


def test_retries_exhaust_then_continue(tour: Tour) -> None:
    before = len(tour.service.log())
    r = tour.curl(tour.command("SignupWithRetriesWorkflow/alice/run"))
    assert (r.status, r.json()) == (200, True)
    log = tour.service.log()[before:]
    assert "Failed to send welcome email after retries" in log
    # RunOptions(max_attempts=3): the welcome email was tried exactly three times
    attempts = [line for line in log.splitlines() if line == "[👻 SIMULATED] Failed to send welcome email for Alice"]
    assert len(attempts) == 3, log
    inv = tour.find_invocation("SignupWithRetriesWorkflow", "alice")
    assert inv["status"] == "completed"


def test_sagas_compensate_in_reverse_order(tour: Tour) -> None:
    r = tour.curl(tour.command("SignupWithSagasWorkflow/alice/run"))
    assert (r.status, r.json()) == (200, False)
    inv = tour.find_invocation("SignupWithSagasWorkflow", "alice")
    names = [e.get("name") for e in inv["journal"] if e.get("type") == "run"]  # type: ignore[union-attr]
    assert names[:3] == ["create", "activate", "subscribe"], names
    assert names[3:] == ["unsubscribe", "deactivate", "delete"], names


def test_cancellation(tour: Tour) -> None:
    r = tour.curl(tour.command("restate/send/SignupWithSignalsWorkflow/eve/run"))
    assert r.status == 202
    inv_id = r.json()["invocationId"]
    tour.logged_curl("SignupWithSignalsWorkflow", "eve")  # it is now waiting on its promise
    cancel = tour.command("curl -X PATCH").replace("inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz", inv_id)
    c = tour.curl(cancel)
    assert c.status in (200, 202), c.body
    done = tour.attach_workflow("SignupWithSignalsWorkflow", "eve")
    assert done.status_code == 409, done.text
    wait_until(lambda: tour.invocation(inv_id)["status"] == "completed", 15, "the cancelled workflow to end")


def test_every_seed_command_was_run(tour: Tour) -> None:
    assert tour.commands == [], f"seed commands the tour test did not run: {tour.commands}"


def test_every_message_exchanged_validates_against_its_schema(tour: Tour) -> None:
    types, violations = summarise(tour.tmp / "wire-audit")
    assert violations == [], violations[:3]
    for kind in ("start", "input", "run", "completion", "suspension", "output", "end", "sleep",
                 "get_promise", "complete_promise", "call", "set_state", "get_state", "signal"):
        assert types[kind] > 0, f"no {kind!r} message was exchanged (audited: {dict(types)})"
