"""The services the fuzzer's programs run on, written on ``reference_sdk`` (restate-sdk's API).

Why not the conformance kit's ``Interpreter`` (spec/08-test-services.md): its effect counter
lives *inside* the SDK process (lost on the SIGKILLs the fuzzer deals out), it does not tell
which execution of a step was acknowledged, its programs carry no identity (so a nested or sent
child's outcome cannot be attributed), and it has no workflow promise. The fuzzer needs all
four, so it brings these small services:

* ``FuzzInterpreter`` (virtual object): ``interpret(program)`` runs a program from
  :mod:`fuzz.programs` and returns ``{"id", "obs"}``; ``dump()`` (shared) returns the key's state.
* ``FuzzWorkflow``: ``run`` registers itself with the fuzzer and waits on promise ``p``;
  ``resolve`` (shared) resolves it. The fuzzer resolves it from outside, through the ingress.
* ``FuzzHelper`` (service): resolves/rejects awakeables and cancels invocations on the fuzzer's
  behalf, so the fuzzer needs nothing beyond the ingress of the implementation under test.

Every step closure first POSTs an ``exec`` record to the fuzzer's effect ledger
(``FUZZ_LEDGER_URL``) and returns the execution number the ledger assigns: the journal then
records which execution was acknowledged. The semantics here must match :mod:`fuzz.model`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import urllib.parse
from datetime import timedelta
from typing import Any

import reference_sdk as restate
from reference_sdk import TerminalError

from ..model import RUN_FAIL_MESSAGE, SAGA_FAIL_MESSAGE
from ..programs import state_name, step_name

LEDGER_URL = os.environ.get("FUZZ_LEDGER_URL", "http://127.0.0.1:9")
_LEDGER = urllib.parse.urlsplit(LEDGER_URL)
_local = threading.local()


def post(body: dict[str, Any]) -> dict[str, Any]:
    """Append a record to the fuzzer's ledger (blocking; run closures run in threads).

    One keep-alive connection per thread. A failed request is never sent again: if the ledger
    did record it, a retry would record a second execution that never happened; the closure
    fails instead, and the SDK retries the step (a re-run before acknowledgement, allowed)."""
    conn: http.client.HTTPConnection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = http.client.HTTPConnection(_LEDGER.hostname or "127.0.0.1",
                                                        _LEDGER.port or 80, timeout=10)
    try:
        conn.request("POST", "/record", body=json.dumps(body).encode(),
                     headers={"content-type": "application/json"})
        with conn.getresponse() as r:
            answer: dict[str, Any] = json.loads(r.read())
        if r.status != 200:
            raise RuntimeError(f"ledger answered {r.status}: {answer}")
        return answer
    except BaseException:
        conn.close()
        _local.conn = None
        raise


async def marker(body: dict[str, Any]) -> None:
    """A non-durable marker (repeats on replay; the oracle requires repeats to agree)."""
    await asyncio.to_thread(post, body)


def attempt_of(ctx: Any) -> str | None:
    """The id of the attempt the handler runs in now (the reference SDK's session knows it):
    the ledger attributes each execution to its attempt, so the oracle needs no clock for it."""
    attempt = getattr(getattr(ctx, "_session", None), "attempt_id", None)
    return attempt if isinstance(attempt, str) else None


def executor(step: str, owner: str, fail_first: int = 0, terminal: str | None = None,
             ctx: Any = None) -> Any:
    def effect() -> dict[str, Any]:
        n = int(post({"type": "exec", "step": step, "owner": owner,
                      "attempt": attempt_of(ctx)})["n"])
        if terminal is not None:
            raise TerminalError(terminal)
        if n <= fail_first:
            raise RuntimeError(f"planned retryable failure {n}/{fail_first} of {step}")
        return {"exec": n}

    return effect


def recorder(body: dict[str, Any]) -> Any:
    """A step closure that records ``body`` in the ledger and returns nothing."""

    def record() -> None:
        post(body)

    return record


interpreter = restate.VirtualObject("FuzzInterpreter")
workflow = restate.Workflow("FuzzWorkflow")
helper = restate.Service("FuzzHelper")


@interpreter.handler("interpret")
async def interpret(ctx: restate.ObjectContext, program: dict[str, Any]) -> dict[str, Any]:
    pid = str(program["id"])
    obs: list[list[Any]] = []
    current = ""
    try:
        for i, cmd in enumerate(program["commands"]):
            current = cmd["kind"]
            await _one(ctx, pid, i, cmd, obs)
    except TerminalError as e:
        status = "cancelled" if current == "cancel" else "failed"
        await marker({"type": "done", "pid": pid, "status": status, "obs": obs,
                      "message": e.message if status == "failed" else None})
        raise
    await marker({"type": "done", "pid": pid, "status": "ok", "obs": obs, "message": None})
    return {"id": pid, "obs": obs}


async def _one(ctx: restate.ObjectContext, pid: str, i: int, cmd: dict[str, Any],
               obs: list[list[Any]]) -> None:
    kind = cmd["kind"]
    if kind == "set":
        ctx.set(state_name(pid, cmd["name"]), cmd["value"])
    elif kind == "get":
        obs.append([i, await ctx.get(state_name(pid, cmd["name"]))])
    elif kind == "clear":
        ctx.clear(state_name(pid, cmd["name"]))
    elif kind == "incr":
        value: Any = await ctx.get("counter")
        ctx.set("counter", int(value or 0) + 1)
    elif kind == "run":
        obs.append([i, await ctx.run(step_name(pid, i), executor(step_name(pid, i), pid, ctx=ctx))])
    elif kind == "run_retry":
        step = step_name(pid, i)
        obs.append([i, await ctx.run(step, executor(step, pid, fail_first=int(cmd["fails"]),
                                                            ctx=ctx))])
    elif kind == "run_fail":
        step = step_name(pid, i)
        try:
            await ctx.run(step, executor(step, pid, terminal=RUN_FAIL_MESSAGE, ctx=ctx))
            obs.append([i, "not caught"])
        except TerminalError as e:
            obs.append([i, f"caught:{e.message}"])
    elif kind == "sleep":
        await ctx.sleep(timedelta(milliseconds=int(cmd["ms"])))
    elif kind in ("awakeable", "awakeable_reject"):
        fut: Any
        name, fut = ctx.awakeable()
        reg = {"type": "awakeable", "id": name, "pid": pid, "index": i,
               "action": "resolve" if kind == "awakeable" else "reject",
               "value": cmd.get("value"), "message": cmd.get("message")}
        await ctx.run(step_name(pid, i, ":reg"), recorder(reg))
        try:
            obs.append([i, await fut])
        except TerminalError as e:
            obs.append([i, f"rejected:{e.message}"])
    elif kind == "promise":
        wf_key = f"{pid}.w{i}"
        obs.append([i, await ctx.workflow_call(wf_run, key=wf_key,
                                               arg={"id": wf_key, "value": cmd["value"]})])
    elif kind == "saga":
        done: list[int] = []
        try:
            for s in range(int(cmd["steps"])):
                step = step_name(pid, i, f":s{s}")
                failing = SAGA_FAIL_MESSAGE if s == cmd["fail_at"] else None
                await ctx.run(step, executor(step, pid, terminal=failing, ctx=ctx))
                done.append(s)
        except TerminalError:
            for s in reversed(done):
                step = step_name(pid, i, f":c{s}")
                await ctx.run(step, executor(step, pid, ctx=ctx))
        obs.append([i, {"compensated": list(reversed(done))}])
    elif kind in ("call", "call_fail"):
        child = cmd["program"]
        try:
            obs.append([i, await ctx.object_call(interpret, key=child["key"], arg=child)])
        except TerminalError as e:
            obs.append([i, f"caught:{e.message}"])
    elif kind in ("send", "delayed_send"):
        child = cmd["program"]
        delay = timedelta(milliseconds=int(cmd["delay_ms"])) if kind == "delayed_send" else None
        ctx.object_send(interpret, key=child["key"], arg=child, send_delay=delay)
    elif kind in ("gather", "race"):
        futures = [_start(ctx, pid, i, j, item) for j, item in enumerate(cmd["items"])]
        if kind == "gather":
            await restate.gather(*futures)
            obs.append([i, [await f for f in futures]])
        else:
            name, value = await restate.select(**{f"f{j}": f for j, f in enumerate(futures)})
            obs.append([i, [int(name[1:]), value]])
    elif kind == "fail":
        raise TerminalError(str(cmd["message"]))
    elif kind in ("cancel", "kill"):
        never: Any
        name, never = ctx.awakeable()
        step = step_name(pid, i, ":block")
        await ctx.run(step, executor(step, pid, ctx=ctx))
        # Posted only after the step was acknowledged, hence after everything before it is
        # durable: a cancellation the fuzzer sends on seeing it finds the program here.
        await marker({"type": "blocked", "pid": pid, "awakeable": name})
        await never  # nobody resolves it: the fuzzer cancels or kills this invocation
    else:
        raise TerminalError(f"unknown command kind {kind!r}", status_code=400)


def _start(ctx: restate.ObjectContext, pid: str, i: int, j: int, item: dict[str, Any]) -> Any:
    """Start one durable operation of a combinator without awaiting it."""
    if item["kind"] == "run":
        step = step_name(pid, i, f":g{j}")
        return ctx.run(step, executor(step, pid, ctx=ctx))
    if item["kind"] == "sleep":
        return ctx.sleep(timedelta(milliseconds=int(item["ms"])))
    child = item["program"]
    return ctx.object_call(interpret, key=child["key"], arg=child)


@interpreter.handler("dump", kind="shared")
async def dump(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted(await ctx.state_keys()):
        out[name] = await ctx.get(name)
    return out


@workflow.main("run")
async def wf_run(ctx: restate.WorkflowContext, req: dict[str, Any]) -> Any:
    reg = {"type": "promise", "key": ctx.key(), "value": req["value"]}
    await ctx.run("register", recorder(reg))
    return await ctx.promise("p").value()


@workflow.handler("resolve")
async def wf_resolve(ctx: restate.WorkflowSharedContext, value: Any) -> None:
    await ctx.promise("p").resolve(value)


@helper.handler("resolve")
async def resolve_awakeable(ctx: restate.Context, req: dict[str, Any]) -> None:
    if req.get("action") == "reject":
        ctx.reject_awakeable(str(req["id"]), str(req["message"]))
    else:
        ctx.resolve_awakeable(str(req["id"]), req["value"])


@helper.handler("cancel")
async def cancel(ctx: restate.Context, invocation_id: str) -> None:
    ctx.cancel_invocation(invocation_id)


# BIDI_STREAM (the SDK's default): the server may use either mode with it (WIRE-STREAM-2); the
# fuzzer starts the embedded server with and without --streaming (fuzz/stack.py), and the fault
# proxy relays both (fuzz/proxy.py)
app = restate.app(services=[interpreter, workflow, helper])
