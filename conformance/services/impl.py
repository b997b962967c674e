# mypy: disable-error-code="untyped-decorator"
# (the SDK module is passed in at run time, so its decorators are untyped here by design)
"""The test services, written once against restate-sdk 1.2.0's API (spec/08-test-services.md).

Why one builder for two SDKs: the contract must mean the same thing on every implementation,
and our SDK mirrors restate-sdk, so the only difference between the two deployments is the
module passed in. Each service is small and orthogonal; the ``Interpreter`` object executes a
list of JSON commands so that new cases need no new service code.

Process-local effect ledger: ``TestUtilsService/effects`` reads a counter that ``run``
closures increment *outside* the journal. It is how the kit observes that an acknowledged
step never runs again. The services must therefore run in a single process.
"""

from __future__ import annotations

import collections
import json
import os
import random
from datetime import timedelta
from typing import Any

EFFECTS: collections.Counter[str] = collections.Counter()
ATTEMPTS: collections.Counter[str] = collections.Counter()


def deployment_tag() -> str:
    """Which services process ran a step (set per process by the kit for upgrade cases)."""
    return os.environ.get("DURABLE_CONFORMANCE_TAG", "default")


def _ms(n: Any) -> timedelta:
    return timedelta(milliseconds=int(n))


def build(sdk: Any, private: bool = True) -> list[Any]:
    TerminalError = sdk.TerminalError
    RunOptions = sdk.RunOptions
    has_retry_policy = hasattr(sdk, "InvocationRetryPolicy")

    def fast_retries(max_attempts: int | None = None, kill: bool = False) -> dict[str, Any]:
        if not has_retry_policy:
            return {}
        kw: dict[str, Any] = {
            "initial_interval": timedelta(milliseconds=50),
            "exponentiation_factor": 2.0,
            "max_interval": timedelta(milliseconds=500),
        }
        if max_attempts is not None:
            kw["max_attempts"] = max_attempts
            kw["on_max_attempts"] = "kill" if kill else "pause"
        return {"invocation_retry_policy": sdk.InvocationRetryPolicy(**kw)}

    def terminal(message: str, code: int = 500, metadata: dict[str, str] | None = None) -> Exception:
        if metadata:
            try:
                return TerminalError(message, status_code=code, metadata=metadata)  # type: ignore[no-any-return]
            except TypeError:
                pass
        return TerminalError(message, status_code=code)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ Counter
    counter = sdk.VirtualObject("Counter")

    @counter.handler("add")
    async def counter_add(ctx: Any, n: int) -> dict[str, int]:
        old = await ctx.get("counter") or 0
        ctx.set("counter", old + n)
        return {"oldValue": old, "newValue": old + n}

    @counter.handler("addThenFail")
    async def counter_add_then_fail(ctx: Any, n: int) -> None:
        old = await ctx.get("counter") or 0
        ctx.set("counter", old + n)
        raise terminal(ctx.key())

    @counter.handler("get", kind="shared")
    async def counter_get(ctx: Any) -> int:
        return int(await ctx.get("counter") or 0)

    @counter.handler("reset")
    async def counter_reset(ctx: Any) -> None:
        ctx.clear("counter")

    # ------------------------------------------------------------------ Proxy
    proxy = sdk.Service("Proxy")

    def _arg(req: dict[str, Any]) -> bytes:
        return json.dumps(req.get("input")).encode()

    def _call(ctx: Any, req: dict[str, Any]) -> Any:
        return ctx.generic_call(
            req["service"], req["handler"], _arg(req), key=req.get("key"),
            idempotency_key=req.get("idempotencyKey"),
        )

    def _send(ctx: Any, req: dict[str, Any]) -> Any:
        delay = req.get("delayMs")
        return ctx.generic_send(
            req["service"], req["handler"], _arg(req), key=req.get("key"),
            send_delay=_ms(delay) if delay else None, idempotency_key=req.get("idempotencyKey"),
        )

    def _decode(raw: Any) -> Any:
        if isinstance(raw, bytes | bytearray):
            return json.loads(raw) if raw else None
        return raw

    @proxy.handler("call")
    async def proxy_call(ctx: Any, req: dict[str, Any]) -> Any:
        return _decode(await _call(ctx, req))

    @proxy.handler("oneWayCall")
    async def proxy_one_way(ctx: Any, req: dict[str, Any]) -> str:
        handle = _send(ctx, req)
        return str(await handle.invocation_id())

    @proxy.handler("manyCalls")
    async def proxy_many(ctx: Any, reqs: list[dict[str, Any]]) -> None:
        pending = []
        for r in reqs:
            if r.get("oneWay"):
                _send(ctx, r["request"])
            else:
                fut = _call(ctx, r["request"])
                if r.get("awaitAtTheEnd"):
                    pending.append(fut)
                else:
                    await fut
        for fut in pending:
            await fut

    # ------------------------------------------------------------------ TestUtilsService
    utils = sdk.Service("TestUtilsService")

    @utils.handler("echo")
    async def echo(ctx: Any, value: Any) -> Any:
        return value

    @utils.handler("uppercaseEcho")
    async def uppercase_echo(ctx: Any, value: str) -> str:
        return value.upper()

    @utils.handler("echoHeaders")
    async def echo_headers(ctx: Any) -> dict[str, str]:
        return {k.lower(): v for k, v in dict(ctx.request().headers).items()}

    # restate-sdk needs an explicit BytesSerde; SDKs without one go by the ``bytes`` type hint.
    bytes_serde = getattr(getattr(sdk, "serde", None), "BytesSerde", None)
    raw_kw = {"input_serde": bytes_serde(), "output_serde": bytes_serde()} if bytes_serde else {}

    @utils.handler("rawEcho", accept="*/*", content_type="application/octet-stream", **raw_kw)
    async def raw_echo(ctx: Any, value: bytes) -> bytes:
        return value

    @utils.handler("countExecutedSideEffects")
    async def count_side_effects(ctx: Any, req: dict[str, Any]) -> int:
        tag, n = str(req["tag"]), int(req["n"])

        def effect() -> int:
            EFFECTS[tag] += 1
            return 1

        total = 0
        for i in range(n):
            total += await ctx.run_typed(f"effect-{i}", effect, RunOptions())
        return total

    @utils.handler("effects")
    async def effects(ctx: Any, tag: str) -> int:
        return EFFECTS[tag]

    @utils.handler("cancelInvocation")
    async def cancel_invocation(ctx: Any, invocation_id: str) -> None:
        ctx.cancel_invocation(invocation_id)

    @utils.handler("sleepConcurrently")
    async def sleep_concurrently(ctx: Any, millis: list[int]) -> None:
        futs = [ctx.sleep(_ms(m)) for m in millis]
        await sdk.gather(*futs)

    # ------------------------------------------------------------------ AwakeableHolder
    holder = sdk.VirtualObject("AwakeableHolder")

    @holder.handler("hold")
    async def hold(ctx: Any, awakeable_id: str) -> None:
        ctx.set("id", awakeable_id)

    @holder.handler("hasAwakeable", kind="shared")
    async def has_awakeable(ctx: Any) -> bool:
        return (await ctx.get("id")) is not None

    @holder.handler("getAwakeable", kind="shared")
    async def get_awakeable(ctx: Any) -> Any:
        return await ctx.get("id")

    @holder.handler("unlock")
    async def unlock(ctx: Any, payload: Any) -> None:
        aid = await ctx.get("id")
        if aid is None:
            raise terminal("No awakeable registered", 404)
        ctx.resolve_awakeable(aid, payload)
        ctx.clear("id")

    def hold_awakeable(ctx: Any, holder_key: str) -> Any:
        aid, fut = ctx.awakeable()
        ctx.object_send(hold, holder_key, aid)
        return fut

    # ------------------------------------------------------------------ BlockAndWaitWorkflow
    baw = sdk.Workflow("BlockAndWaitWorkflow")

    @baw.main("run")
    async def baw_run(ctx: Any, value: str) -> str:
        ctx.set("input", value)
        out = await ctx.promise("durablePromise").value()
        peek = await ctx.promise("durablePromise").peek()
        if peek is None:
            raise terminal("peek returned nothing after the promise was completed")
        return str(out)

    @baw.handler("unblock")
    async def baw_unblock(ctx: Any, output: str) -> None:
        await ctx.promise("durablePromise").resolve(output)

    @baw.handler("getState")
    async def baw_state(ctx: Any) -> Any:
        return await ctx.get("input")

    # ------------------------------------------------------------------ PromiseWorkflow
    pwf = sdk.Workflow("PromiseWorkflow")

    @pwf.main("run")
    async def pwf_run(ctx: Any, req: dict[str, Any]) -> list[Any]:
        if req.get("sleepMs"):
            await ctx.sleep(_ms(req["sleepMs"]))
        out = []
        for name in req.get("await", []):
            out.append(await ctx.promise(name).value())
            ctx.set("received", out)
        return out

    @pwf.handler("resolve")
    async def pwf_resolve(ctx: Any, req: dict[str, Any]) -> None:
        await ctx.promise(req["name"]).resolve(req.get("value"))

    @pwf.handler("reject")
    async def pwf_reject(ctx: Any, req: dict[str, Any]) -> None:
        await ctx.promise(req["name"]).reject(req.get("message", "rejected"))

    @pwf.handler("peek")
    async def pwf_peek(ctx: Any, name: str) -> Any:
        return await ctx.promise(name).peek()

    @pwf.handler("received")
    async def pwf_received(ctx: Any) -> Any:
        return await ctx.get("received") or []

    # ------------------------------------------------------------------ short retention
    short_wf = sdk.Workflow("ShortRetentionWorkflow")

    @short_wf.main("run", workflow_retention=timedelta(seconds=5))
    async def short_wf_run(ctx: Any, value: Any) -> Any:
        return value

    short_svc = sdk.Service("ShortRetentionService", idempotency_retention=timedelta(seconds=5))

    @short_svc.handler("echo")
    async def short_echo(ctx: Any, value: Any) -> Any:
        return value

    # ------------------------------------------------------------------ Failing
    failing = sdk.VirtualObject("Failing", **fast_retries())

    @failing.handler("terminallyFailingCall")
    async def terminally_failing_call(ctx: Any, req: dict[str, Any]) -> None:
        raise terminal(req.get("errorMessage", "failed"), int(req.get("code", 500)), req.get("metadata"))

    @failing.handler("callTerminallyFailingCall")
    async def call_terminally_failing(ctx: Any, req: dict[str, Any]) -> str:
        await ctx.object_call(terminally_failing_call, str(ctx.uuid()), req)
        raise terminal("this should be unreachable")

    @failing.handler("failingCallWithEventualSuccess")
    async def eventual_success(ctx: Any) -> int:
        tag = f"eventual:{ctx.key()}"
        ATTEMPTS[tag] += 1
        if ATTEMPTS[tag] >= 4:
            return ATTEMPTS[tag]
        raise ValueError(f"failed attempt {ATTEMPTS[tag]}")

    @failing.handler("terminallyFailingSideEffect")
    async def terminally_failing_side_effect(ctx: Any, req: dict[str, Any]) -> None:
        def fail() -> None:
            EFFECTS[f"tfse:{ctx.key()}"] += 1
            raise terminal(req.get("errorMessage", "failed"))

        await ctx.run_typed("fail", fail, RunOptions())
        raise ValueError("this should be unreachable")

    @failing.handler("sideEffectSucceedsAfterGivenAttempts")
    async def succeeds_after(ctx: Any, n: int) -> int:
        tag = f"sesa:{ctx.key()}"

        def effect() -> int:
            ATTEMPTS[tag] += 1
            if ATTEMPTS[tag] >= n:
                return ATTEMPTS[tag]
            raise ValueError(f"failed attempt {ATTEMPTS[tag]}")

        opts = RunOptions(initial_retry_interval=_ms(10), max_retry_interval=_ms(100))
        return int(await ctx.run_typed("succeeds-after", effect, opts))

    @failing.handler("sideEffectFailsAfterGivenAttempts")
    async def fails_after(ctx: Any, n: int) -> int:
        tag = f"sefa:{ctx.key()}"

        def effect() -> int:
            ATTEMPTS[tag] += 1
            raise ValueError(f"failed attempt {ATTEMPTS[tag]}")

        opts = RunOptions(max_attempts=n, initial_retry_interval=_ms(10), max_retry_interval=_ms(100))
        try:
            await ctx.run_typed("fails-after", effect, opts)
        except TerminalError:
            return ATTEMPTS[tag]
        raise terminal("run should have failed terminally")

    # ------------------------------------------------------------------ NonDeterministic
    nondet = sdk.VirtualObject("NonDeterministic", **fast_retries(max_attempts=3, kill=True))

    def _flip(ctx: Any, name: str) -> bool:
        tag = f"nd:{name}:{ctx.key()}"
        ATTEMPTS[tag] += 1
        return ATTEMPTS[tag] == 1  # the first attempt goes left, every replay goes right

    async def _finish(ctx: Any) -> None:
        await ctx.sleep(_ms(100))
        ctx.object_send(counter_add, ctx.key(), 1)

    @nondet.handler("eitherSleepOrCall")
    async def either_sleep_or_call(ctx: Any) -> None:
        if _flip(ctx, "esoc"):
            await ctx.sleep(_ms(100))
        else:
            await ctx.object_call(counter_get, "abc", None)
        await _finish(ctx)

    @nondet.handler("callDifferentMethod")
    async def call_different_method(ctx: Any) -> None:
        if _flip(ctx, "cdm"):
            await ctx.object_call(counter_get, "abc", None)
        else:
            await ctx.object_call(counter_reset, "abc", None)
        await _finish(ctx)

    @nondet.handler("backgroundInvokeWithDifferentTargets")
    async def background_different(ctx: Any) -> None:
        if _flip(ctx, "bidt"):
            ctx.object_send(counter_get, "abc", None)
        else:
            ctx.object_send(counter_reset, "abc", None)
        await _finish(ctx)

    @nondet.handler("setDifferentKey")
    async def set_different_key(ctx: Any) -> None:
        if _flip(ctx, "sdk"):
            ctx.set("a", "my-state")
        else:
            ctx.set("b", "my-state")
        await _finish(ctx)

    # ------------------------------------------------------------------ ListObject / MapObject
    lst = sdk.VirtualObject("ListObject")

    @lst.handler("append")
    async def list_append(ctx: Any, value: Any) -> None:
        items = await ctx.get("list") or []
        ctx.set("list", [*items, value])

    @lst.handler("get", kind="shared")
    async def list_get(ctx: Any) -> list[Any]:
        return list(await ctx.get("list") or [])

    @lst.handler("clear")
    async def list_clear(ctx: Any) -> list[Any]:
        items = await ctx.get("list") or []
        ctx.clear("list")
        return list(items)

    mp = sdk.VirtualObject("MapObject")

    @mp.handler("set")
    async def map_set(ctx: Any, entry: dict[str, Any]) -> None:
        ctx.set(entry["key"], entry["value"])

    @mp.handler("get", kind="shared")
    async def map_get(ctx: Any) -> list[dict[str, Any]]:
        keys = sorted(await ctx.state_keys())
        return [{"key": k, "value": await ctx.get(k)} for k in keys]

    @mp.handler("clearAll")
    async def map_clear_all(ctx: Any) -> list[dict[str, Any]]:
        keys = sorted(await ctx.state_keys())
        out = [{"key": k, "value": await ctx.get(k)} for k in keys]
        ctx.clear_all()
        return out

    # ------------------------------------------------------------------ cancellation
    blocking = sdk.VirtualObject("CancelTestBlockingService")

    @blocking.handler("block")
    async def block(ctx: Any, op: str) -> None:
        await hold_awakeable(ctx, ctx.key())
        if op == "SLEEP":
            await ctx.sleep(timedelta(days=1))
        elif op == "CALL":
            await ctx.service_call(sleep_concurrently, [86_400_000])
        elif op == "AWAKEABLE":
            _, fut = ctx.awakeable()
            await fut
        else:
            raise terminal(f"unknown op {op}", 400)

    @blocking.handler("isUnlocked")
    async def is_unlocked(ctx: Any) -> bool:
        return True

    runner = sdk.VirtualObject("CancelTestRunner")

    @runner.handler("startTest")
    async def start_test(ctx: Any, op: str) -> None:
        try:
            await ctx.object_call(block, ctx.key(), op)
        except TerminalError as e:
            if getattr(e, "status_code", None) == 409:
                ctx.set("canceled", True)
            raise

    @runner.handler("verifyTest", kind="shared")
    async def verify_test(ctx: Any) -> bool:
        return bool(await ctx.get("canceled"))

    # ------------------------------------------------------------------ kill
    singleton = sdk.VirtualObject("KillTestSingleton")

    @singleton.handler("recursiveCall")
    async def recursive_call(ctx: Any) -> None:
        await hold_awakeable(ctx, ctx.key())

    @singleton.handler("isUnlocked")
    async def singleton_unlocked(ctx: Any) -> bool:
        return True

    kill_runner = sdk.VirtualObject("KillTestRunner")

    @kill_runner.handler("startCallTree")
    async def start_call_tree(ctx: Any) -> None:
        await ctx.object_call(recursive_call, ctx.key(), None)

    # ------------------------------------------------------------------ Saga
    saga = sdk.Workflow("SagaWorkflow")

    @saga.main("run")
    async def saga_run(ctx: Any, req: dict[str, Any]) -> list[str]:
        done: list[str] = []
        compensations: list[str] = []
        tag = str(req.get("tag", ctx.key()))
        try:
            for step in req["steps"]:
                name = str(step["name"])
                if step.get("awaitPromise"):
                    await ctx.promise(name).value()

                def do(name: str = name, fail: bool = bool(step.get("fail"))) -> str:
                    EFFECTS[f"{tag}:do:{name}"] += 1
                    if fail:
                        raise terminal(f"step {name} failed", 500)
                    return name

                compensations.append(name)
                done.append(await ctx.run_typed(name, do, RunOptions()))
                ctx.set("done", done)
        except TerminalError:
            undone: list[str] = []
            for name in reversed(compensations):

                def undo(name: str = name) -> str:
                    EFFECTS[f"{tag}:undo:{name}"] += 1
                    return name

                undone.append(await ctx.run_typed(f"undo-{name}", undo, RunOptions()))
                ctx.set("compensated", undone)
            raise
        return done

    @saga.handler("getCompensations")
    async def saga_compensations(ctx: Any) -> list[str]:
        return list(await ctx.get("compensated") or [])

    @saga.handler("resolve")
    async def saga_resolve(ctx: Any, name: str) -> None:
        await ctx.promise(name).resolve(True)

    # ------------------------------------------------------------------ Interpreter
    interp = sdk.VirtualObject("Interpreter", **fast_retries())

    def awaitable(ctx: Any, spec: dict[str, Any]) -> Any:
        if "sleep" in spec:
            return ctx.sleep(_ms(spec["sleep"]))
        if "awakeable" in spec:
            return hold_awakeable(ctx, str(spec["awakeable"]))
        if "run" in spec:
            value = spec["run"]
            return ctx.run_typed("value", lambda: value, RunOptions())
        if "runFail" in spec:
            message = str(spec["runFail"])

            def fail() -> None:
                raise terminal(message)

            return ctx.run_typed("fail", fail, RunOptions())
        if "call" in spec:
            return _call(ctx, spec["call"])
        raise terminal(f"unknown awaitable {spec}", 400)

    def outcome(value: Any = None, error: Exception | None = None) -> dict[str, Any]:
        if error is not None:
            return {"error": str(getattr(error, "message", error))}
        return {"value": _decode(value)}

    async def settle(fut: Any) -> dict[str, Any]:
        try:
            return outcome(await fut)
        except TerminalError as e:
            return outcome(error=e)

    async def combine(ctx: Any, c: dict[str, Any]) -> Any:
        futs = [awaitable(ctx, s) for s in c["of"]]
        mode = c.get("mode", "first")
        if mode == "first":
            done, _ = await sdk.wait_completed(*futs)
            # among completed futures, the lowest index wins (deterministic)
            idx = min(futs.index(f) for f in done)
            return {"index": idx, **(await settle(futs[idx]))}
        if mode == "all":
            await sdk.gather(*futs)
            return [await settle(f) for f in futs]
        if mode == "firstSucceeded":
            async for f in sdk.as_completed(*futs):
                o = await settle(f)
                if "value" in o:
                    return {"index": futs.index(f), **o}
            raise terminal("all failed")
        if mode == "allSucceeded":
            values: dict[int, Any] = {}
            async for f in sdk.as_completed(*futs):
                o = await settle(f)
                if "error" in o:
                    raise terminal(str(o["error"]))
                values[futs.index(f)] = o["value"]
            return [values[i] for i in range(len(futs))]
        raise terminal(f"unknown await mode {mode}", 400)

    async def execute(ctx: Any, commands: list[dict[str, Any]]) -> list[Any]:
        return [await one(ctx, c) for c in commands]

    async def one(ctx: Any, c: dict[str, Any]) -> Any:
        op = c.get("op")
        if op == "set":
            ctx.set(c["key"], c["value"])
            return None
        if op == "get":
            return await ctx.get(c["key"])
        if op == "clear":
            ctx.clear(c["key"])
            return None
        if op == "clearAll":
            ctx.clear_all()
            return None
        if op == "keys":
            return sorted(await ctx.state_keys())
        if op == "increment":
            v = int(await ctx.get(c["key"]) or 0) + int(c.get("by", 1))
            ctx.set(c["key"], v)
            return v
        if op == "append":
            items = [*(await ctx.get(c["key"]) or []), c["value"]]
            ctx.set(c["key"], items)
            return items
        if op == "run":
            tag, value, randomize = c.get("effect"), c.get("value"), bool(c.get("random"))

            def effect() -> Any:
                if tag:
                    EFFECTS[str(tag)] += 1
                if "fail" in c:
                    raise terminal(str(c["fail"]))
                return random.random() if randomize else value

            if c.get("deploymentTag"):
                value = deployment_tag()
            result = await ctx.run_typed(str(c.get("name", "run")), effect, RunOptions())
            if c.get("setKey"):
                ctx.set(c["setKey"], result)
            return result
        if op == "sleep":
            await ctx.sleep(_ms(c["ms"]))
            return None
        if op == "call":
            return _decode(await _call(ctx, c))
        if op == "send":
            _send(ctx, c)
            return None
        if op == "awakeable":
            return await hold_awakeable(ctx, str(c["holder"]))
        if op == "await":
            return await combine(ctx, c)
        if op == "fail":
            raise terminal(str(c.get("message", "failed")), int(c.get("code", 500)))
        if op == "failRetryable":
            tag = str(c["tag"])
            ATTEMPTS[tag] += 1
            if ATTEMPTS[tag] < int(c.get("times", 1)) + 1:
                raise ValueError(f"retryable failure {ATTEMPTS[tag]}")
            return None  # not journaled: a replay re-executes this op, so its result must not vary
        if op == "try":
            try:
                return {"ok": await execute(ctx, c["body"])}
            except TerminalError as e:
                caught = await execute(ctx, c.get("catch", []))
                return {"error": str(e.message), "code": e.status_code, "catch": caught}
        if op == "uuid":
            u = str(ctx.uuid())
            if c.get("setKey"):
                ctx.set(c["setKey"], u)
            return u
        raise terminal(f"unknown op {op!r}", 400)

    @interp.handler("run")
    async def interp_run(ctx: Any, program: dict[str, Any]) -> list[Any]:
        return await execute(ctx, list(program.get("commands", [])))

    @interp.handler("get", kind="shared")
    async def interp_get(ctx: Any, key: str) -> Any:
        return await ctx.get(key)

    # ------------------------------------------------------------------ security
    private_ok = private and _accepts(sdk.Service, "ingress_private")
    private_svc = sdk.Service("PrivateService", ingress_private=True) if private_ok else None
    services = [counter, proxy, utils, holder, baw, pwf, failing, nondet, lst, mp, blocking, runner,
                singleton, kill_runner, saga, interp, short_wf, short_svc]
    if private_svc is not None:

        @private_svc.handler("secret")
        async def secret(ctx: Any) -> str:
            return "secret"

        services.append(private_svc)
    return services


def _accepts(cls: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False

