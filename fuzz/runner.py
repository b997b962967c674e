"""One fuzz run: drive programs through the stack under a fault schedule, then judge it.

Timeline: ``duration`` seconds of workload with alternating fault/heal phases (process faults
from :mod:`fuzz.nemesis`, proxy faults from :mod:`fuzz.proxy`), then a final heal, then up to
``liveness_bound_s`` seconds for every accepted program (and every child it started) to finish,
then the final state and the clients' attach results are read and the :mod:`fuzz.oracle` runs.

Client outcomes are Jepsen-style. A submission (``/send`` with an idempotency key) that got a
202 is ``ok``; a 4xx is ``failed``; anything else (connection reset after writing, timeouts,
5xx) is retried with the same idempotency key — safe by construction — and is
``indeterminate`` if no retry got a definite answer, or if this program's client is one of the
(seeded) half that give up at the first ambiguity, so that indeterminate outcomes really occur.

Every loop here is bounded in count and time, and everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from . import model, oracle
from .nemesis import PROCESS_FAULTS, Nemesis, schedule
from .programs import ALL_KINDS, Gen, GenConfig, Program, sub_rng, walk
from .proxy import FAULT_KINDS, MODES
from .stack import CLIENT_FAULTS, Stack, StackConfig

SUBMIT_DEADLINE_S = 20.0
#: share of programs whose client stops retrying at the first ambiguous failure
GIVE_UP_PROBABILITY = 0.5
HTTP_TIMEOUT_S = 10.0


@dataclass
class RunConfig:
    seed: int = 1
    duration: float = 60.0
    workdir: Path = field(default_factory=lambda: Path(".durable-fuzz"))
    ingress: str | None = None
    admin: str | None = None
    always_suspend: bool = False
    concurrency: int = 256
    liveness_bound_s: float = 60.0
    proxy_probability: float = 0.15
    #: restrict the proxy's fault menu / the process-fault menu (None: everything applicable)
    proxy_kinds: tuple[str, ...] | None = None
    process_kinds: tuple[str, ...] | None = None
    server_argv: list[str] | None = None
    server_log_level: str = "warning"
    #: lengths of the fault and heal phases, seconds
    fault_s: float = 4.0
    heal_s: float = 2.0
    process_faults: bool = True
    proxy_faults: bool = True
    #: replay: run exactly these programs (in this order) instead of generating
    programs: list[Program] | None = None
    gen: GenConfig = field(default_factory=GenConfig)
    #: fail the run when a command or fault kind was never exercised
    require_coverage: bool = True
    #: called about twice a second with counters (a progress display; never affects the run)
    progress: Callable[[dict[str, Any]], None] | None = None
    #: transport mode of the embedded server: mixed (per restart), stream, request_response
    transport: str = "mixed"


@dataclass
class Run:
    config: RunConfig
    stack: Stack
    programs: list[Program] = field(default_factory=list)
    outcomes: dict[str, oracle.ClientOutcome] = field(default_factory=dict)
    done_events: dict[str, asyncio.Event] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    handled: set[str] = field(default_factory=set)
    by_id: dict[str, Program] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)
    stop_at: float = 0.0
    hard_deadline: float = 0.0
    #: one client for everything done from outside besides submissions (resolving awakeables
    #: and promises, cancelling): its own pool, so a hung resolution never starves submissions,
    #: and created once (an httpx client per call spent ~40 % of the driver's CPU on SSL
    #: contexts)
    outside: httpx.AsyncClient | None = None

    def spawn(self, coro: Any) -> None:
        t: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)


async def _report_progress(r: Run, nemesis: Nemesis, report: Callable[[dict[str, Any]], None]) -> None:
    while True:
        report({
            "remaining_s": max(0.0, r.stop_at - time.monotonic()),
            "programs": len(r.programs),
            "done": sum(1 for e in r.done_events.values() if e.is_set()),
            "server_kills": nemesis.done.get("kill_server", 0) + nemesis.done.get("term_server", 0),
            "sdk_kills": nemesis.done.get("kill_sdk", 0),
            "proxy_faults": sum(r.stack.proxy.faults.values()),
        })
        await asyncio.sleep(0.5)


async def run(config: RunConfig) -> tuple[dict[str, Any], list[Program]]:
    """Execute one run; return the report (``violations`` empty on success) and the programs
    that were submitted (for a reproduction file)."""
    stack = Stack(StackConfig(seed=config.seed, workdir=config.workdir, ingress=config.ingress,
                              admin=config.admin, always_suspend=config.always_suspend,
                              proxy_probability=config.proxy_probability,
                              proxy_kinds=config.proxy_kinds, server_argv=config.server_argv,
                              server_log_level=config.server_log_level,
                              transport=config.transport))
    r = Run(config, stack)
    stack.ledger.subscribe(lambda rec: _on_record(r, rec))
    t_begin = time.monotonic()
    try:
        await stack.start()
        kinds = tuple(k for k in config.process_kinds or PROCESS_FAULTS
                      if stack.embedded or k.endswith("sdk"))
        actions = (schedule(config.seed, config.duration, kinds, config.fault_s, config.heal_s)
                   if config.process_faults else [])
        nemesis = Nemesis(stack.procs(), actions, config.duration,
                          lambda on: _set_proxy(stack, on and config.proxy_faults),
                          time.monotonic, r.events.append, config.fault_s, config.heal_s,
                          partition=stack.proxy.partition)
        r.stop_at = time.monotonic() + config.duration
        r.hard_deadline = r.stop_at + config.liveness_bound_s + 30
        if config.progress is not None:
            r.spawn(_report_progress(r, nemesis, config.progress))
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S,
                                     limits=httpx.Limits(max_connections=64)) as client, \
                httpx.AsyncClient(timeout=HTTP_TIMEOUT_S,
                                  limits=httpx.Limits(max_connections=64)) as outside:
            r.outside = outside
            nem_task = asyncio.ensure_future(nemesis.run())
            await _drive(r, client)
            await nem_task
            heal_time = stack.clock.now()
            await _await_liveness(r, config.liveness_bound_s)
            final_state = await _read_state(r, client)
            await _attach_all(r, client)
        for t in list(r.tasks):
            t.cancel()
        history = oracle.History(
            programs=r.programs, outcomes=r.outcomes, ledger=stack.ledger.records,
            exchanges=stack.proxy.exchanges, final_state=final_state, heal_time=heal_time,
            liveness_bound_s=config.liveness_bound_s,
        )
        violations = oracle.check(history)
        (config.workdir / "exchanges.jsonl").write_bytes(
            b"".join(orjson.dumps(e) + b"\n" for e in stack.proxy.exchanges))
        (config.workdir / "programs.json").write_bytes(orjson.dumps(r.programs))
        violations += [{"kind": "nemesis_error", "detail": e} for e in nemesis.errors]
        if final_state is None:
            violations.append({"kind": "unavailable", "detail": "the final state could not be "
                               "read through the ingress after the final heal"})
        report = _report(r, nemesis, violations, time.monotonic() - t_begin)
        if config.require_coverage:
            gaps = _coverage(report, stack.embedded, config, stack.expected_modes)
            report["violations"] += gaps
            if gaps:
                report["violation_counts"]["coverage_gap"] = len(gaps)
        return report, r.programs
    finally:
        for t in list(r.tasks):
            t.cancel()
        await stack.stop()


def _set_proxy(stack: Stack, on: bool) -> None:
    stack.policy.enabled = on
    stack.client_policy.enabled = on


# ---------------------------------------------------------------------- workload


async def _drive(r: Run, client: httpx.AsyncClient) -> None:
    cfg = r.config
    queue: list[Program] | None = list(cfg.programs) if cfg.programs is not None else None
    gen = Gen(cfg.seed, cfg.gen)
    count = 0

    def next_program() -> Program | None:
        nonlocal count
        if queue is not None:  # a replay runs every program it was given, whatever the time
            return queue.pop(0) if queue and time.monotonic() < r.hard_deadline else None
        if time.monotonic() >= r.stop_at:
            return None
        forced = ALL_KINDS[count] if count < len(ALL_KINDS) else None
        count += 1
        return gen.program(forced)

    async def client_loop() -> None:
        while (p := next_program()) is not None:
            r.programs.append(p)
            r.by_id[p["id"]] = p
            r.done_events[p["id"]] = asyncio.Event()
            await _submit(r, client, p)
            if r.outcomes[p["id"]].accept == "ok":
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(r.done_events[p["id"]].wait(),
                                           max(0.1, r.stop_at - time.monotonic()))

    await asyncio.gather(*(client_loop() for _ in range(cfg.concurrency)))


async def _submit(r: Run, client: httpx.AsyncClient, p: Program) -> None:
    """Submit through the client-side fault proxy; classify the outcome Jepsen-style.

    An ambiguous failure (the request may have been applied) is retried with the same
    idempotency key — unless this program's seeded client "gives up" on ambiguity, which leaves
    the outcome indeterminate on purpose (never for cancel programs: the fuzzer needs their
    invocation id to cancel them, or they would block their key forever)."""
    pid = p["id"]
    outcome = oracle.ClientOutcome(pid, "indeterminate")
    r.outcomes[pid] = outcome
    url = f"{r.stack.client_ingress}/FuzzInterpreter/{quote(p['key'])}/interpret/send"
    headers = {"idempotency-key": f"fuzz-{r.config.seed}-{pid}"}
    gives_up = (sub_rng(r.config.seed, f"give-up:{pid}").random() < GIVE_UP_PROBABILITY
                and model.expected_status(p) not in ("cancelled", "killed"))
    deadline = time.monotonic() + SUBMIT_DEADLINE_S
    written = False
    while time.monotonic() < deadline:
        try:
            resp = await client.post(url, json=p, headers=headers)
        except httpx.ConnectError:
            await asyncio.sleep(0.2)  # never reached anything: nothing to be unsure about
            continue
        except httpx.HTTPError:
            written = True  # may or may not have been accepted
            if gives_up:
                return
            await asyncio.sleep(0.2)
            continue
        if resp.status_code == 202:
            outcome.accept = "ok"
            with contextlib.suppress(Exception):
                outcome.invocation_id = str(resp.json()["invocationId"])
            return
        if 400 <= resp.status_code < 500:
            outcome.accept = "failed"
            r.events.append({"submit_rejected": pid, "status": resp.status_code,
                             "body": resp.text[:300]})
            return
        written = True
        if gives_up:
            return
        await asyncio.sleep(0.2)
    outcome.accept = "indeterminate" if written else "failed"


def _on_record(r: Run, rec: dict[str, Any]) -> None:
    kind = rec.get("type")
    if kind == "done":
        ev = r.done_events.get(str(rec.get("pid")))
        if ev is not None:
            ev.set()
    elif kind == "awakeable":
        ident = f"awk:{rec.get('id')}"
        if ident not in r.handled:
            r.handled.add(ident)
            r.spawn(_resolve_awakeable(r, rec))
    elif kind == "promise":
        ident = f"promise:{rec.get('key')}"
        if ident not in r.handled:
            r.handled.add(ident)
            r.spawn(_resolve_promise(r, rec))
    elif kind == "blocked":
        ident = f"cancel:{rec.get('pid')}"
        if ident not in r.handled:
            r.handled.add(ident)
            pid = str(rec.get("pid"))
            top = r.by_id.get(pid)
            kill = top is not None and model.expected_status(top) == "killed"
            r.spawn(_cancel(r, pid, kill))


def _done(r: Run, pid: str) -> bool:
    ev = r.done_events.get(pid)
    return ev is not None and ev.is_set()


async def _retrying(r: Run, attempt: Any, until_done: str | None, what: str) -> None:
    """Call ``attempt()`` until it returns True, the program is done, or the hard deadline."""
    client = r.outside
    assert client is not None
    delay = 0.1
    while time.monotonic() < r.hard_deadline:
        if until_done is not None and until_done in r.stack.ledger.done():
            return
        try:
            if await attempt(client):
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
    r.events.append({"gave_up": what})


async def _resolve_awakeable(r: Run, rec: dict[str, Any]) -> None:
    """Resolve from outside: through the ingress awakeable API or the helper service (seeded)."""
    awk = str(rec["id"])
    await asyncio.sleep(sub_rng(r.config.seed, f"awk-delay:{awk}").uniform(0, 0.3))
    via_ingress = sub_rng(r.config.seed, f"awk-via:{awk}").random() < 0.5
    reject = rec.get("action") == "reject"

    async def attempt(client: httpx.AsyncClient) -> bool:
        if via_ingress:
            action = "reject" if reject else "resolve"
            url = f"{r.stack.ingress}/restate/awakeables/{quote(awk)}/{action}"
            resp = (await client.post(url, content=str(rec.get("message")).encode(),
                                      headers={"content-type": "text/plain"})
                    if reject else await client.post(url, json=rec.get("value")))
        else:
            resp = await client.post(
                f"{r.stack.ingress}/FuzzHelper/resolve",
                json={"id": awk, "action": rec.get("action"), "value": rec.get("value"),
                      "message": rec.get("message")},
                headers={"idempotency-key": f"fuzz-{r.config.seed}-{awk}"})
        return resp.status_code < 300

    await _retrying(r, attempt, str(rec.get("pid")), f"awakeable {awk}")


async def _resolve_promise(r: Run, rec: dict[str, Any]) -> None:
    key = str(rec["key"])

    async def attempt(client: httpx.AsyncClient) -> bool:
        resp = await client.post(f"{r.stack.ingress}/FuzzWorkflow/{quote(key)}/resolve",
                                 json=rec.get("value"))
        # a 4xx here means the promise was already resolved by an earlier, unanswered try
        return resp.status_code < 500

    owner = key.rsplit(".w", 1)[0]
    await _retrying(r, attempt, owner, f"promise {key}")


async def _cancel(r: Run, pid: str, kill: bool = False) -> None:
    """Cancel (or kill) a blocked program through the admin API (cancel falls back to the
    helper service, i.e. ``ctx.cancel_invocation``, where the admin API has no cancel)."""
    async def attempt(client: httpx.AsyncClient) -> bool:
        outcome = r.outcomes.get(pid)
        if outcome is None or outcome.invocation_id is None:
            return False
        inv = outcome.invocation_id
        resp = await client.patch(f"{r.stack.admin}/invocations/{inv}/{'kill' if kill else 'cancel'}")
        if resp.status_code in (404, 405) and not kill:
            resp = await client.post(f"{r.stack.ingress}/FuzzHelper/cancel", json=inv)
        ok = resp.status_code < 300 or resp.status_code == 409
        if ok and kill:
            r.killed.add(pid)
            ev = r.done_events.get(pid)
            if ev is not None:
                ev.set()
        return ok

    await _retrying(r, attempt, None if kill else pid, f"{'kill' if kill else 'cancel'} {pid}")


# ---------------------------------------------------------------------- after the final heal


def _expected_pids(r: Run, done: set[str]) -> set[str]:
    """Every program that must finish: accepted ones and indeterminate ones the server turns
    out to have accepted (a marker exists, or the proxy saw it invoked), with all children."""
    out: set[str] = set()
    invoked = r.stack.proxy.observer.owners.values()
    seen = set(invoked)
    for top in r.programs:
        accept = r.outcomes[top["id"]].accept
        if model.expected_status(top) == "killed":
            continue  # a killed program posts no marker; attaching to it is checked instead
        if accept == "ok" or (accept == "indeterminate" and (top["id"] in done or top["id"] in seen)):
            out |= {p["id"] for p in walk(top)}
    return out


async def _await_liveness(r: Run, bound: float) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        done = set(r.stack.ledger.done())
        if _expected_pids(r, done) <= done:
            return
        await asyncio.sleep(0.2)


async def _read_state(r: Run, client: httpx.AsyncClient) -> dict[str, dict[str, Any]] | None:
    keys = sorted({p["key"] for top in r.programs for p in walk(top)})
    out: dict[str, dict[str, Any]] = {}
    sem = asyncio.Semaphore(16)

    async def one(key: str) -> None:
        async with sem:
            for _ in range(5):
                try:
                    resp = await client.post(f"{r.stack.ingress}/FuzzInterpreter/{quote(key)}/dump")
                    if resp.status_code == 200:
                        body = resp.json()
                        if body:
                            out[key] = body
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
            raise RuntimeError(f"could not read the state of {key}")

    try:
        await asyncio.gather(*(one(k) for k in keys))
    except RuntimeError as exc:
        r.events.append({"state_read_failed": str(exc)})
        return None
    return out


async def _attach_all(r: Run, client: httpx.AsyncClient) -> None:
    sem = asyncio.Semaphore(16)

    async def one(o: oracle.ClientOutcome) -> None:
        if o.invocation_id is None or (o.pid not in r.stack.ledger.done()
                                       and model.expected_status(r.by_id[o.pid]) != "killed"):
            return
        async with sem:
            try:
                resp = await client.get(f"{r.stack.ingress}/restate/attach/{o.invocation_id}",
                                        timeout=5.0)
            except httpx.HTTPError as exc:
                o.attach = {"status": "unknown", "error": repr(exc)}
                return
        if resp.status_code == 200:
            try:
                o.attach = {"status": "ok", "output": resp.json()}
            except ValueError:
                o.attach = {"status": "ok", "output": resp.text}
            return
        body: Any
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        o.attach = {"status": "failed", "code": body.get("code", resp.status_code),
                    "http_status": resp.status_code, "message": body.get("message")}

    await asyncio.gather(*(one(o) for o in r.outcomes.values() if o.accept == "ok"))


# ---------------------------------------------------------------------- report


def _report(r: Run, nemesis: Nemesis, violations: list[dict[str, Any]],
            elapsed: float) -> dict[str, Any]:
    done = r.stack.ledger.done()
    commands: Counter[str] = Counter({k: 0 for k in ALL_KINDS})
    for top in r.programs:
        att = r.outcomes[top["id"]].attach or {}
        killed = model.expected_status(top) == "killed" and att.get("status") == "failed"
        for p in walk(top):
            if p["id"] in done or killed:
                commands.update(c["kind"] for c in p["commands"])
    proxy_faults = dict(r.stack.proxy.faults)
    faults: dict[str, int] = {k: proxy_faults.get(k, 0) for k in FAULT_KINDS}
    for k in PROCESS_FAULTS:
        faults[k] = nemesis.done.get(k, 0)
    client_faults = r.stack.client_proxy.faults if r.stack.client_proxy else Counter()
    for k in CLIENT_FAULTS:
        faults[f"client_{k}"] = client_faults.get(k, 0)
    accepts = Counter(o.accept for o in r.outcomes.values())
    invocations = {ex.get("invocation_id") for ex in r.stack.proxy.exchanges
                   if ex.get("invocation_id")}
    proxy = r.stack.proxy
    by_mode = {m: {k: proxy.mode_faults[m].get(k, 0) for k in FAULT_KINDS} for m in MODES}
    return {
        "seed": r.config.seed,
        "duration_s": r.config.duration,
        "elapsed_s": round(elapsed, 1),
        "programs": len(r.programs),
        "programs_completed": sum(1 for p in r.programs if p["id"] in done),
        "invocations": len(invocations),
        "server_kills": nemesis.done.get("kill_server", 0) + nemesis.done.get("term_server", 0),
        "sdk_kills": nemesis.done.get("kill_sdk", 0),
        "requests_lost_to_partitions": r.stack.proxy.partitioned,
        "process_faults_skipped": dict(nemesis.skipped),
        "process_faults_deferred": dict(nemesis.deferred),
        # where the workload could not progress (seconds, summed over the run): processes down
        # or paused, partitions, and the holds the proxy injected (delays, dropped-request holds)
        "dead_time_s": {**{k: round(v, 1) for k, v in sorted(nemesis.dead_time.items())},
                        "proxy_holds": round(r.stack.proxy.held_s, 1)},
        "restart_s": {k: {"n": len(v), "mean": round(sum(v) / len(v), 2), "max": max(v)}
                      for k, v in sorted(nemesis.restart_s.items()) if v},
        "proxy_faults": sum(proxy_faults.values()),
        "client_faults": sum(client_faults.values()),
        "exchanges": len(r.stack.proxy.exchanges),
        "step_executions": sum(1 for x in r.stack.ledger.records if x.get("type") == "exec"),
        "client_outcomes": dict(accepts),
        "violation_counts": dict(Counter(v["kind"] for v in violations)),
        "violations": _cap(violations),
        "command_histogram": dict(commands),
        "fault_histogram": faults,
        # the proxy's faults per transport mode; turns: RR exchanges and streamed turns
        "proxy_fault_histogram_by_mode": by_mode,
        "turns_by_mode": {m: proxy.mode_turns.get(m, 0) for m in MODES},
        "streams": proxy.streams,
        "server_transports": dict(Counter(r.stack.server_transports)),
        "liveness_bound_s": r.config.liveness_bound_s,
        "events": r.events[-200:],
    }


def _cap(violations: list[dict[str, Any]], per_kind: int = 100) -> list[dict[str, Any]]:
    """At most ``per_kind`` violations of each kind (the counts stay exact)."""
    seen: Counter[str] = Counter()
    out = []
    for v in violations:
        seen[v["kind"]] += 1
        if seen[v["kind"]] <= per_kind:
            out.append(v)
    return out


def _coverage(report: dict[str, Any], embedded: bool, config: RunConfig,
              modes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Kinds never exercised; ``modes``: transport modes in which every proxy fault kind must
    have been injected too (both, when the fuzzer runs the server and alternates its mode)."""
    out = []
    for kind, n in report["command_histogram"].items():
        if n == 0:
            out.append({"kind": "coverage_gap", "detail": f"command kind {kind!r} never ran"})
    for kind, n in report["fault_histogram"].items():
        applicable = (
            ((kind in FAULT_KINDS or kind.startswith("client_")) and config.proxy_faults)
            or (kind in PROCESS_FAULTS and config.process_faults
                and (embedded or kind.endswith("sdk")))
        )
        if applicable and n == 0:
            out.append({"kind": "coverage_gap", "detail": f"fault kind {kind!r} never injected"})
    if config.proxy_faults:
        for mode in modes:
            for kind, n in report["proxy_fault_histogram_by_mode"][mode].items():
                if n == 0 and (config.proxy_kinds is None or kind in config.proxy_kinds):
                    out.append({"kind": "coverage_gap",
                                "detail": f"fault kind {kind!r} never injected in {mode} mode"})
    return out


def involved_programs(report: dict[str, Any], programs: list[Program]) -> list[Program]:
    """The top-level programs a failing run's violations point at (for reproduction/shrinking):
    by program id, or, for a key's state, every program whose tree touches that key."""
    pids = {str(v["pid"]).split(".")[0].split("#")[0] for v in report["violations"] if v.get("pid")}
    keys = {str(v["key"]) for v in report["violations"] if v.get("key") and not v.get("pid")}
    return [p for p in programs
            if p["id"] in pids or any(q["key"] in keys for q in walk(p))]
