"""Record the tour page: run every section of the seed tour on our stack, paste the outputs.

Why a script: docs/guides/tour.md promises real outputs, and outputs drift as the stack
changes. This starts ``durable server`` and ``hypercorn examples.tour:app`` on free loopback
ports (in a private copy of ``examples/``, because the durable-execution section edits
``utils.py`` as the tour tells users to), runs each section's commands, maps the ports back to
the defaults (8080, 9070, 9080) and renders ``docs/tools/tour.template.md`` into
``docs/guides/tour.md``: ``{{N}}`` is the N-th recorded command with its output, ``{{N|log}}``
only the output (service logs). Every wait is bounded; both processes are stopped by pid.

    python docs/tools/record_tour.py     # about a minute; needs curl
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.e2e.stack import free_port, wait_until  # noqa: E402

Record = dict[str, str]
VERIFY_RE = re.compile(r"(curl localhost:8080/restate/call/\S+/verifyEmail --json '[^']*')")
ALICE_FAILURE = '    fail_on_alice(user.name, "send welcome email")\n'


class Tour:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {"8080": free_port(), "9070": free_port(), "9080": free_port()}
        self.admin = f"http://127.0.0.1:{self.ports['9070']}"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "110", "NO_COLOR": "1", "TERM": "dumb"}
        self.records: list[Record] = []
        self.log = tmp / "service.log"
        self.server: subprocess.Popen[bytes] | None = None
        self.service: subprocess.Popen[bytes] | None = None

    # -- ports: commands are written with the defaults, run with the real ones
    def real(self, text: str) -> str:
        for default, port in self.ports.items():
            text = text.replace(f"localhost:{default}", f"localhost:{port}").replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
        return text

    def shown(self, text: str) -> str:
        for default, port in self.ports.items():
            text = text.replace(f"localhost:{port}", f"localhost:{default}").replace(f"127.0.0.1:{port}", f"127.0.0.1:{default}")
        return text.replace(str(self.tmp), ".")

    def record(self, cmd: str, output: str) -> str:
        self.records.append({"cmd": cmd, "output": self.shown(output).rstrip()})
        return output

    def sh(self, cmd: str, timeout: float = 60) -> str:
        real = self.real(cmd)
        if real.startswith("durable "):  # admin CLI commands: point them at our admin port
            group, sub, *rest = real.split(" ", 3)[1:]
            real = " ".join(["durable", group, sub, "--admin", self.admin, *rest])
        r = subprocess.run(real, shell=True, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.tmp)
        return self.record(cmd, r.stdout + (r.stderr if r.returncode else ""))

    # -- processes
    def start(self) -> None:
        with open(self.tmp / "server.log", "wb") as log:
            self.server = subprocess.Popen(
                ["durable", "server", "--data-dir", str(self.tmp / ".durable"),
                 "--ingress-port", str(self.ports["8080"]), "--admin-port", str(self.ports["9070"])],
                cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT, env=self.env,
            )
        wait_until(lambda: httpx.get(f"{self.admin}/health", timeout=1).status_code == 200, 30, "admin")
        self.start_service()

    def start_service(self) -> None:
        with open(self.log, "ab") as log:
            self.service = subprocess.Popen(
                [sys.executable, "-m", "hypercorn", "examples.tour:app", "--bind", f"127.0.0.1:{self.ports['9080']}"],
                cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT, env={**self.env, "PYTHONPATH": str(self.tmp)},
            )
        url = f"http://127.0.0.1:{self.ports['9080']}/discover"
        wait_until(lambda: httpx.get(url, timeout=1).status_code < 500, 30, "the tour's services")

    def restart_service(self) -> None:
        self.stop(self.service)
        self.start_service()

    @staticmethod
    def stop(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)

    def mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, mark: int, cmd: str = "(service log)", lines: int | None = None) -> str:
        data = self.log.read_bytes()[mark:].decode(errors="replace").splitlines()
        kept = [x for x in data if not x.startswith("[20") and "Running on" not in x][:lines]
        return self.record(cmd, "\n".join(kept))

    def find(self, target: str) -> str:
        invs = httpx.get(f"{self.admin}/invocations", timeout=10).json()["invocations"]
        return str(next(i["id"] for i in invs if i["target"] == target))


def run_sections(t: Tour) -> None:
    john = '{"name": "John Doe", "email": "john@mail.com"}'
    alice = '{"name": "Alice", "email": "alice@mail.com"}'
    # Getting started
    first = [x for x in (t.tmp / "server.log").read_text().splitlines() if x.startswith("ingress")]
    t.record("durable server", "\n".join(first))
    t.sh("durable deployments register http://127.0.0.1:9080")
    t.sh("durable services list")
    # Submitting workflows
    m = t.mark()
    t.sh(f"curl localhost:8080/restate/call/SignupWorkflow/johndoe/run --json '{john}'")
    t.log_since(m)
    t.sh(f"curl -i localhost:8080/restate/call/SignupWorkflow/johndoe/run --json '{john}'")
    t.sh('curl "localhost:8080/restate/send/SignupWorkflow/petewhite/run?delay=5m" '
         """--json '{"name": "Pete White", "email": "pete@mail.com"}'""")
    t.sh("durable invocations list --status scheduled")
    t.sh("""curl localhost:8080/restate/attach --json '{"target": "workflow", "workflowName": "SignupWorkflow", "workflowKey": "johndoe"}'""")
    # Durable execution: Alice's welcome email fails until the line is removed
    m = t.mark()
    call = f"curl localhost:8080/restate/call/SignupWorkflow/alicedoe/run --json '{alice}'"
    waiting = subprocess.Popen(t.real(call), shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    t.log_since(m, lines=8)
    t.sh("durable invocations list --status backing-off")
    t.sh(f"durable invocations describe {t.find('SignupWorkflow/alicedoe/run')}")
    utils = t.tmp / "examples" / "utils.py"
    original = utils.read_text()
    assert ALICE_FAILURE in original
    utils.write_text(original.replace(ALICE_FAILURE, "", 1))
    m = t.mark()
    t.restart_service()
    out, _ = waiting.communicate(timeout=60)
    t.record(call + "   # (the call that was waiting)", out)
    t.log_since(m, "(service log after the restart)")
    utils.write_text(original)
    t.restart_service()
    # In-line steps vs. separate activities
    m = t.mark()
    t.sh("""curl localhost:8080/restate/call/SignupWithActivitiesWorkflow/carl/run --json '{"name": "Carl", "email": "carl@mail.com"}'""")
    t.log_since(m)
    t.sh("durable invocations list --service UserService")
    # Querying workflow state
    t.sh("""curl localhost:8080/restate/call/SignupWithQueriesWorkflow/janedoe/run --json '{"name": "Jane Doe", "email": "jane@mail.com"}'""")
    t.sh("durable state get SignupWithQueriesWorkflow janedoe")
    t.sh("curl localhost:8080/restate/call/SignupWithQueriesWorkflow/janedoe/getStatus")
    # Signaling
    m = t.mark()
    t.sh(f"curl localhost:8080/restate/send/SignupWithSignalsWorkflow/johndoe/run --json '{john}'")
    time.sleep(1.5)
    log = t.log_since(m)
    t.sh("durable invocations list --service SignupWithSignalsWorkflow")
    t.sh(VERIFY_RE.findall(log)[-1])
    t.sh("""curl localhost:8080/restate/attach --json '{"target": "workflow", "workflowName": "SignupWithSignalsWorkflow", "workflowKey": "johndoe"}'""")
    # Workflow events
    t.sh(f"curl localhost:8080/restate/send/SignupWithEventsWorkflow/johndoe/run --json '{john}'")
    t.sh("curl localhost:8080/restate/call/SignupWithEventsWorkflow/johndoe/waitForUserCreation")
    # Timers and scheduling
    m = t.mark()
    t.sh(f"curl localhost:8080/restate/send/SignupWithTimersWorkflow/johndoe/run --json '{john}'")
    time.sleep(17)
    log = t.log_since(m, "(service log, 17 s later)")
    t.sh(f"durable invocations describe {t.find('SignupWithTimersWorkflow/johndoe/run')}")
    t.sh(VERIFY_RE.findall(log)[-1])
    # Retries
    m = t.mark()
    t.sh(f"curl localhost:8080/restate/call/SignupWithRetriesWorkflow/alice/run --json '{alice}'")
    t.log_since(m)
    # Sagas
    m = t.mark()
    t.sh(f"curl localhost:8080/restate/call/SignupWithSagasWorkflow/alice/run --json '{alice}'")
    t.log_since(m)
    t.sh(f"durable invocations describe {t.find('SignupWithSagasWorkflow/alice/run')}")
    # Cancellation
    eve = json.loads(t.sh("""curl localhost:8080/restate/send/SignupWithSignalsWorkflow/eve/run --json '{"name": "Eve", "email": "eve@mail.com"}'"""))
    time.sleep(1)
    t.sh(f"durable invocations cancel {eve['invocationId']}")
    t.sh(f"durable invocations describe {eve['invocationId']}")
    frank = json.loads(t.sh("""curl localhost:8080/restate/send/SignupWithSignalsWorkflow/frank/run --json '{"name": "Frank", "email": "frank@mail.com"}'"""))
    time.sleep(1)
    t.sh(f"curl -X PATCH http://localhost:9070/invocations/{frank['invocationId']}/cancel")
    t.sh(f"""curl localhost:8080/restate/attach --json '{{"target": "invocation", "invocationId": "{frank['invocationId']}"}}'""")


def cut_describe(text: str) -> str:
    """``durable invocations describe``: keep the summary box, cut the journal table's raw-entry column."""
    lines = text.splitlines()
    start = next((i for i, x in enumerate(lines) if x.startswith("┏")), None)
    if start is None:
        return text
    head = next(x for x in lines[start:] if x.startswith("┃"))
    cut = [i for i, ch in enumerate(head) if ch == "┃"][3]
    corners = {"┏": "┓", "┡": "┩", "└": "┘"}
    out = [x.rstrip() for x in lines[:start]]
    for line in lines[start:]:
        cell = line[: cut + 1]
        if cell and cell[0] in corners:
            cell = cell[:-1] + corners[cell[0]]
        if re.match(r"^│\s+│\s+│\s+│$", cell):
            continue  # continuation line of a wrapped raw entry
        out.append(cell)
    return "\n".join(out)


def block(rec: Record, with_command: bool) -> str:
    body = rec["output"]
    if rec["cmd"].startswith("durable invocations describe"):
        body = cut_describe(body)
    if not with_command:
        return f"```text\n{body}\n```"
    return f"```console\n$ {rec['cmd']}\n{body}\n```" if body else f"```console\n$ {rec['cmd']}\n```"


def render(records: list[Record]) -> str:
    template = (REPO / "docs" / "tools" / "tour.template.md").read_text()
    return re.sub(r"\{\{(\d+)(?:\|(\w+))?\}\}", lambda m: block(records[int(m.group(1))], m.group(2) != "log"), template)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="durable-tour-") as tmp:
        path = Path(tmp)
        shutil.copytree(REPO / "examples", path / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        tour = Tour(path)
        try:
            tour.start()
            run_sections(tour)
        finally:
            tour.stop(tour.service)
            tour.stop(tour.server)
    records: list[Any] = tour.records
    (REPO / "docs" / "guides" / "tour.md").write_text(render(records))
    print(f"wrote docs/guides/tour.md ({len(records)} outputs)")


if __name__ == "__main__":
    main()
