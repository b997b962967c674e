"""The asyncio shell around the core: commits batches, calls SDKs, fires timers.

Every event follows one path: read the committed rows the core may need, call the core
(synchronously, so no other event interleaves), queue its batch for group commit, await the
commit, and only then carry out the effects (answer a client, send an attempt, arm a timer).
Batches are committed in the order they were queued, so the order of decisions is the order
of durability.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson

from durable.protocol import (
    SuspensionMessage,
    encode_frame,
    invocation_content_type,
)

from . import ids
from .config import ServerConfig
from .core.effects import (
    Effect,
    Evict,
    EvictPromise,
    Facts,
    Finished,
    Invoke,
    Retry,
    ScheduleTimer,
    SubmitRequest,
    SubmitResult,
)
from .core.engine import Engine, PromiseKey
from .core.model import Inv, ServiceInfo
from .invoker import Exchange, InvokeError, Invoker
from .registry import DiscoveryError, discover, parse_manifest, validate_uri
from .store import base as ops
from .store.base import Store, TimerRow

log = logging.getLogger("durable.server")
Json = Any


def now_ms() -> int:
    return int(time.time() * 1000)


class Runtime:
    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.engine = Engine(
            retention_ms=config.retention_ms,
            retry=config.retry,
            always_suspend=config.always_suspend,
            rand=os.urandom,
        )
        self.deployments: dict[str, Deployment] = {}
        self._waiters: dict[str, list[asyncio.Future[Json]]] = {}
        self._timers: list[tuple[int, str, TimerRow]] = []
        self._timer_ids: set[str] = set()
        self._timer_wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handles: set[asyncio.TimerHandle] = set()
        self._background: list[asyncio.Task[None]] = []
        self._closing = False
        # trust_env=False: SDK endpoints are addressed directly, never through an HTTP(S)_PROXY
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.attempt_timeout_s, connect=10.0), trust_env=False
        )
        #: invoke requests (request/response and streaming mode, spec/02)
        self.invoker = Invoker()
        # group commit: while SDK answers are on their way, their batches will follow soon
        invoker = self.invoker
        store.expect_more(lambda: invoker.awaiting > 0)
        #: open streams whose last turn ended with a suspension, by (invocation id, attempt id):
        #: a warm resume of that attempt goes onto the stream (WIRE-STREAM-5)
        self._streams: dict[tuple[str, str], _Continuation] = {}
        #: attempts (turns) sent, and HTTP exchanges they used (fewer when streaming)
        self.attempts = 0
        self.exchanges = 0
        self.broken = False
        #: how late each recent timer fired (ms), for the accuracy check
        self.timer_lateness_ms: deque[int] = deque(maxlen=1000)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.store.open()
        for dep_id, uri, blob, created_at in await self.store.load_deployments():
            self._install(Deployment.from_row(dep_id, uri, blob, created_at))
        rows = await self.store.load_active()
        effects = self.engine.load(rows, now_ms())
        for timer in await self.store.load_timers():
            self._arm(timer)
        await self._settle(effects)
        self._background.append(asyncio.create_task(self._timer_loop()))
        self._background.append(asyncio.create_task(self._expiry_loop()))

    async def stop(self) -> None:
        self._closing = True
        for handle in self._handles:
            handle.cancel()
        for task in [*self._background, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._background, *self._tasks, return_exceptions=True)
        for futs in self._waiters.values():
            for fut in futs:
                if not fut.done():
                    fut.cancel()
        await self.http.aclose()
        await self.invoker.aclose()
        await self.store.close()

    def _fail_stop(self, exc: BaseException) -> None:
        log.critical("a commit failed; the in-memory state is ahead of the store: %r", exc)
        self.broken = True
        if self.config.exit_on_store_failure:
            os._exit(70)

    def _spawn(self, coro: Any) -> None:
        if self._closing:
            coro.close()
            return
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # ------------------------------------------------------------------ commit + effects

    async def _settle(self, effects: list[Effect]) -> None:
        """Commit the engine's batch (always: it is also a barrier), then act."""
        durable = self.store.commit(self.engine.take_batch())
        early = self._heads_early(effects)
        try:
            try:
                await durable
            except Exception as exc:
                self._fail_stop(exc)
                raise
            self._act(effects, early)
        finally:
            for exchange in early.values():  # not handed to an attempt: nothing was sent on it
                exchange.abort()

    def _act(self, effects: list[Effect], early: dict[int, Exchange]) -> None:
        """Carry out a durable batch's effects; an attempt takes its early exchange from ``early``."""
        for effect in effects:
            if isinstance(effect, Invoke):
                slot = self._stream_slot(effect)
                if slot is not None:
                    slot.effect = effect  # committed: now it may go onto the stream
                else:  # (closing: the attempt never runs, its early exchange is aborted by _settle)
                    exchange = None if self._closing else early.pop(id(effect), None)
                    self._spawn(self._attempt(effect, exchange))
            elif isinstance(effect, Retry):
                self._retry_later(effect)
            elif isinstance(effect, ScheduleTimer):
                self._arm(effect.timer)
            elif isinstance(effect, Finished):
                for fut in self._waiters.pop(effect.invocation_id, []):
                    if not fut.done():
                        fut.set_result(effect.result)
            elif isinstance(effect, Evict):
                self.engine.evict(effect.invocation_id)
            elif isinstance(effect, EvictPromise):
                self.engine.evict_promise(effect.key)

    def _stream_slot(self, effect: Invoke) -> _Continuation | None:
        """The open stream a warm resume goes onto (WIRE-STREAM-5), if one is waiting for it."""
        start = effect.start
        if start.resume_attempt_id is None:
            return None
        slot = self._streams.get((start.invocation_id, start.resume_attempt_id))
        return slot if slot is not None and slot.effect is None else None

    def _heads_early(self, effects: list[Effect]) -> dict[int, Exchange]:
        """Exchanges for the batch's new attempts, their request heads already sent while the
        batch is being made durable (WIRE-STREAM-16): the SDK's HTTP server sets the request up
        during the fsync. Only while no other SDK answer is awaited: under load the group commit
        folds the batches anyway, and a head on its own is one more write on each side."""
        early: dict[int, Exchange] = {}
        if self.invoker.awaiting:
            return early
        for effect in effects:
            if isinstance(effect, Invoke) and self._stream_slot(effect) is None:
                try:
                    exchange = self._open_exchange(effect)
                except InvokeError:
                    continue  # the attempt reports it
                exchange.send_head_early()
                early[id(effect)] = exchange
        return early

    async def facts(self, inv_ids: Iterable[str], promises: Iterable[PromiseKey] = ()) -> Facts:
        """Committed rows for ids the engine does not hold; re-read if it evicted meanwhile."""
        inv_ids, promises = list(inv_ids), list(promises)
        facts = Facts({}, {})
        for _ in range(10):
            epoch = self.engine.epoch
            invs = await self.store.get_invocations(
                [i for i in inv_ids if i not in self.engine.active]
            )
            proms = await self.store.get_promises(
                [k for k in promises if k not in self.engine.promise_overlay]
            )
            facts = Facts(invs, proms)
            if self.engine.epoch == epoch:
                break
        return facts

    # ------------------------------------------------------------------ invocations

    async def submit(self, req: SubmitRequest, *, wait: bool) -> tuple[SubmitResult, asyncio.Future[Json] | None]:
        det = self.engine.submit_id(req)
        facts = await self.facts([det] if det else [])
        result, effects = self.engine.submit(req, now_ms(), facts)
        fut = None
        if wait and result.invocation_id is not None and result.status in ("accepted", "previously_accepted"):
            fut = self._result_future(result.invocation_id, result.completed, result.result)
        await self._settle(effects)
        return result, fut

    def _result_future(self, inv_id: str, completed: bool, result: Json) -> asyncio.Future[Json]:
        fut: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        if completed:
            fut.set_result(result)
        else:
            self._waiters.setdefault(inv_id, []).append(fut)
            fut.add_done_callback(lambda f: self._forget_waiter(inv_id, f))
        return fut

    def _forget_waiter(self, inv_id: str, fut: asyncio.Future[Json]) -> None:
        """A client that went away (its future cancelled) no longer holds memory."""
        if fut.cancelled():
            futs = self._waiters.get(inv_id)
            if futs is not None and fut in futs:
                futs.remove(fut)
                if not futs:
                    del self._waiters[inv_id]

    async def lookup(self, inv_id: str) -> Inv | None:
        facts = await self.facts([inv_id])
        inv = self.engine.active.get(inv_id)
        if inv is not None:
            return inv
        data = facts.invocations.get(inv_id)
        return Inv.from_data(data) if data is not None else None

    async def attach(self, inv_id: str, *, wait: bool) -> tuple[Inv | None, asyncio.Future[Json] | None]:
        """The invocation and, if ``wait`` (or it is completed), a future of its result."""
        inv = await self.lookup(inv_id)
        if inv is None:
            return None, None
        if not wait and not inv.completed:
            return inv, None
        fut = self._result_future(inv.id, inv.completed, inv.result)
        await self.store.commit([])
        return inv, fut

    async def control(self, action: str, inv_id: str) -> str:
        facts = await self.facts([inv_id])
        fn = {"cancel": self.engine.cancel, "kill": self.engine.kill, "purge": self.engine.purge}[action]
        outcome, effects = fn(inv_id, now_ms(), facts)
        await self._settle(effects)
        return outcome

    async def resolve_awakeable(self, awakeable_id: str, result: Json) -> bool:
        found, effects = self.engine.signal_awakeable(awakeable_id, result, now_ms())
        await self._settle(effects)
        return found

    # ------------------------------------------------------------------ attempts

    async def _attempt(self, effect: Invoke, exchange: Exchange | None = None) -> None:
        """One exchange: its first turn is ``effect``; in streaming mode, each warm resume of the
        turn before is written onto the same exchange once it is durable (WIRE-STREAM-5/6).
        ``exchange``: one opened for it already (:meth:`_heads_early`)."""
        try:
            while True:
                start = effect.start
                inv_id, attempt = start.invocation_id, start.attempt_id
                self.attempts += 1
                try:
                    if exchange is None:
                        exchange = self._open_exchange(effect)
                    part, timeout = await self._turn_part(effect)
                    msgs = await exchange.turn(part, timeout)
                except InvokeError as exc:
                    log.info("attempt %s of %s failed: %s", attempt, inv_id, exc.message)
                    effects = self.engine.on_attempt_failed(
                        inv_id, attempt, exc.code, exc.message, now_ms()
                    )
                    if exchange is not None:
                        exchange.abort()  # WIRE-STREAM-13: no further turn on this exchange
                        exchange = None
                    await self._settle(effects)
                    return
                refs, promises = self.engine.references(inv_id, msgs)
                facts = await self.facts(refs, promises)
                effects = self.engine.on_response(inv_id, attempt, msgs, now_ms(), facts)
                key = (inv_id, attempt)
                slot = None
                if isinstance(msgs[-1], SuspensionMessage) and exchange.can_continue:
                    slot = self._streams[key] = _Continuation()
                try:
                    await self._settle(effects)
                finally:
                    if slot is not None:
                        del self._streams[key]
                if slot is None or slot.effect is None:
                    break
                effect = slot.effect
        except BaseException:
            if exchange is not None:
                exchange.abort()
            raise
        await exchange.finish()

    def _open_exchange(self, effect: Invoke) -> Exchange:
        start = effect.start
        dep = self.deployments.get(effect.deployment_id or "")
        if dep is None:
            svc = self.engine.services.get(start.service)
            dep = self.deployments.get(svc.deployment_id) if svc is not None else None
        if dep is None:
            raise InvokeError(404, f"no deployment serves {start.service}")
        streaming = self.config.streaming and dep.manifest.get("protocolMode") == "BIDI_STREAM"
        self.exchanges += 1
        return self.invoker.exchange(
            dep.uri,
            f"/invoke/{start.service}/{start.handler}",  # WIRE-HTTP-1
            dep.headers,  # WIRE-HTTP-7
            invocation_content_type(),  # WIRE-NEG-1
            streaming=streaming,  # WIRE-STREAM-1
        )

    async def _turn_part(self, effect: Invoke) -> tuple[bytes, float]:
        """A turn's request part (``start`` + entries, WIRE-REQ-1/2) and its abort timeout."""
        start = effect.start
        entries = await self.store.read_journal(
            start.invocation_id, start.resume_from, start.journal_length
        )
        if len(entries) != start.journal_length - start.resume_from:
            raise InvokeError(500, "journal not readable yet")
        if effect.needs_state and start.key is not None:
            state = await self.store.read_state(start.service, start.key)
            start = replace(start, state={k: orjson.loads(v) for k, v in state.items()})
        body = b"".join([encode_frame(start), *(e + b"\n" for e in entries)])
        svc = self.engine.services.get(start.service)
        handler = svc.handlers.get(start.handler) if svc is not None else None
        abort_ms = handler.abort_timeout_ms if handler is not None else None
        return body, abort_ms / 1000 if abort_ms else self.config.attempt_timeout_s

    async def _exchange(self, effect: Invoke) -> list[Any]:
        """One request/response exchange for ``effect`` (used by tests that patch the runtime)."""
        exchange = self._open_exchange(effect)
        exchange.streaming = False
        try:
            part, timeout = await self._turn_part(effect)
            return await exchange.turn(part, timeout)
        finally:
            await exchange.finish()

    def _retry_later(self, effect: Retry) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._handles.discard(handle)
            self._spawn(self._settle(self.engine.on_retry(effect.invocation_id, effect.attempt_count, now_ms())))

        handle = loop.call_later(effect.delay_ms / 1000, fire)
        self._handles.add(handle)

    # ------------------------------------------------------------------ timers

    def _arm(self, timer: TimerRow) -> None:
        if timer.id in self._timer_ids:
            return
        self._timer_ids.add(timer.id)
        heapq.heappush(self._timers, (timer.due_ms, timer.id, timer))
        self._timer_wake.set()

    async def _timer_loop(self) -> None:
        while True:
            now = now_ms()
            while self._timers and self._timers[0][0] <= now:
                _, tid, timer = heapq.heappop(self._timers)
                self._timer_ids.discard(tid)
                self.timer_lateness_ms.append(now - timer.due_ms)
                self._spawn(self._settle(self.engine.on_timer(timer, now)))
            self._timer_wake.clear()
            timeout = (self._timers[0][0] - now) / 1000 if self._timers else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout)

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.retention_sweep_s)
            expired = await self.store.expired(now_ms(), 1000)
            if expired:
                self.engine.expire(expired, now_ms())
                await self._settle([])

    # ------------------------------------------------------------------ deployments

    def _install(self, dep: Deployment) -> list[ServiceInfo]:
        services = parse_manifest(dep.manifest, dep.id)
        self.deployments[dep.id] = dep
        for svc in services:
            old = self.engine.services.get(svc.name)
            revision = old.revision + 1 if old is not None and old.deployment_id != dep.id else 1
            self.engine.services[svc.name] = replace(svc, revision=revision)
        return services

    async def register(
        self,
        uri_raw: Json,
        headers: dict[str, str] | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> tuple[bool, Deployment]:
        """Discover and store a deployment; returns (created, deployment)."""
        uri = validate_uri(uri_raw)
        manifest = await discover(self.http, uri, headers or {})
        dep_id = ids.deployment_id(uri + "\n" + orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS).decode())
        services = parse_manifest(manifest, dep_id)
        if not force:
            for svc in services:
                old = self.engine.services.get(svc.name)
                if old is not None and old.deployment_id != dep_id and old.ty != svc.ty:
                    raise DiscoveryError(
                        f"service {svc.name} is already registered as a {old.ty} by "
                        f"{old.deployment_id}; use force to change its type",
                        409,
                    )
        existing = self.deployments.get(dep_id)
        dep = Deployment(dep_id, uri, manifest, existing.created_at if existing else now_ms(), headers or {})
        if dry_run:
            return existing is None, dep
        await self.store.commit([ops.PutDeployment(dep.id, uri, dep.to_blob(), dep.created_at)])
        self._install(dep)
        return existing is None, dep


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    uri: str
    manifest: Json
    created_at: int
    headers: dict[str, str]

    def to_blob(self) -> bytes:
        return orjson.dumps({"manifest": self.manifest, "additional_headers": self.headers})

    @classmethod
    def from_row(cls, dep_id: str, uri: str, blob: bytes, created_at: int) -> Deployment:
        data = orjson.loads(blob)
        return cls(dep_id, uri, data["manifest"], created_at, data.get("additional_headers") or {})


@dataclass(slots=True)
class _Continuation:
    """The next turn for an open stream, filled in by ``_settle`` after its commit."""

    effect: Invoke | None = None


__all__ = ["DiscoveryError", "Runtime", "now_ms"]
