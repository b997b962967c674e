"""SDK-conformance cases: hand-written journals against an endpoint serving spec/08's services.

Cases are registered in their own registry (ids ``SDK-NNN``) so that ``durable conformance
run`` (server half) and ``durable conformance sdk`` (SDK half) stay separate. The program
fed to the ``Interpreter`` is the invocation's input, so each case states its journal fully.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import orjson
from hypothesis import strategies as st

from durable.protocol.messages import MANIFEST_CONTENT_TYPE, invocation_content_type
from durable.protocol.schemas import validate_body

from ..model import Case, CaseFn, Mode, Strength
from .driver import SdkContext, inp, result_of

_SDK_CASES: dict[str, Case] = {}


def sdk_case(id: str, title: str, *, requirements: list[str], strength: Strength = Strength.MUST,
             timeout_s: float = 30.0) -> Callable[[Callable[[SdkContext], Any]], Callable[[SdkContext], Any]]:
    def deco(fn: Callable[[SdkContext], Any]) -> Callable[[SdkContext], Any]:
        if id in _SDK_CASES:
            raise ValueError(f"duplicate case id {id}")
        f = cast(CaseFn, fn)  # an SdkContext is a CaseContext; the SDK runner passes one
        _SDK_CASES[id] = Case(id, title, tuple(requirements), f, strength, (), (Mode.SDK,), "SDK", timeout_s)
        return fn

    return deco


def all_sdk_cases() -> list[Case]:
    return sorted(_SDK_CASES.values(), key=lambda c: c.id)


def prog(*commands: dict[str, Any]) -> dict[str, Any]:
    return {"commands": list(commands)}


# ---------------------------------------------------------------- discovery and transport


@sdk_case("SDK-001", "discovery answers a schema-valid manifest listing the contract's services",
          requirements=["DISC-REQ-2", "DISC-MAN-1", "DISC-MAN-6", "TS-GEN-1"])
async def discovery(t: SdkContext) -> None:
    r = await t.discover()
    t.must_eq(r.status_code, 200, "discovery status")
    t.must(r.headers.get("content-type", "").startswith(MANIFEST_CONTENT_TYPE), f"content-type {r.headers.get('content-type')}")
    manifest = r.json()
    try:
        validate_body("discovery/manifest", manifest)
    except ValueError as exc:
        raise t.fail(f"manifest breaks its schema: {exc}") from exc
    services = {s["name"]: s for s in manifest.get("services", [])}
    for name in ("Counter", "Proxy", "TestUtilsService", "Interpreter", "BlockAndWaitWorkflow", "Failing"):
        t.must(name in services, f"service {name} missing from the manifest")
    handlers = {h["name"]: h for h in services["Counter"]["handlers"]}
    t.must_eq(handlers.get("get", {}).get("ty"), "SHARED", "Counter/get handler type")


@sdk_case("SDK-002", "discovery with an unsupported manifest version answers 415", requirements=["DISC-REQ-3"])
async def discovery_415(t: SdkContext) -> None:
    r = await t.discover("application/vnd.durable.endpointmanifest.v99+json")
    t.must_eq(r.status_code, 415, "status")


@sdk_case("SDK-003", "invoking an unknown service answers 404", requirements=["WIRE-HTTP-5", "ERR-BODY-2"])
async def unknown(t: SdkContext) -> None:
    r = await t.post_raw("NoSuchService", "x", b"")
    t.must_eq(r.status_code, 404, "status")


@sdk_case("SDK-004", "GET on an invoke path answers 405", requirements=["WIRE-HTTP-6"])
async def bad_method(t: SdkContext) -> None:
    r = await t.http.get(f"{t.endpoint}/invoke/TestUtilsService/echo")
    t.must_eq(r.status_code, 405, "status")


@sdk_case("SDK-005", "an unsupported protocol version answers 415", requirements=["WIRE-NEG-2"])
async def version_415(t: SdkContext) -> None:
    r = await t.post_raw("TestUtilsService", "echo", b"", content_type=invocation_content_type(99))
    t.must_eq(r.status_code, 415, "status")


@sdk_case("SDK-006", "a plain call ends with output and end, in the negotiated content type",
          requirements=["WIRE-NEG-3", "WIRE-RESP-1", "WIRE-RESP-5", "JRN-CMD-7", "WIRE-WARM-6", "WIRE-HTTP-2"])
async def echo(t: SdkContext) -> None:
    ans = await t.invoke("TestUtilsService", "echo", [inp({"a": [1, None]})])
    t.must_eq(ans.status, 200, "status")
    t.must(ans.content_type.startswith(invocation_content_type()), f"content-type {ans.content_type}")
    t.must_eq([f["type"] for f in ans.frames], ["output", "end"], "frames")
    t.must_eq(result_of(ans.frames[0]), {"value": {"a": [1, None]}}, "output result")


@sdk_case("SDK-007", "a request without a start message is answered with error 571", requirements=["WIRE-REQ-12", "ERR-CODE-6"])
async def no_start(t: SdkContext) -> None:
    r = await t.post_raw("TestUtilsService", "echo", orjson.dumps(inp(1)) + b"\n")
    t.must_eq(r.status_code, 200, "status (a protocol violation is answered in-band)")
    last = orjson.loads(r.content.strip().split(b"\n")[-1])
    t.must_eq((last.get("type"), last.get("code")), ("error", 571), "terminator")


@sdk_case("SDK-008", "a warm resume of a session the SDK does not hold answers resume_miss only",
          requirements=["WIRE-WARM-5", "WIRE-RESP-7"])
async def resume_miss(t: SdkContext) -> None:
    journal = [inp(prog({"op": "sleep", "ms": 10})), {"type": "sleep", "completion_id": 1, "wake_up_time_ms": 1},
               {"type": "completion", "completion_id": 1, "void": True}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", resume_from=2, resume_attempt_id="never-seen")
    t.must_eq([f["type"] for f in ans.frames], ["resume_miss"], "frames")


@sdk_case("SDK-009", "the manifest declares a protocol version range that includes version 1",
          requirements=["VER-PROTO-2", "DISC-MAN-3"])
async def version_range(t: SdkContext) -> None:
    r = await t.discover()
    t.must_eq(r.status_code, 200, "discovery status")
    doc = r.json()
    lo, hi = doc.get("minProtocolVersion"), doc.get("maxProtocolVersion")
    t.must(isinstance(lo, int) and isinstance(hi, int), f"minProtocolVersion {lo!r}, maxProtocolVersion {hi!r}")
    t.must(lo <= hi, f"minProtocolVersion {lo} > maxProtocolVersion {hi} (DISC-MAN-3)")
    t.must(lo <= 1 <= hi, f"the declared range {lo}..{hi} does not include version 1, which the SDK answers")
    ans = await t.invoke("TestUtilsService", "echo", [inp("v")])
    t.must_eq(ans.status, 200, "an invoke in version 1")


# ---------------------------------------------------------------- state


@sdk_case("SDK-010", "eager state: get_state is recorded inline from start.state; set_state follows",
          requirements=["JRN-STATE-5", "WIRE-REQ-8", "TS-COUNTER-1"])
async def eager_state(t: SdkContext) -> None:
    ans = await t.invoke("Counter", "add", [inp(3)], key="k", state={"counter": 2})
    types = [c["type"] for c in ans.commands]
    t.must_eq(types, ["get_state", "set_state", "output"], "commands")
    t.must_eq((ans.commands[0]["key"], result_of(ans.commands[0])), ("counter", {"value": 2}), "get_state")
    t.must_eq(ans.commands[1]["parameter"], {"value": 5}, "set_state parameter")
    t.must_eq(result_of(ans.commands[2]), {"value": {"oldValue": 2, "newValue": 5}}, "output")


@sdk_case("SDK-011", "get_state of an unset key records void", requirements=["JRN-STATE-5"])
async def unset(t: SdkContext) -> None:
    ans = await t.invoke("Interpreter", "run", [inp(prog({"op": "get", "key": "nope"}))], key="k", state={})
    g = ans.command("get_state")
    t.must(g is not None and g.get("void") is True, f"get_state {g}")


@sdk_case("SDK-012", "get_state_keys is recorded inline, sorted", requirements=["JRN-STATE-3", "JRN-STATE-5"])
async def keys(t: SdkContext) -> None:
    ans = await t.invoke("Interpreter", "run", [inp(prog({"op": "keys"}))], key="k", state={"b": 1, "a": 2})
    g = ans.command("get_state_keys")
    t.must(g is not None, f"commands {ans.commands}")
    t.must_eq(g["keys"] if g else None, ["a", "b"], "keys")


@sdk_case("SDK-013", "during replay get_state returns the recorded result, not start.state",
          requirements=["JRN-REPLAY-7", "JRN-STATE-9"])
async def replay_state(t: SdkContext) -> None:
    journal = [inp(prog({"op": "get", "key": "a"})), {"type": "get_state", "key": "a", "value": "recorded"}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={"a": "current"})
    out = ans.command("output")
    t.must(out is not None and out.get("value") == ["recorded"], f"output {out}")


# ---------------------------------------------------------------- runs


@sdk_case("SDK-020", "a new run writes the command, proposes its result and suspends on it",
          requirements=["JRN-RUN-1", "JRN-RUN-3", "JRN-CID-1", "JRN-RUN-7", "JRN-DELIV-6"])
async def run_fresh(t: SdkContext) -> None:
    ans = await t.invoke("Interpreter", "run", [inp(prog({"op": "run", "value": 5}))], key="k", state={})
    t.must_eq([f["type"] for f in ans.frames], ["run", "propose_run_completion", "suspension"], "frames")
    cid = ans.frames[0]["completion_id"]
    t.must_eq(cid, 1, "first completion id")
    t.must_eq((ans.frames[1]["completion_id"], result_of(ans.frames[1])), (1, {"value": 5}), "proposal")
    t.must(1 in ans.terminator["awaiting"].get("completion_ids", []), f"suspension {ans.terminator}")


@sdk_case("SDK-021", "a run with a recorded completion is not executed again", requirements=["JRN-RUN-2", "JRN-REPLAY-7"])
async def run_replay(t: SdkContext) -> None:
    tag = t.uid("fx")
    journal = [inp(prog({"op": "run", "value": 5, "effect": tag})), {"type": "run", "completion_id": 1, "name": "run"},
               {"type": "completion", "completion_id": 1, "value": 6}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={})
    t.must(not ans.proposals, f"a recorded run was proposed again: {ans.proposals}")
    out = ans.command("output")
    t.must(out is not None and out.get("value") == [6], f"output must carry the recorded 6: {out}")


@sdk_case("SDK-022", "a run whose closure raises a terminal error proposes the failure at once",
          requirements=["JRN-RUN-6"])
async def run_terminal(t: SdkContext) -> None:
    ans = await t.invoke("Interpreter", "run", [inp(prog({"op": "run", "fail": "boom"}))], key="k", state={})
    t.must(ans.proposals, f"no proposal: {ans.frames}")
    t.must_eq(ans.proposals[0].get("failure", {}).get("message"), "boom", "proposed failure")


@sdk_case("SDK-023", "a run retried to exhaustion proposes a terminal failure", requirements=["JRN-RUN-5", "JRN-RETRY-9", "TS-FAILING-5"])
async def run_exhausted(t: SdkContext) -> None:
    run = await t.drive("Failing", "sideEffectFailsAfterGivenAttempts", 2, key=t.uid())
    t.must(run.output is not None, f"no output after {len(run.answers)} requests; errors {run.errors[:2]}")
    t.must(any(p.get("failure") for a in run.answers for p in a.proposals), "no failure proposed for the exhausted run")
    t.must(all(e.get("code") != 570 for e in run.errors), f"unexpected mismatch {run.errors}")


# ---------------------------------------------------------------- replay and mismatch


@sdk_case("SDK-030", "a command that differs from the journal is a mismatch (570) naming its index",
          requirements=["JRN-REPLAY-2", "JRN-REPLAY-5", "ERR-CODE-5"])
async def mismatch_type(t: SdkContext) -> None:
    journal = [inp(prog({"op": "sleep", "ms": 10})), {"type": "run", "completion_id": 1, "name": "run"}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={})
    term = ans.terminator
    t.must_eq((term.get("type"), term.get("code")), ("error", 570), "terminator")
    t.must_eq(term.get("related_command_index"), 1, "related_command_index")
    t.must(not ans.commands, f"the mismatching command was sent: {ans.commands}")


@sdk_case("SDK-031", "a differing determinism field (state key) is a mismatch", requirements=["JRN-REPLAY-2", "JRN-REPLAY-3"])
async def mismatch_field(t: SdkContext) -> None:
    journal = [inp(prog({"op": "set", "key": "a", "value": 1}, {"op": "sleep", "ms": 5})),
               {"type": "set_state", "key": "b", "parameter": {"value": 1}}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={})
    t.must_eq((ans.terminator.get("type"), ans.terminator.get("code")), ("error", 570), "terminator")


@sdk_case("SDK-032", "returning while recorded commands remain is a mismatch", requirements=["JRN-REPLAY-6"])
async def mismatch_leftover(t: SdkContext) -> None:
    journal = [inp("x"), {"type": "sleep", "completion_id": 1, "wake_up_time_ms": 1}]
    ans = await t.invoke("TestUtilsService", "echo", journal)
    t.must_eq((ans.terminator.get("type"), ans.terminator.get("code")), ("error", 570), "terminator")


@sdk_case("SDK-033", "wake-up times are not compared on replay", requirements=["JRN-REPLAY-4"])
async def wake_time_ignored(t: SdkContext) -> None:
    journal = [inp(prog({"op": "sleep", "ms": 10})), {"type": "sleep", "completion_id": 1, "wake_up_time_ms": 12345},
               {"type": "completion", "completion_id": 1, "void": True}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={})
    t.must(ans.command("output") is not None, f"frames {ans.frames}")


@sdk_case("SDK-034", "ctx.uuid derives from random_seed: same seed same id, other seed other id", requirements=["JRN-DET-1"])
async def uuid_seed(t: SdkContext) -> None:
    async def one(seed: int) -> Any:
        a = await t.invoke("Interpreter", "run", [inp(prog({"op": "uuid"}))], key="k", state={},
                           invocation_id="inv_fixedfixedfixed", random_seed=seed)
        out = a.command("output")
        return out.get("value") if out else None

    a, b, c = await one(1), await one(1), await one(2)
    t.must(a is not None and a == b, f"same seed gave {a} and {b}")
    t.must(a != c, "a different seed gave the same uuid")


@sdk_case("SDK-035", "blocked on an unresolved future with an unreplayed command at the cursor: mismatch 570",
          requirements=["JRN-DELIV-5", "JRN-REPLAY-5"])
async def blocked_before_recorded_command(t: SdkContext) -> None:
    # the handler sleeps twice; the journal records both sleeps but not the first one's completion,
    # so the handler blocks on sleep 1 while the recorded execution already went on to sleep 2
    journal = [inp(prog({"op": "sleep", "ms": 10}, {"op": "sleep", "ms": 20})),
               {"type": "sleep", "completion_id": 1, "wake_up_time_ms": 1},
               {"type": "sleep", "completion_id": 2, "wake_up_time_ms": 2}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={})
    term = ans.terminator
    t.must_eq((term.get("type"), term.get("code")), ("error", 570), f"terminator (frames {ans.frames})")
    t.must(not ans.commands, f"commands were written: {ans.commands}")


@sdk_case("SDK-036", "a held session is dropped once it is older than the SDK's bound", requirements=["WIRE-WARM-2"],
          timeout_s=60)
async def session_age_bound(t: SdkContext) -> None:
    bound = t.session_idle_s
    if bound is None:
        raise t.skip("the endpoint's bound on the age of a held session is not known to the kit; start it with a short "
                     "one and pass it (durable conformance sdk --session-idle-bound SECONDS)")
    journal = [inp(prog({"op": "run", "value": 1}))]

    async def suspend(inv: str, attempt: str) -> list[dict[str, Any]]:
        ans = await t.invoke("Interpreter", "run", journal, key="k", state={}, invocation_id=inv, attempt_id=attempt)
        t.must_eq([f.get("type") for f in ans.frames], ["run", "propose_run_completion", "suspension"], "frames")
        run = {k: v for k, v in ans.frames[0].items() if k != "index"}
        return [*journal, run, {"type": "completion", "completion_id": run["completion_id"], "value": 1}]

    control_inv = f"inv_sdkagecontrol{t.uid('')[1:]}"
    control = await suspend(control_inv, "c1")
    ans = await t.invoke("Interpreter", "run", control, key="k", invocation_id=control_inv, resume_from=2,
                         resume_attempt_id="c1")
    if [f.get("type") for f in ans.frames] == ["resume_miss"]:
        raise t.skip("the SDK keeps no sessions (an immediate warm resume misses), so WIRE-WARM-2 does not apply")
    old_inv = f"inv_sdkageold{t.uid('')[1:]}"
    old = await suspend(old_inv, "o1")
    await asyncio.sleep(bound + 2.0)
    ans = await t.invoke("Interpreter", "run", old, key="k", invocation_id=old_inv, resume_from=2, resume_attempt_id="o1")
    t.must_eq([f.get("type") for f in ans.frames], ["resume_miss"],
              f"a warm resume of a session held {bound + 2.0:g}s with an age bound of {bound:g}s (WIRE-WARM-2)")


# ---------------------------------------------------------------- suspension, combinators, cancel


@sdk_case("SDK-040", "a sleep writes the command and suspends on its completion id",
          requirements=["JRN-SUSP-1", "JRN-SUSP-3"])
async def sleep_suspends(t: SdkContext) -> None:
    ans = await t.invoke("Interpreter", "run", [inp(prog({"op": "sleep", "ms": 1000}))], key="k", state={})
    t.must_eq([f["type"] for f in ans.frames], ["sleep", "suspension"], "frames")
    t.must_eq(ans.terminator["awaiting"].get("completion_ids"), [ans.frames[0]["completion_id"]], "awaited ids")


@sdk_case("SDK-041", "the completion of a sleep resumes the handler", requirements=["JRN-DELIV-2"])
async def sleep_resumes(t: SdkContext) -> None:
    journal = [inp(prog({"op": "sleep", "ms": 10}, {"op": "run", "value": 1})),
               {"type": "sleep", "completion_id": 1, "wake_up_time_ms": 1}, {"type": "completion", "completion_id": 1, "void": True}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={})
    t.must(ans.command("run") is not None, f"handler did not continue: {ans.frames}")


@sdk_case("SDK-042", "first-completed suspends on every branch and picks the completed one",
          requirements=["JRN-SUSP-2", "JRN-SUSP-3", "JRN-DELIV-4", "WIRE-AWAIT-3", "JRN-COMB-2"])
async def select_tree(t: SdkContext) -> None:
    p = prog({"op": "await", "mode": "first", "of": [{"sleep": 10000}, {"sleep": 10}]})
    ans = await t.invoke("Interpreter", "run", [inp(p)], key="k", state={})
    sleeps = [c for c in ans.commands if c["type"] == "sleep"]
    t.must_eq(len(sleeps), 2, "sleep commands")
    leaves = set(ans.terminator["awaiting"].get("completion_ids", []))
    for n in ans.terminator["awaiting"].get("nested", []):
        leaves |= set(n.get("completion_ids", []))
    t.must_eq(leaves, {s["completion_id"] for s in sleeps}, "awaited completion ids")
    journal = [inp(p), *[{k: v for k, v in s.items() if k != "index"} for s in sleeps],
               {"type": "completion", "completion_id": sleeps[1]["completion_id"], "void": True}]
    ans2 = await t.invoke("Interpreter", "run", journal, key="k", state={})
    out = ans2.command("output")
    t.must(out is not None and out.get("value") == [{"index": 1, "value": None}], f"output {out}")
    # JRN-COMB-2: the losing sleep is not cancelled: no command about it, its command stays recorded
    t.must_eq([c["type"] for c in ans2.commands], ["output"], "commands after the first branch completed")


@sdk_case("SDK-043", "a cancel signal fails the handler at its await with 409",
          requirements=["JRN-CANCEL-2", "JRN-CANCEL-6", "ERR-CODE-3"])
async def cancelled(t: SdkContext) -> None:
    journal = [inp(prog({"op": "sleep", "ms": 60000})), {"type": "sleep", "completion_id": 1, "wake_up_time_ms": 1},
               {"type": "signal", "signal_id": 1, "void": True}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={})
    out = ans.command("output")
    t.must(out is not None and out.get("failure", {}).get("code") == 409, f"output {out}; frames {ans.frames}")


@sdk_case("SDK-044", "completion ids are allocated 1, 2, 3 in creation order", requirements=["JRN-CID-1", "JRN-CID-2"])
async def cid_order(t: SdkContext) -> None:
    p = prog({"op": "await", "mode": "all", "of": [{"sleep": 10}, {"sleep": 20}, {"sleep": 30}]})
    ans = await t.invoke("Interpreter", "run", [inp(p)], key="k", state={})
    t.must_eq([c["completion_id"] for c in ans.commands if c["type"] == "sleep"], [1, 2, 3], "completion ids")


# ---------------------------------------------------------------- failures


@sdk_case("SDK-050", "a terminal error ends with output{failure} and end", requirements=["JRN-FAIL-1", "ERR-GEN-2"])
async def terminal(t: SdkContext) -> None:
    ans = await t.invoke("Failing", "terminallyFailingCall", [inp({"errorMessage": "no", "code": 418})], key="k", state={})
    t.must_eq([f["type"] for f in ans.frames], ["output", "end"], "frames")
    t.must_eq(ans.frames[0].get("failure", {}).get("code"), 418, "failure code")


@sdk_case("SDK-051", "any other error ends the attempt with error, never with output",
          requirements=["JRN-FAIL-3", "ERR-GEN-3"])
async def retryable(t: SdkContext) -> None:
    ans = await t.invoke("Failing", "failingCallWithEventualSuccess", [inp()], key=t.uid(), state={})
    t.must_eq(ans.terminator.get("type"), "error", "terminator")
    t.must(ans.command("output") is None, "an output was written for a retryable failure")


@sdk_case("SDK-052", "driving a retried handler to success: errors first, then output", requirements=["JRN-FAIL-3", "JRN-RETRY-10"])
async def eventual(t: SdkContext) -> None:
    run = await t.drive("Failing", "failingCallWithEventualSuccess", None, key=t.uid())
    t.must_eq(len(run.errors), 3, "failed attempts")
    t.must(run.output is not None and run.output.get("value") == 4, f"output {run.output}")


# ---------------------------------------------------------------- properties

VALUE = st.one_of(st.none(), st.integers(-3, 3), st.text("xy", max_size=2))
CMD = st.one_of(
    st.fixed_dictionaries({"op": st.just("set"), "key": st.sampled_from("abc"), "value": VALUE}),
    st.fixed_dictionaries({"op": st.just("get"), "key": st.sampled_from("abc")}),
    st.fixed_dictionaries({"op": st.just("clear"), "key": st.sampled_from("abc")}),
    st.fixed_dictionaries({"op": st.just("run"), "value": VALUE}),
    st.fixed_dictionaries({"op": st.just("sleep"), "ms": st.just(1)}),
    st.fixed_dictionaries({"op": st.just("await"), "mode": st.just("all"),
                           "of": st.lists(st.one_of(st.fixed_dictionaries({"run": st.integers(0, 3)}),
                                                    st.fixed_dictionaries({"sleep": st.just(1)})), min_size=1, max_size=3)}),
)
PROGRAMS = st.lists(CMD, min_size=1, max_size=6)


def _model(cmds: list[dict[str, Any]]) -> list[Any]:
    state: dict[str, Any] = {}
    out: list[Any] = []
    for c in cmds:
        if c["op"] == "set":
            state[c["key"]] = c["value"]
            out.append(None)
        elif c["op"] == "get":
            out.append(state.get(c["key"]))
        elif c["op"] == "clear":
            state.pop(c["key"], None)
            out.append(None)
        elif c["op"] == "run":
            out.append(c["value"])
        elif c["op"] == "sleep":
            out.append(None)
        else:
            out.append([{"value": a.get("run")} for a in c["of"]])
    return out


def _property(t: SdkContext, strategy: Any, check: Callable[[Any], Any], case_id: str) -> Any:
    from hypothesis import HealthCheck, given, seed, settings

    from ..cases.properties import _seed

    s = _seed(case_id)
    failures: list[str] = []
    loop = asyncio.new_event_loop()

    @seed(s)
    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def prop(example: Any) -> None:
        problem = loop.run_until_complete(check(example))
        if problem:
            failures.append(f"{problem}; program={example!r}")
            raise AssertionError(problem)

    try:
        prop()
    except (AssertionError, ExceptionGroup):
        pass
    finally:
        loop.close()
    if failures:
        raise t.fail(f"seed {s} (DURABLE_CONFORMANCE_SEED={s}); shrunk counterexample: {failures[-1]}")


@sdk_case("SDK-090", "random programs driven to completion agree with a model, and replay reproduces the output",
          requirements=["JRN-REPLAY-1", "JRN-REPLAY-9", "JRN-RUN-2", "WIRE-MSG-7", "WIRE-RESP-3", "WIRE-RESP-4", "WIRE-MSG-6", "WIRE-RESP-2", "JRN-CID-3"], timeout_s=120)
async def prop_programs(t: SdkContext) -> None:
    async def check(cmds: list[dict[str, Any]]) -> str | None:
        ctx = SdkContext(t.target, t.mode)
        try:
            run = await ctx.drive("Interpreter", "run", {"commands": cmds}, key="p", state={})
            if run.output is None or run.output.get("value") != _model(cmds):
                return f"output {run.output}, model {_model(cmds)}"
            replay = [e for e in run.journal if e["type"] != "output"]
            ans = await ctx.invoke("Interpreter", "run", replay, key="p", state={})
            if [f["type"] for f in ans.frames] != ["output", "end"] or result_of(ans.frames[0]) != result_of(run.output):
                return f"replaying the full journal answered {ans.frames}"
            return None
        finally:
            t.wire.entries.extend(ctx.wire.entries[-6:])
            await ctx.aclose()

    await asyncio.to_thread(_property, t, PROGRAMS, check, "SDK-090")


@sdk_case("SDK-091", "mutating one recorded command is detected as a mismatch (570)",
          requirements=["JRN-REPLAY-2", "JRN-REPLAY-5"], timeout_s=120)
async def prop_mutation(t: SdkContext) -> None:
    async def check(cmds: list[dict[str, Any]]) -> str | None:
        ctx = SdkContext(t.target, t.mode)
        try:
            run = await ctx.drive("Interpreter", "run", {"commands": [*cmds, {"op": "set", "key": "z", "value": 1}]},
                                  key="p", state={})
            recorded = [i for i, e in enumerate(run.journal) if e["type"] == "set_state" and e["key"] == "z"]
            if not recorded:
                return "no set_state for z recorded"
            journal = [dict(e) for e in run.journal if e["type"] != "output"]
            journal[recorded[-1]] = {**journal[recorded[-1]], "key": "zz"}
            ans = await ctx.invoke("Interpreter", "run", journal, key="p", state={})
            term = ans.terminator
            if term.get("type") != "error" or term.get("code") != 570 or term.get("related_command_index") != recorded[-1]:
                return f"mutated command at {recorded[-1]} answered {term}"
            return None
        finally:
            await ctx.aclose()

    await asyncio.to_thread(_property, t, PROGRAMS, check, "SDK-091")


# ---------------------------------------------------------------- framing and protocol violations


async def _violation(t: SdkContext, body: bytes, what: str) -> None:
    r = await t.post_raw("TestUtilsService", "echo", body)
    t.must_eq(r.status_code, 200, f"status for {what} (answered in-band)")
    last = orjson.loads(r.content.strip().split(b"\n")[-1])
    t.must_eq((last.get("type"), last.get("code")), ("error", 571), f"terminator for {what}")


def _start(n: int = 1) -> dict[str, Any]:
    return {"type": "start", "invocation_id": "inv_sdkconformance", "service": "TestUtilsService", "handler": "echo",
            "attempt_id": "a1", "journal_length": n, "resume_from": 0, "random_seed": 1, "retry_count": 0,
            "retry_duration_ms": 0}


@sdk_case("SDK-060", "media types are compared case-insensitively, ignoring parameters", requirements=["WIRE-NEG-4"])
async def media_type(t: SdkContext) -> None:
    body = orjson.dumps(_start()) + b"\n" + orjson.dumps(inp(1)) + b"\n"
    r = await t.post_raw("TestUtilsService", "echo", body,
                         content_type="Application/VND.durable.invocation.v1+NDJSON; charset=utf-8")
    t.must_eq(r.status_code, 200, "status")


@sdk_case("SDK-061", "a frame that is not JSON is a protocol violation (571)",
          requirements=["WIRE-FRAME-5", "ERR-PV-1", "JRN-FAIL-4"])
async def not_json(t: SdkContext) -> None:
    await _violation(t, orjson.dumps(_start()) + b"\n{not json\n", "a non-JSON frame")


@sdk_case("SDK-062", "an unknown message type is a protocol violation (571)", requirements=["WIRE-MSG-2"])
async def unknown_type(t: SdkContext) -> None:
    await _violation(t, orjson.dumps(_start()) + b"\n" + orjson.dumps({"type": "teleport", "index": 0}) + b"\n",
                     "an unknown type")


@sdk_case("SDK-063", "an unknown field is a protocol violation (571)", requirements=["WIRE-MSG-3"])
async def unknown_field(t: SdkContext) -> None:
    await _violation(t, orjson.dumps(_start()) + b"\n" + orjson.dumps({**inp(1), "index": 0, "surprise": 1}) + b"\n",
                     "an unknown field")


@sdk_case("SDK-064", "a body whose entries do not match journal_length is a protocol violation (571)",
          requirements=["WIRE-REQ-2", "WIRE-REQ-12"])
async def short_body(t: SdkContext) -> None:
    await _violation(t, orjson.dumps(_start(3)) + b"\n" + orjson.dumps({**inp(1), "index": 0}) + b"\n", "a short journal")


@sdk_case("SDK-065", "a truncated body (no final line feed) is a protocol violation (571)", requirements=["WIRE-FRAME-3"])
async def truncated(t: SdkContext) -> None:
    await _violation(t, orjson.dumps(_start()) + b"\n" + orjson.dumps({**inp(1), "index": 0}), "a truncated body")


# ---------------------------------------------------------------- awakeables and signals


def _awk_decode(aid: str) -> Any:
    import base64

    raw = aid.removeprefix("awk_")
    return orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


@sdk_case("SDK-070", "an awakeable writes no command, uses signal 17 and an id built from the invocation id",
          requirements=["JRN-SIG-2", "JRN-SIG-3", "JRN-SIG-6"])
async def awakeable(t: SdkContext) -> None:
    inv = "inv_sdkawakeable01"
    ans = await t.invoke("Interpreter", "run", [inp(prog({"op": "awakeable", "holder": "h"}))], key="k", state={},
                         invocation_id=inv)
    types = [c["type"] for c in ans.commands]
    t.must_eq(types, ["send"], "commands (only the one-way call handing the id to AwakeableHolder)")
    param = ans.commands[0]["parameter"]
    aid = param.get("value") if "value" in param else orjson.loads(__import__("base64").b64decode(param["value_bytes"]))
    t.must(isinstance(aid, str) and aid.startswith("awk_"), f"awakeable id {aid!r}")
    t.must_eq(_awk_decode(str(aid)), [inv, 17], "decoded awakeable id")
    sigs = set(ans.terminator.get("awaiting", {}).get("signal_ids", []))
    t.must(17 in sigs and sigs <= {1, 17}, f"suspension must await signal 17 (and at most cancel): {sigs}")


@sdk_case("SDK-071", "a signal notification resolves the awakeable; the first of duplicates wins",
          requirements=["JRN-SIG-4", "JRN-SIG-5"])
async def awakeable_resolved(t: SdkContext) -> None:
    p = prog({"op": "awakeable", "holder": "h"})
    first = await t.invoke("Interpreter", "run", [inp(p)], key="k", state={}, invocation_id="inv_sdkawakeable02")
    send = {k: v for k, v in first.commands[0].items() if k != "index"}
    journal = [inp(p), send, {"type": "signal", "signal_id": 17, "value": "first"},
               {"type": "signal", "signal_id": 17, "value": "second"}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={}, invocation_id="inv_sdkawakeable02")
    out = ans.command("output")
    t.must(out is not None and out.get("value") == ["first"], f"output {out}")


@sdk_case("SDK-072", "cancellation is forwarded to pending calls (send_signal 1) but not to sends",
          requirements=["JRN-CANCEL-9", "JRN-CANCEL-5"])
async def cancel_forwarding(t: SdkContext) -> None:
    p = prog({"op": "send", "service": "Counter", "handler": "add", "key": "x", "input": 1},
             {"op": "call", "service": "Counter", "handler": "add", "key": "y", "input": 1})
    first = await t.invoke("Interpreter", "run", [inp(p)], key="k", state={}, invocation_id="inv_sdkcancel01")
    cmds = [{k: v for k, v in c.items() if k != "index"} for c in first.commands]
    t.must_eq([c["type"] for c in cmds], ["send", "call"], "commands")
    send, call = cmds
    journal = [inp(p), send, call,
               {"type": "completion", "completion_id": send["invocation_id_completion_id"], "invocation_id": "inv_sent"},
               {"type": "completion", "completion_id": call["invocation_id_completion_id"], "invocation_id": "inv_called"},
               {"type": "signal", "signal_id": 1, "void": True}]
    ans = await t.invoke("Interpreter", "run", journal, key="k", state={}, invocation_id="inv_sdkcancel01")
    signals = [c for c in ans.commands if c["type"] == "send_signal"]
    t.must_eq([(s["target_invocation_id"], s["signal_id"]) for s in signals], [("inv_called", 1)], "send_signal commands")
    out = ans.command("output")
    t.must(out is not None and out.get("failure", {}).get("code") == 409, f"output {out}")


@sdk_case("SDK-073", "a retryable run failure ends the attempt with error naming the run and the next delay",
          requirements=["JRN-RETRY-7", "JRN-RETRY-8", "JRN-RETRY-11"])
async def run_retry_error(t: SdkContext) -> None:
    ans = await t.invoke("Failing", "sideEffectSucceedsAfterGivenAttempts", [inp(1000)], key=t.uid(), state={})
    term = ans.terminator
    t.must_eq(term.get("type"), "error", "terminator")
    run = ans.command("run")
    t.must(run is not None, f"no run command: {ans.frames}")
    t.must_eq(term.get("related_command_index"), run["index"] if run else None, "related_command_index")
    t.must_eq(term.get("next_retry_delay_ms"), 10, "next_retry_delay_ms (initial interval 10 ms)")


from . import streaming  # noqa: E402,F401  (registers the streaming cases SDK-1xx)
