"""The kit's vocabulary: verdicts, strengths, capabilities, cases and results.

Verdicts follow Autobahn/h2spec rather than plain pass/fail so that a report separates what is
broken (FAIL, a MUST violated) from what is merely not recommended (NON-STRICT, a SHOULD
violated) and from what the implementation says it does not offer (UNIMPLEMENTED: a capability
it did not declare). A case never turns an undeclared optional feature into a failure.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import CaseContext


class Verdict(enum.StrEnum):
    PASS = "PASS"
    NON_STRICT = "NON-STRICT"
    FAIL = "FAIL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    SKIPPED = "SKIPPED"


class Strength(enum.StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"


class Mode(enum.StrEnum):
    DEFAULT = "default"
    ALWAYS_SUSPEND = "always-suspend"
    SDK = "sdk"  # the SDK half: the kit plays the server


# Capabilities a target may declare. Cases that need one the target lacks are UNIMPLEMENTED.
CAPABILITIES: dict[str, str] = {
    "admin.get_invocation": "GET /invocations/{id} returns the invocation's status",
    "admin.cancel": "PATCH /invocations/{id}/cancel",
    "admin.kill": "PATCH /invocations/{id}/kill",
    "ingress.legacy_paths": "legacy /{svc}[/{key}]/{handler}[/send] ingress paths",
    "ingress.input_validation": "input checked against the handler's schema before acceptance (400)",
    "ingress.private_handlers": "handlers marked ingress-private are refused at the ingress",
    "ingress.awakeables": "POST /restate/awakeables/{id}/resolve|reject",
    "ingress.delayed_send": "?delay= on /restate/send",
    "ingress.body_limit": "request bodies over 32 MiB are refused with 413",
    "services.retry_policy": "per-service invocation retry policy from the manifest",
    "workflows": "workflow services (run once per key, promises, shared handlers)",
    "admin.state": "GET /services/{service}/state/{key} reads a key's stored state",
    "admin.list_invocations": "GET /invocations lists invocations with filters",
    "admin.purge": "PATCH /invocations/{id}/purge",
    "admin.openapi": "GET /openapi.json on the admin port",
    "services.retention": "manifest retention (idempotency, workflow completion) is applied and expired results are purged within seconds",
    "wire.durable_v1": "the server speaks this spec's NDJSON invocation protocol to SDK deployments (chapter 02)",
    "wire.streaming": "the server uses the streaming mode (spec/02 section 2.9) with deployments that declare "
                      "BIDI_STREAM: chunked request bodies, warm resumes written onto the open exchange",
    "process.control": "the kit can SIGKILL and restart the server and the services (stacks it started itself)",
}


class CaseFailure(Exception):
    """Raised by a case to end it with a verdict other than PASS."""

    def __init__(self, verdict: Verdict, message: str) -> None:
        super().__init__(message)
        self.verdict = verdict
        self.message = message


CaseFn = Callable[["CaseContext"], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    requirements: tuple[str, ...]
    fn: CaseFn
    strength: Strength = Strength.MUST
    capabilities: tuple[str, ...] = ()
    modes: tuple[Mode, ...] = (Mode.DEFAULT, Mode.ALWAYS_SUSPEND)
    category: str = ""
    timeout_s: float = 30.0
    exclusive: bool = False  # runs alone, after the others (it restarts processes)

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


@dataclass
class WireEntry:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "request_headers": self.request_headers,
            "request_body": self.request_body,
            "status": self.status,
            "response_headers": self.response_headers,
            "response_body": self.response_body,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


@dataclass
class CaseResult:
    case: Case
    mode: Mode
    verdict: Verdict
    duration_s: float
    message: str = ""
    wire_log: list[WireEntry] = field(default_factory=list)
    explained: str | None = None  # a profile's reason for a deliberate difference
    excluded: bool = False  # listed in the exclusions file

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.case.id,
            "title": self.case.title,
            "mode": self.mode.value,
            "requirements": list(self.case.requirements),
            "strength": self.case.strength.value,
            "verdict": self.verdict.value,
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "wire_log": [w.to_json() for w in self.wire_log],
        }
        if self.explained:
            out["profile_reason"] = self.explained
        if self.excluded:
            out["excluded"] = True
        return out
