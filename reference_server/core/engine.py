"""The invocation state machine (sans-IO).

The engine owns the in-memory image of every invocation that is not finished, the
virtual-object locks and inboxes, and the promise waiters. Each public method takes one
event (a request, an SDK response, a fired timer, a cancel, ...) plus the time and any
committed rows the shell had to read (``Facts``), mutates that image synchronously and
returns the effects to carry out. The store operations are collected in a batch that the
shell takes with :meth:`Engine.take_batch` and commits *before* it carries out the effects:
that single rule is what makes every acknowledgement durable.

There is no asyncio, clock or randomness in here: ``now`` and ``rand`` are passed in.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson

from durable.protocol import (
    CANCEL_SIGNAL_ID,
    AttachInvocationCommand,
    CallCommand,
    ClearAllStateCommand,
    ClearStateCommand,
    Command,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    EndMessage,
    ErrorMessage,
    GetInvocationOutputCommand,
    GetPromiseCommand,
    Message,
    OutputCommand,
    PeekPromiseCommand,
    ProposeRunCompletionMessage,
    ResumeMissMessage,
    RunCommand,
    SendCommand,
    SendSignalCommand,
    SetStateCommand,
    SleepCommand,
    StartMessage,
    SuspensionMessage,
)

from .. import ids
from ..store import base as ops
from ..store.base import TimerRow
from .effects import (
    NO_FACTS,
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
from .entries import (
    CANCELLED,
    KILLED,
    VOID,
    completion,
    failure,
    result_of,
    signal,
    target_id,
    validate_response,
    wakes,
)
from .model import (
    STATUS_BACKING_OFF,
    STATUS_COMPLETED,
    STATUS_INBOXED,
    STATUS_RUNNING,
    STATUS_SCHEDULED,
    STATUS_SUSPENDED,
    Inv,
    RetryPolicy,
    ServiceInfo,
)

Json = Any
PromiseKey = tuple[str, str, str]

class Engine:
    def __init__(
        self,
        *,
        retention_ms: int = 24 * 3600 * 1000,
        retry: RetryPolicy | None = None,
        always_suspend: bool = False,
        rand: ids.RandomBytes,
    ) -> None:
        self.retention_ms = retention_ms
        self.retry = retry or RetryPolicy()
        self.always_suspend = always_suspend
        self.rand = rand
        self.services: dict[str, ServiceInfo] = {}
        self.active: dict[str, Inv] = {}
        self.locks: dict[tuple[str, str], str] = {}
        self.inbox: dict[tuple[str, str], deque[str]] = {}
        self.promise_waiters: dict[PromiseKey, list[tuple[str, int]]] = {}
        self.promise_overlay: dict[PromiseKey, Json] = {}
        self.seq = 0
        self.epoch = 0
        self._ops: list[ops.Op] = []
        self._dirty: dict[str, Inv] = {}
        self._effects: list[Effect] = []
        self._facts: Facts = NO_FACTS
        self._now = 0

    # ------------------------------------------------------------------ plumbing

    def take_batch(self) -> list[ops.Op]:
        batch = self._ops
        batch.extend(_put(inv) for inv in self._dirty.values())
        self._ops = []
        self._dirty = {}
        return batch

    def _begin(self, now: int, facts: Facts) -> None:
        self._now = now
        self._facts = facts
        self._effects = []

    def _end(self) -> list[Effect]:
        effects = self._effects
        self._effects = []
        self._facts = NO_FACTS
        return effects

    def _touch(self, inv: Inv) -> None:
        inv.modified_at = self._now
        self._dirty[inv.id] = inv

    def _find(self, invocation_id: str) -> Inv | None:
        inv = self.active.get(invocation_id)
        if inv is not None:
            return inv
        data = self._facts.invocations.get(invocation_id)
        return Inv.from_data(data) if data is not None else None

    def _promise(self, key: PromiseKey) -> Json:
        if key in self.promise_overlay:
            return self.promise_overlay[key]
        data = self._facts.promises.get(key)
        return orjson.loads(data) if data is not None else None

    def _append(self, inv: Inv, entry: dict[str, Json]) -> None:
        entry = {**entry, "index": inv.journal_length}
        self._ops.append(ops.AppendJournal(inv.id, inv.journal_length, orjson.dumps(entry)))
        inv.journal_length += 1
        self._touch(inv)

    def policy(self, inv: Inv) -> RetryPolicy:
        svc = self.services.get(inv.service)
        if svc is None:
            return self.retry
        handler = svc.handlers.get(inv.handler)
        return self.retry.merged(handler.retry if handler else None, svc.retry)

    # ------------------------------------------------------------------ lifecycle

    def load(self, rows: Iterable[bytes], now: int) -> list[Effect]:
        """Rebuild the image from the store after a (re)start and restart interrupted attempts."""
        self._begin(now, NO_FACTS)
        invs = sorted((Inv.from_data(r) for r in rows), key=lambda i: i.seq)
        for inv in invs:
            self.active[inv.id] = inv
            self.seq = max(self.seq, inv.seq)
            if inv.exclusive and inv.status not in (STATUS_INBOXED, STATUS_SCHEDULED):
                self.locks[inv.lock_key] = inv.id
            for cid, name in inv.promise_waits.items():
                self.promise_waiters.setdefault((inv.service, inv.key or "", name), []).append(
                    (inv.id, int(cid))
                )
        for inv in invs:
            if inv.status == STATUS_INBOXED:
                self.inbox.setdefault(inv.lock_key, deque()).append(inv.id)
        for inv in invs:
            if inv.status in (STATUS_RUNNING, STATUS_BACKING_OFF):
                self._flush_pending(inv)
                self._start_attempt(inv, warm=False)
        for lock_key in list(self.inbox):
            if lock_key not in self.locks:
                self._next_in_inbox(lock_key)
        return self._end()

    def evict(self, invocation_id: str) -> None:
        inv = self.active.get(invocation_id)
        if inv is not None and inv.completed and invocation_id not in self._dirty:
            del self.active[invocation_id]
            self.epoch += 1

    def evict_promise(self, key: PromiseKey) -> None:
        if self.promise_overlay.pop(key, None) is not None:
            self.epoch += 1

    # ------------------------------------------------------------------ submit

    def submit_id(self, req: SubmitRequest) -> str | None:
        """The deterministic id a request would get (workflow run or idempotency key)."""
        svc = self.services.get(req.service)
        if svc is None:
            return None
        handler = svc.handlers.get(req.handler)
        if svc.ty == "workflow" and handler is not None and handler.ty == "workflow":
            return ids.workflow_invocation_id(req.service, req.key or "")
        if req.idempotency_key:
            return ids.idempotent_invocation_id(
                req.service, req.key, req.handler, req.idempotency_key
            )
        return None

    def submit(
        self, req: SubmitRequest, now: int, facts: Facts = NO_FACTS
    ) -> tuple[SubmitResult, list[Effect]]:
        self._begin(now, facts)
        result = self._submit(req)
        return result, self._end()

    def _submit(self, req: SubmitRequest) -> SubmitResult:
        svc = self.services.get(req.service)
        handler = svc.handlers.get(req.handler) if svc is not None else None
        if svc is None or handler is None:
            return SubmitResult(None, "not_found")
        det = self.submit_id(req)
        if det is not None:
            existing = self._find(det)
            if existing is not None:
                is_run = svc.ty == "workflow" and handler.ty == "workflow"
                if req.mode == "send":
                    return SubmitResult(det, "previously_accepted", existing.completed, existing.result)
                if is_run:
                    return SubmitResult(det, "already_invoked", existing.completed, existing.result)
                if req.caller is not None and not existing.completed:
                    existing.waiters.append(list(req.caller))
                    self._touch(existing)
                return SubmitResult(det, "previously_accepted", existing.completed, existing.result)
        inv_id = det or ids.random_invocation_id(self.rand)
        self.seq += 1
        inv = Inv(
            id=inv_id,
            service=req.service,
            handler=req.handler,
            key=req.key,
            svc_ty=svc.ty,
            handler_ty=handler.ty,
            status=STATUS_SCHEDULED,
            seq=self.seq,
            created_at=self._now,
            modified_at=self._now,
            idempotency_key=req.idempotency_key,
            execute_at=req.execute_at,
            last_progress_at=self._now,
        )
        self.active[inv_id] = inv
        if req.caller is not None:
            inv.caller = req.caller[0]
            if req.mode == "call":
                inv.waiters.append(list(req.caller))
        self._append(
            inv, {"type": "input", "parameter": req.parameter, "headers": dict(req.headers)}
        )
        if req.execute_at is not None and req.execute_at > self._now:
            timer = TimerRow(f"{inv_id}:start", req.execute_at, inv_id, "start", 0)
            self._ops.append(ops.PutTimer(*_timer_fields(timer)))
            self._effects.append(ScheduleTimer(timer))
        else:
            self._enqueue(inv)
        return SubmitResult(inv_id, "accepted")

    def _enqueue(self, inv: Inv) -> None:
        if inv.exclusive:
            holder = self.locks.get(inv.lock_key)
            if holder is not None and holder != inv.id:
                inv.status = STATUS_INBOXED
                self.inbox.setdefault(inv.lock_key, deque()).append(inv.id)
                self._touch(inv)
                return
            self.locks[inv.lock_key] = inv.id
        self._start_attempt(inv, warm=False)

    def _next_in_inbox(self, lock_key: tuple[str, str]) -> None:
        queue = self.inbox.get(lock_key)
        while queue:
            nxt = self.active.get(queue.popleft())
            if nxt is not None and nxt.status == STATUS_INBOXED:
                self.locks[lock_key] = nxt.id
                self._start_attempt(nxt, warm=False)
                break
        if queue is not None and not queue:
            del self.inbox[lock_key]

    def _start_attempt(self, inv: Inv, *, warm: bool) -> None:
        attempt = ids.attempt_id(self.rand)
        resume_from = 0
        resume_attempt = None
        if warm and not self.always_suspend and inv.suspended_attempt and inv.sdk_length > 0:
            resume_from = inv.sdk_length
            resume_attempt = inv.suspended_attempt
        inv.status = STATUS_RUNNING
        inv.attempt = attempt
        inv.attempt_resume_from = resume_from
        inv.attempt_count += 1
        inv.awaiting = None
        self._touch(inv)
        svc = self.services.get(inv.service)
        # A workflow's state belongs to its run and goes when the run is purged or expires
        # (``purge``, ``expire``), so the first attempt of a run starts from an empty state.
        fresh_run = inv.attempt_count == 1 and inv.svc_ty == "workflow" and inv.handler_ty == "workflow"
        start = StartMessage(
            invocation_id=inv.id,
            service=inv.service,
            handler=inv.handler,
            key=inv.key,
            attempt_id=attempt,
            journal_length=inv.journal_length,
            resume_from=resume_from,
            resume_attempt_id=resume_attempt,
            state={} if fresh_run and resume_from == 0 else None,
            random_seed=int.from_bytes(hashlib.sha256(inv.id.encode()).digest()[:6], "big"),
            retry_count=inv.retry_count,
            retry_duration_ms=max(0, self._now - inv.last_progress_at),
        )
        if inv.deployment_id is None and svc is not None:
            inv.deployment_id = svc.deployment_id
        needs_state = resume_from == 0 and inv.key is not None and not fresh_run
        self._effects.append(Invoke(start, inv.deployment_id, needs_state))

    # ------------------------------------------------------------------ SDK responses

    def references(
        self, inv_id: str, msgs: Iterable[Message]
    ) -> tuple[set[str], set[PromiseKey]]:
        """Committed rows ``on_response`` may need: invocations and workflow promises."""
        inv = self.active.get(inv_id)
        inv_ids: set[str] = set()
        promises: set[PromiseKey] = set()
        for m in msgs:
            if isinstance(m, CallCommand | SendCommand):
                det = self.submit_id(
                    SubmitRequest(m.service, m.handler, m.key, None, {}, m.idempotency_key)
                )
                if det is not None:
                    inv_ids.add(det)
            elif isinstance(m, AttachInvocationCommand | GetInvocationOutputCommand):
                tid = target_id(dict(m.target))
                if tid is not None:
                    inv_ids.add(tid)
            elif inv is not None and isinstance(
                m, GetPromiseCommand | PeekPromiseCommand | CompletePromiseCommand
            ):
                promises.add((inv.service, inv.key or "", m.key))
        return inv_ids, promises

    def on_response(
        self, inv_id: str, attempt: str, msgs: list[Message], now: int, facts: Facts = NO_FACTS
    ) -> list[Effect]:
        self._begin(now, facts)
        inv = self.active.get(inv_id)
        if inv is None or inv.status != STATUS_RUNNING or inv.attempt != attempt:
            return self._end()
        problem = validate_response(inv, msgs)
        if problem is not None:
            self._attempt_error(inv, 571, problem, None, stored=False)
            return self._end()
        terminator = msgs[-1]
        if isinstance(terminator, ResumeMissMessage):
            if inv.attempt_resume_from == 0:
                self._attempt_error(inv, 571, "resume_miss answered to a full journal", None, stored=False)
                return self._end()
            inv.suspended_attempt = None
            self._start_attempt(inv, warm=False)
            return self._end()
        base = inv.journal_length
        notifications: list[dict[str, Json]] = []
        commands = [m for m in msgs if isinstance(m, Command)]
        for cmd in commands:
            entry = cmd.to_json()
            self._ops.append(ops.AppendJournal(inv.id, cmd.index, orjson.dumps(entry)))
            inv.journal_length += 1
        for cmd in commands:
            inv.cids.extend(c for c in cmd.completion_ids() if c)
            if isinstance(cmd, RunCommand):
                inv.open_runs.append(cmd.completion_id)
            self._apply(inv, cmd, notifications)
        for m in msgs:
            if isinstance(m, ProposeRunCompletionMessage) and m.completion_id in inv.open_runs:
                inv.open_runs.remove(m.completion_id)
                notifications.append(completion(m.completion_id, result_of(m)))
        inv.sdk_length = base + len(commands)
        stored = bool(notifications) or bool(commands)
        if stored:
            inv.retry_count = 0
            inv.last_progress_at = now
            inv.last_failure = None
        if inv.completed:  # e.g. it killed itself through a send_signal
            return self._end()
        for n in notifications:
            self._append(inv, n)
        self._touch(inv)
        if isinstance(terminator, EndMessage):
            self._complete(inv, inv.output)
        elif isinstance(terminator, SuspensionMessage):
            inv.attempt = None
            inv.suspended_attempt = attempt
            inv.status = STATUS_SUSPENDED
            inv.awaiting = terminator.awaiting.to_json()
            arrived = notifications + self._flush_pending(inv)
            if any(wakes(inv.awaiting, n) for n in arrived):
                self._start_attempt(inv, warm=True)
        elif isinstance(terminator, ErrorMessage):
            self._flush_pending(inv)
            self._attempt_error(
                inv,
                terminator.code,
                terminator.message,
                terminator.next_retry_delay_ms,
                stored=stored,
                extra={
                    k: v
                    for k, v in terminator.to_json().items()
                    if k.startswith("related_") or k == "stacktrace"
                },
            )
        return self._end()

    def on_attempt_failed(
        self, inv_id: str, attempt: str, code: int, message: str, now: int
    ) -> list[Effect]:
        self._begin(now, NO_FACTS)
        inv = self.active.get(inv_id)
        if inv is not None and inv.status == STATUS_RUNNING and inv.attempt == attempt:
            self._flush_pending(inv)
            self._attempt_error(inv, code, message, None, stored=False)
        return self._end()

    def on_retry(self, inv_id: str, attempt_count: int, now: int) -> list[Effect]:
        self._begin(now, NO_FACTS)
        inv = self.active.get(inv_id)
        if inv is not None and inv.status == STATUS_BACKING_OFF and inv.attempt_count == attempt_count:
            self._start_attempt(inv, warm=False)
        return self._end()

    def _flush_pending(self, inv: Inv) -> list[dict[str, Json]]:
        pending, inv.pending = inv.pending, []
        for n in pending:
            self._append(inv, n)
        return pending

    def _attempt_error(
        self,
        inv: Inv,
        code: int,
        message: str,
        delay_ms: int | None,
        *,
        stored: bool,
        extra: dict[str, Json] | None = None,
    ) -> None:
        inv.retry_count = 1 if stored else inv.retry_count + 1
        inv.last_failure = {"code": code, "message": message, "at": self._now, **(extra or {})}
        inv.attempt = None
        inv.suspended_attempt = None
        inv.status = STATUS_BACKING_OFF
        self._touch(inv)
        policy = self.policy(inv)
        if policy.max_attempts is not None and inv.retry_count >= policy.max_attempts:
            self._complete(inv, failure(code, message))
            return
        delay = delay_ms if delay_ms is not None else policy.delay_ms(inv.retry_count)
        self._effects.append(Retry(inv.id, inv.attempt_count, max(0, delay)))

    def _apply(self, inv: Inv, cmd: Command, notifications: list[dict[str, Json]]) -> None:
        if isinstance(cmd, OutputCommand):
            inv.output = result_of(cmd)
        elif isinstance(cmd, SetStateCommand | ClearStateCommand | ClearAllStateCommand):
            if inv.key is None or not inv.exclusive:
                return
            if isinstance(cmd, SetStateCommand):
                value = cmd.to_json()["parameter"]
                self._ops.append(ops.SetState(inv.service, inv.key, cmd.key, orjson.dumps(value)))
            else:
                name = cmd.key if isinstance(cmd, ClearStateCommand) else None
                self._ops.append(ops.ClearState(inv.service, inv.key, name))
        elif isinstance(cmd, SleepCommand):
            timer = TimerRow(
                f"{inv.id}:sleep:{cmd.completion_id}", cmd.wake_up_time_ms, inv.id, "sleep",
                cmd.completion_id,
            )
            self._ops.append(ops.PutTimer(*_timer_fields(timer)))
            self._effects.append(ScheduleTimer(timer))
        elif isinstance(cmd, CallCommand | SendCommand):
            self._call(inv, cmd, notifications)
        elif isinstance(cmd, GetPromiseCommand | PeekPromiseCommand | CompletePromiseCommand):
            self._promise_command(inv, cmd, notifications)
        elif isinstance(cmd, CompleteAwakeableCommand):
            parsed = ids.parse_awakeable_id(cmd.awakeable_id)
            if parsed is not None:
                self._notify(parsed[0], signal(parsed[1], result_of(cmd)))
        elif isinstance(cmd, SendSignalCommand):
            if cmd.signal_id == CANCEL_SIGNAL_ID:
                self._cancel(cmd.target_invocation_id)
            else:
                self._notify(cmd.target_invocation_id, signal(cmd.signal_id, result_of(cmd)))
        elif isinstance(cmd, AttachInvocationCommand | GetInvocationOutputCommand):
            tid = target_id(dict(cmd.target))
            target = self._find(tid) if tid is not None else None
            if target is None:
                notifications.append(completion(cmd.completion_id, failure(404, "invocation not found")))
            elif target.completed:
                notifications.append(completion(cmd.completion_id, target.result))
            elif isinstance(cmd, GetInvocationOutputCommand):
                notifications.append(completion(cmd.completion_id, VOID))
            else:
                target.waiters.append([inv.id, cmd.completion_id])
                self._touch(target)

    def _call(self, inv: Inv, cmd: CallCommand | SendCommand, notifications: list[dict[str, Json]]) -> None:
        is_call = isinstance(cmd, CallCommand)
        cid = cmd.completion_id if isinstance(cmd, CallCommand) else 0
        req = SubmitRequest(
            service=cmd.service,
            handler=cmd.handler,
            key=cmd.key,
            parameter=cmd.to_json()["parameter"],
            headers=dict(cmd.headers or {}),
            idempotency_key=cmd.idempotency_key,
            mode="call" if is_call else "send",
            execute_at=None if is_call else cmd.invoke_time_ms,  # type: ignore[union-attr]
            caller=(inv.id, cid) if is_call else None,
        )
        res = self._submit(req)
        id_cid = cmd.invocation_id_completion_id
        if res.status == "not_found" or res.invocation_id is None:
            fail = failure(404, f"service or handler not found: {cmd.service}/{cmd.handler}")
            if id_cid:
                notifications.append(completion(id_cid, fail))
            if cid:
                notifications.append(completion(cid, fail))
            return
        if id_cid:
            notifications.append(completion(id_cid, {"invocation_id": res.invocation_id}))
        if is_call:
            inv.children.append(res.invocation_id)
            if res.status == "already_invoked":
                notifications.append(
                    completion(cid, failure(409, "the workflow method was already invoked"))
                )
            elif res.completed:
                notifications.append(completion(cid, res.result))

    def _promise_command(
        self,
        inv: Inv,
        cmd: GetPromiseCommand | PeekPromiseCommand | CompletePromiseCommand,
        notifications: list[dict[str, Json]],
    ) -> None:
        key = (inv.service, inv.key or "", cmd.key)
        current = self._promise(key)
        if isinstance(cmd, PeekPromiseCommand):
            notifications.append(completion(cmd.completion_id, current or VOID))
        elif isinstance(cmd, GetPromiseCommand):
            if current is not None:
                notifications.append(completion(cmd.completion_id, current))
            else:
                self.promise_waiters.setdefault(key, []).append((inv.id, cmd.completion_id))
                inv.promise_waits[str(cmd.completion_id)] = cmd.key
        elif current is not None:
            notifications.append(
                completion(cmd.completion_id, failure(409, "promise already completed"))
            )
        else:
            value = result_of(cmd)
            self.promise_overlay[key] = value
            self._ops.append(ops.PutPromise(*key, orjson.dumps(value)))
            self._effects.append(EvictPromise(key))
            notifications.append(completion(cmd.completion_id, VOID))
            for wid, wcid in self.promise_waiters.pop(key, []):
                waiter = self.active.get(wid)
                if waiter is not None:
                    waiter.promise_waits.pop(str(wcid), None)
                    if waiter is inv:
                        notifications.append(completion(wcid, value))
                    else:
                        self._notify(wid, completion(wcid, value))

    # ------------------------------------------------------------------ notifications

    def _notify(self, inv_id: str, notification: dict[str, Json]) -> bool:
        inv = self.active.get(inv_id)
        if inv is None or inv.completed:
            return False
        if inv.status == STATUS_RUNNING:
            inv.pending.append(notification)
            self._touch(inv)
            return True
        self._append(inv, notification)
        if inv.status == STATUS_SUSPENDED and wakes(inv.awaiting, notification):
            self._start_attempt(inv, warm=True)
        return True

    def on_timer(self, timer: TimerRow, now: int) -> list[Effect]:
        self._begin(now, NO_FACTS)
        self._ops.append(ops.DeleteTimer(timer.id))
        inv = self.active.get(timer.invocation_id)
        if inv is not None and not inv.completed:
            if timer.kind == "sleep":
                self._notify(inv.id, completion(timer.completion_id, VOID))
            elif timer.kind == "start" and inv.status == STATUS_SCHEDULED:
                self._enqueue(inv)
        return self._end()

    def signal_awakeable(
        self, awakeable_id: str, result: dict[str, Json], now: int
    ) -> tuple[bool, list[Effect]]:
        self._begin(now, NO_FACTS)
        parsed = ids.parse_awakeable_id(awakeable_id)
        found = parsed is not None and self._notify(parsed[0], signal(parsed[1], result))
        return found, self._end()

    # ------------------------------------------------------------------ completion

    def _complete(self, inv: Inv, result: Json) -> None:
        if result is None:
            result = VOID
        inv.status = STATUS_COMPLETED
        inv.result = result
        inv.completed_at = self._now
        inv.expires_at = self._now + self._retention(inv)
        inv.attempt = None
        inv.awaiting = None
        inv.pending = []
        self._touch(inv)
        self._ops.append(ops.DeleteTimersOf(inv.id))
        for wid, wcid in inv.waiters:
            self._notify(wid, completion(wcid, result))
        for cid, name in inv.promise_waits.items():
            waiters = self.promise_waiters.get((inv.service, inv.key or "", name), [])
            if (inv.id, int(cid)) in waiters:
                waiters.remove((inv.id, int(cid)))
        inv.promise_waits = {}
        if inv.exclusive and self.locks.get(inv.lock_key) == inv.id:
            del self.locks[inv.lock_key]
            self._next_in_inbox(inv.lock_key)
        self._effects.append(Finished(inv.id, result))
        self._effects.append(Evict(inv.id))

    def _retention(self, inv: Inv) -> int:
        svc = self.services.get(inv.service)
        handler = svc.handlers.get(inv.handler) if svc is not None else None
        if handler is not None and handler.retention_ms is not None:
            return handler.retention_ms
        return self.retention_ms

    def cancel(self, inv_id: str, now: int, facts: Facts = NO_FACTS) -> tuple[str, list[Effect]]:
        """Returns "done" (never started), "accepted" (signalled), "completed" or "not_found"."""
        self._begin(now, facts)
        outcome = self._cancel(inv_id)
        return outcome, self._end()

    def _cancel(self, inv_id: str) -> str:
        inv = self._find(inv_id)
        if inv is None:
            return "not_found"
        if inv.completed:
            return "completed"
        if inv.status in (STATUS_SCHEDULED, STATUS_INBOXED):
            self._complete(inv, CANCELLED)
            return "done"
        if not inv.cancel_requested:
            inv.cancel_requested = True
            self._touch(inv)
            self._notify(inv.id, signal(CANCEL_SIGNAL_ID, VOID))
        return "accepted"

    def kill(self, inv_id: str, now: int, facts: Facts = NO_FACTS) -> tuple[str, list[Effect]]:
        self._begin(now, facts)
        inv = self._find(inv_id)
        if inv is None:
            outcome = "not_found"
        elif inv.completed:
            outcome = "completed"
        else:
            self._kill(inv)
            outcome = "done"
        return outcome, self._end()

    def _kill(self, inv: Inv) -> None:
        for child_id in inv.children:
            child = self.active.get(child_id)
            if child is not None and not child.completed:
                self._kill(child)
        self._complete(inv, KILLED)

    def purge(self, inv_id: str, now: int, facts: Facts = NO_FACTS) -> tuple[str, list[Effect]]:
        self._begin(now, facts)
        inv = self._find(inv_id)
        if inv is None:
            outcome = "not_found"
        elif not inv.completed:
            outcome = "not_completed"
        else:
            self._dirty.pop(inv.id, None)
            self._ops.append(ops.DeleteInvocation(inv.id))
            if inv.svc_ty == "workflow" and inv.handler_ty == "workflow" and inv.key is not None:
                self._ops.append(ops.ClearState(inv.service, inv.key, None))
                self._ops.append(ops.DeletePromises(inv.service, inv.key))
            self._effects.append(Evict(inv.id))
            outcome = "done"
        return outcome, self._end()

    def expire(self, rows: Iterable[tuple[str, str, str, str | None]], now: int) -> None:
        """Drop completed invocations past their retention: (id, service, handler, key) rows.

        A workflow's run takes its state and promises with it, so the key is free again."""
        for inv_id, service, handler, key in rows:
            if inv_id in self.active:
                continue
            self._ops.append(ops.DeleteInvocation(inv_id))
            svc = self.services.get(service)
            info = svc.handlers.get(handler) if svc is not None else None
            if svc is not None and svc.ty == "workflow" and info is not None and info.ty == "workflow":
                self._ops.append(ops.ClearState(service, key or "", None))
                self._ops.append(ops.DeletePromises(service, key or ""))


def _put(inv: Inv) -> ops.PutInvocation:
    return ops.PutInvocation(
        id=inv.id,
        service=inv.service,
        handler=inv.handler,
        key=inv.key,
        status=inv.status,
        idempotency_key=inv.idempotency_key,
        created_at=inv.created_at,
        modified_at=inv.modified_at,
        expires_at=inv.expires_at,
        data=inv.to_data(),
    )


def _timer_fields(t: TimerRow) -> tuple[str, int, str, str, int]:
    return (t.id, t.due_ms, t.invocation_id, t.kind, t.completion_id)
