"""Speak the invoke protocol to an SDK endpoint: build journals, validate answers, play server.

``SdkContext`` extends the server-half :class:`~conformance.context.CaseContext` (same verdict
helpers and wire log); its target's ``ingress`` is the SDK endpoint URL. Every frame the SDK
writes is validated against ``spec/schemas`` (WIRE-MSG-7) before a case looks at it, so a
schema violation fails whichever case provoked it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from durable.protocol.messages import MANIFEST_CONTENT_TYPE, invocation_content_type
from durable.protocol.schemas import iter_message_errors

from ..context import CaseContext
from .stream import DuplexStream

COMMANDS = {
    "input", "output", "get_state", "get_state_keys", "set_state", "clear_state", "clear_all_state", "sleep", "run",
    "call", "send", "get_promise", "peek_promise", "complete_promise", "complete_awakeable", "send_signal",
    "attach_invocation", "get_invocation_output",
}
TERMINATORS = {"end", "suspension", "error", "resume_miss"}
RESULT_KEYS = ("value", "value_bytes", "void", "failure", "invocation_id")


def inp(value: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``input`` command (entry 0) carrying a JSON value (void for None)."""
    return {"type": "input", "index": 0, "parameter": {"void": True} if value is None else {"value": value},
            "headers": headers or {}}


def result_of(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: msg[k] for k in RESULT_KEYS if k in msg}


@dataclass
class Answer:
    status: int
    content_type: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""

    @property
    def commands(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") in COMMANDS]

    @property
    def proposals(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "propose_run_completion"]

    @property
    def terminator(self) -> dict[str, Any]:
        return self.frames[-1] if self.frames and self.frames[-1].get("type") in TERMINATORS else {}

    def command(self, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.commands if c["type"] == type_), None)


@dataclass
class Run:
    """The outcome of :meth:`SdkContext.drive`: the final journal, every answer, the output."""

    journal: list[dict[str, Any]]
    answers: list[Answer]
    output: dict[str, Any] | None
    errors: list[dict[str, Any]]


def check_frame(ctx: CaseContext, line: bytes, n: int) -> dict[str, Any]:
    """One response frame (without its line feed), checked: JSON object, schema, no null, not server-only."""
    ctx.must(line.strip(), f"blank frame at line {n} (WIRE-FRAME-2)")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ctx.fail(f"frame {n} is not JSON: {exc}") from exc
    ctx.must(isinstance(obj, dict), f"frame {n} is not a JSON object: {line[:200]!r} (WIRE-FRAME-5)")
    errors = iter_message_errors(obj)
    ctx.must(not errors, f"frame {n} ({obj.get('type')}) breaks its schema: {'; '.join(errors[:3])}")
    ctx.must(obj.get("type") not in ("input", "start", "completion", "signal"),
             f"the SDK sent a {obj.get('type')} frame (WIRE-RESP-3, WIRE-RESP-4)")
    codes = [obj.get("code"), (obj.get("failure") or {}).get("code") if isinstance(obj.get("failure"), dict) else None]
    ctx.must(599 not in codes, f"{obj.get('type')} carries code 599 (SUSPENDED is internal to an SDK, ERR-GEN-3)")
    nulls = [k for k, v in obj.items() if v is None and k != "value"]
    ctx.must(not nulls, f"{obj.get('type')} sends optional field(s) {nulls} as null (WIRE-MSG-6)")
    return dict(obj)


class SdkContext(CaseContext):
    #: the SDK's bound on the wait for the next turn after a suspension (WIRE-STREAM-11), when the
    #: endpoint was configured with a known one (``durable conformance sdk --stream-idle-bound``)
    stream_idle_s: float | None = None
    #: the SDK's bound on the age of a held session (WIRE-WARM-2), when the kit knows it
    #: (``durable conformance sdk --session-idle-bound``)
    session_idle_s: float | None = None

    @property
    def endpoint(self) -> str:
        return self.target.ingress

    def stream(self, service: str, handler: str, *, content_type: str | None = None,
               extra_headers: dict[str, str] | None = None) -> DuplexStream:
        """A full-duplex streaming exchange (``async with t.stream(...) as s``), spec/02 section 2.9."""
        return DuplexStream(self, service, handler, content_type=content_type, extra_headers=extra_headers)

    async def protocol_mode(self) -> str:
        """The manifest's ``protocolMode`` (discovery)."""
        r = await self.discover()
        self.must_eq(r.status_code, 200, "discovery status")
        return str(r.json().get("protocolMode"))

    async def require_streaming(self) -> None:
        """Streaming cases apply only to a deployment that declares BIDI_STREAM (DISC-MAN-2)."""
        mode = await self.protocol_mode()
        if mode != "BIDI_STREAM":
            raise self.skip(f"the manifest declares protocolMode {mode}: the deployment does not serve streaming "
                            "exchanges (mode-gated, DISC-MAN-2)")

    async def discover(self, accept: str | None = MANIFEST_CONTENT_TYPE) -> Any:
        headers = {"accept": accept} if accept else {}
        return await self.http.get(f"{self.endpoint}/discover", headers=headers)

    async def post_raw(self, service: str, handler: str, body: bytes, content_type: str | None = None) -> Any:
        ct = content_type or invocation_content_type()
        return await self.http.post(f"{self.endpoint}/invoke/{service}/{handler}", content=body,
                                    headers={"content-type": ct, "accept": ct})

    async def invoke(
        self,
        service: str,
        handler: str,
        journal: list[dict[str, Any]],
        *,
        key: str | None = None,
        state: dict[str, Any] | None = None,
        invocation_id: str | None = None,
        random_seed: int = 7,
        retry_count: int = 0,
        resume_from: int = 0,
        resume_attempt_id: str | None = None,
        attempt_id: str | None = None,
    ) -> Answer:
        start: dict[str, Any] = {
            "type": "start", "invocation_id": invocation_id or f"inv_{uuid.uuid4().hex}", "service": service,
            "handler": handler, "attempt_id": attempt_id or uuid.uuid4().hex[:12], "journal_length": len(journal),
            "resume_from": resume_from, "random_seed": random_seed, "retry_count": retry_count, "retry_duration_ms": 0,
        }
        if key is not None:
            start["key"] = key
            if resume_from == 0:
                start["state"] = {k: {"value": v} for k, v in (state or {}).items()}
        if resume_attempt_id:
            start["resume_attempt_id"] = resume_attempt_id
        entries = [{**e, "index": i} for i, e in enumerate(journal)][resume_from:]
        body = b"".join(orjson.dumps(m) + b"\n" for m in [start, *entries])
        r = await self.post_raw(service, handler, body)
        ans = Answer(r.status_code, r.headers.get("content-type", ""), text=r.text[:2000])
        if r.status_code != 200:
            return ans
        self.must(r.content.endswith(b"\n") or not r.content, "the response body does not end with a line feed (WIRE-FRAME-3)")
        for n, line in enumerate(r.content.split(b"\n")[:-1], start=1):
            ans.frames.append(check_frame(self, line, n))
        self.must(ans.terminator, f"the response does not end with a terminator: {[f.get('type') for f in ans.frames]}")
        self.must(sum(1 for f in ans.frames if f.get("type") in TERMINATORS) == 1, "more than one terminator (WIRE-RESP-1)")
        want = len(journal)
        for c in ans.commands:
            self.must_eq(c.get("index"), want, f"index of new command {c['type']} (WIRE-RESP-2)")
            want += 1
        return ans

    async def drive(
        self,
        service: str,
        handler: str,
        value: Any,
        *,
        key: str | None = None,
        state: dict[str, Any] | None = None,
        max_requests: int = 60,
        random_seed: int = 7,
    ) -> Run:
        """Play a minimal server: append commands, completions of proposals and sleeps; repeat to the end."""
        journal: list[dict[str, Any]] = [inp(value)]
        st = dict(state or {})
        answers: list[Answer] = []
        errors: list[dict[str, Any]] = []
        inv = f"inv_{uuid.uuid4().hex}"
        failed_since_growth = 0  # start.retry_count: failed attempts since the journal last grew (JRN-RETRY-5)
        for _ in range(max_requests):
            length_before = len(journal)
            ans = await self.invoke(service, handler, journal, key=key, state=st, invocation_id=inv, random_seed=random_seed,
                                    retry_count=failed_since_growth)
            answers.append(ans)
            self.must_eq(ans.status, 200, f"invoke status ({ans.text[:200]})")
            for c in ans.commands:
                journal.append(c)
                if c["type"] == "set_state":
                    st[c["key"]] = c["parameter"].get("value")
                elif c["type"] == "clear_state":
                    st.pop(c["key"], None)
                elif c["type"] == "clear_all_state":
                    st.clear()
            for p in ans.proposals:
                journal.append({"type": "completion", "index": len(journal), "completion_id": p["completion_id"], **result_of(p)})
            term = ans.terminator
            if len(journal) > length_before:
                failed_since_growth = 0
            if term["type"] == "error":
                failed_since_growth += 1
            if term["type"] == "end":
                out = next((c for c in journal if c["type"] == "output"), None)
                return Run(journal, answers, out, errors)
            if term["type"] == "error":
                errors.append(term)
                if len(errors) > 10:
                    return Run(journal, answers, None, errors)
                continue
            if term["type"] == "suspension":
                done = {e["completion_id"] for e in journal if e["type"] == "completion"}
                waiting = _leaves(term["awaiting"])
                progressed = bool(ans.proposals)
                for c in list(journal):
                    cid = c.get("completion_id")
                    if c["type"] == "sleep" and cid in waiting and cid not in done:
                        journal.append({"type": "completion", "index": len(journal), "completion_id": cid, "void": True})
                        progressed = True
                        break  # one completion at a time: the first-completed order stays deterministic
                self.must(progressed, f"suspended on {term['awaiting']} which this driver cannot complete")
                continue
            raise self.fail(f"unexpected terminator {term}")
        raise self.fail(f"invocation not finished after {max_requests} requests")


def _leaves(tree: dict[str, Any]) -> set[int]:
    out = set(tree.get("completion_ids", []))
    for n in tree.get("nested", []):
        out |= _leaves(n)
    return out
