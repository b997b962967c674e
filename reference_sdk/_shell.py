"""The asyncio shell around the pure :class:`~reference_sdk._core.Machine`: one session per attempt.

A session runs the user's handler as an asyncio task and drives it until the attempt can end:
the handler returned (``output`` + ``end``), failed (``error``), or is blocked on journal results
that only a later request can bring (``suspension``). Run closures execute here (sync ones in a
thread, so they never block the loop); their results are *proposed*, never shown to the handler
before the server has stored them. A suspended session may stay in memory for a warm resume.

When is the handler blocked? Every await on the journal registers a waiter, but the handler may
have other branches (``gather``, tasks it created) that have not reached their awaits yet, so
the session lets the event loop run until nothing of the handler moved for a few iterations
(on asyncio's own loop: until no callback is ready at all). That check does not have to wait
for the run closures: a closure finishing only adds its proposal, it cannot wake user code, so
the session probes while closures run and, when the last one finishes with no activity of the
handler since the probe, suspends at once (the probe is then off the turn's critical path).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from durable.protocol.errors import DurableError, JournalMismatch, ProtocolViolation
from durable.protocol.messages import (
    EndMessage,
    Entry,
    ErrorMessage,
    Failure,
    Message,
    RawValue,
    StartMessage,
    Value,
    Void,
)

from ._core import GiveUp, Machine, PollOutcome, RunRetryPolicy, decide
from ._core.awaits import AwaitTree, Leaf
from ._threads import run_sync
from .exceptions import AttemptEnded, CancelledError, TerminalError
from .serde import Serde, input_payload_to_object, to_payload
from .service import HandlerSpec

R = TypeVar("R")
#: loop iterations without any activity of the handler after which it counts as blocked
SETTLE_ITERATIONS = 8

log = logging.getLogger("reference_sdk")


class InputError(Exception):
    """The input could not be deserialised: an SDK-internal failure, retried (JRN-FAIL-4)."""


@dataclass(frozen=True, slots=True)
class InvocationInfo:
    invocation_id: str
    service: str
    handler: str
    key: str | None


_current: contextvars.ContextVar[InvocationInfo | None] = contextvars.ContextVar(
    "durable_current_invocation", default=None
)


def current_invocation() -> InvocationInfo | None:
    """The invocation whose handler (or run closure) is executing in this context, if any."""
    return _current.get()


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _status_code(exc: BaseException) -> int:
    code = getattr(exc, "status_code", 500)
    return code if isinstance(code, int) and 0 <= code <= 65535 else 500


@dataclass(slots=True)
class _Waiter:
    tree: AwaitTree
    future: asyncio.Future[None]


class Session:
    """One invocation being executed: the machine, the handler task and its run closures."""

    def __init__(
        self,
        spec: HandlerSpec,
        start: StartMessage,
        entries: list[Entry],
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.spec = spec
        self.machine = Machine(start, entries)
        self.attempt_id = start.attempt_id
        self.clock_ms = clock_ms
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[_Waiter] = []
        self.running: dict[int, asyncio.Task[None]] = {}
        self.run_failure: ErrorMessage | None = None
        self.handler_error: BaseException | None = None
        self.progress = asyncio.Event()
        self.last_used = time.monotonic()
        self._closed = False
        #: bumped by everything the handler does or is woken by (not by a closure finishing)
        self._activity = 0
        #: the value of ``_activity`` at which the handler was last seen blocked, settled
        self._quiet_at = -1

    # ------------------------------------------------------------------ machine access

    def guard(self, fn: Callable[[], R]) -> R:
        """Call into the machine; a fatal machine error ends the attempt (uncatchable by users)."""
        self._activity += 1
        try:
            return fn()
        except (JournalMismatch, ProtocolViolation) as exc:
            raise AttemptEnded(str(exc)) from exc
        except TerminalError:
            raise
        except DurableError as exc:
            raise AttemptEnded(str(exc)) from exc

    async def block(self, tree: AwaitTree) -> None:
        """Return once ``tree`` is resolved; raise :class:`CancelledError` on a cancel signal."""
        if self.machine.is_resolved(tree):
            return
        while True:
            outcome = self.guard(lambda: self.machine.poll(tree))
            self._wake_resolved()
            if outcome is PollOutcome.RESOLVED:
                return
            if outcome is PollOutcome.CANCELLED:
                children = self.machine.child_ids_pending()
                if children is not None:
                    await self.block(children)
                self.guard(self.machine.forward_cancel)
                raise CancelledError()
            waiter = _Waiter(tree, asyncio.get_running_loop().create_future())
            self.waiters.append(waiter)
            self._activity += 1
            self.progress.set()
            try:
                await waiter.future
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)

    # ------------------------------------------------------------------ run closures

    def start_run(
        self,
        leaf: Leaf,
        name: str | None,
        action: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        hint: Any,
        serde: Serde[Any] | None,
        policy: RunRetryPolicy,
    ) -> None:
        cid = leaf.id

        async def execute() -> None:
            started = self.clock_ms()
            result: Value | RawValue | Void | Failure
            try:
                if inspect.iscoroutinefunction(action):
                    value = await action(*args, **kwargs)
                else:
                    value = await run_sync(action, *args, **kwargs)
                    if inspect.isawaitable(value):
                        value = await value
                result = to_payload(value, hint, serde)
            except TerminalError as exc:
                result = Failure(exc.status_code, exc.message, exc.metadata)
            except Exception as exc:
                decision = decide(
                    policy,
                    retry_count=self.machine.start.retry_count,
                    retry_duration_ms=self.machine.start.retry_duration_ms,
                    elapsed_ms=max(0, self.clock_ms() - started),
                )
                if isinstance(decision, GiveUp):
                    result = Failure(_status_code(exc), str(exc))
                else:
                    if self.run_failure is None:
                        idx = self.machine.run_command_index(cid)
                        self.run_failure = ErrorMessage(
                            code=_status_code(exc),
                            message=str(exc) or type(exc).__name__,
                            stacktrace="".join(traceback.format_exception(exc)),
                            related_command_index=idx,
                            related_command_type="run",
                            related_command_name=name,
                            next_retry_delay_ms=decision.delay_ms,
                        )
                    return
            with contextlib.suppress(DurableError):
                self.machine.propose_run(cid, result)

        task = asyncio.get_running_loop().create_task(execute())
        self.running[cid] = task

        def done(_t: asyncio.Task[None]) -> None:
            self.running.pop(cid, None)
            self.progress.set()

        task.add_done_callback(done)

    # ------------------------------------------------------------------ the handler

    async def _main(self) -> None:
        from .context import make_context

        m = self.machine
        _current.set(InvocationInfo(m.invocation_id, self.spec.service_name, self.spec.name, m.key))
        ctx = make_context(self)
        spec = self.spec
        try:
            try:
                if spec.has_input:
                    try:
                        arg = input_payload_to_object(m.input.parameter, spec.input_hint, spec.input_serde)
                    except TerminalError as exc:
                        raise InputError(exc.message) from exc
                    out = spec.fn(ctx, arg)
                else:
                    out = spec.fn(ctx)
                if inspect.isawaitable(out):
                    out = await out
                payload = to_payload(out, spec.output_hint, spec.output_serde)
                self.guard(lambda: m.output(payload))
            except TerminalError as exc:
                failure = Failure(exc.status_code, exc.message, exc.metadata)
                self.guard(lambda: m.output(failure))
        except AttemptEnded:
            return
        except Exception as exc:
            self.handler_error = exc

    def _wake_resolved(self) -> bool:
        """Wake the waiters whose trees another waiter's delivery resolved; True if any."""
        woke = False
        for w in self.waiters:
            if not w.future.done() and self.machine.is_resolved(w.tree):
                w.future.set_result(None)
                woke = True
        if woke:
            self._activity += 1
        return woke

    def _terminal(self) -> Message | None:
        m = self.machine
        if isinstance(m.fatal, JournalMismatch):
            return m.mismatch_error(m.fatal)
        if m.fatal is not None:
            return ErrorMessage(code=m.fatal.code, message=m.fatal.message)
        if self.run_failure is not None:
            return self.run_failure
        if self.task is not None and self.task.done():
            if self.handler_error is not None:
                exc = self.handler_error
                return ErrorMessage(
                    code=500,
                    message=f"{type(exc).__name__}: {exc}",
                    stacktrace="".join(traceback.format_exception(exc)),
                )
            if m.finished:
                return EndMessage()
            return ErrorMessage(code=500, message="the handler ended without producing an output")
        return None

    async def drive(self) -> list[Message]:
        """Run until the attempt can end; returns the response body (commands ... terminator)."""
        self.last_used = time.monotonic()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._main(), context=contextvars.copy_context())
            self.task.add_done_callback(self._task_finished)
        while True:
            self.progress.clear()
            term = self._terminal()
            if term is not None:
                return self._finish(term)
            if self.waiters and self._quiet_at != self._activity:
                await self._settle()
                continue
            if self.waiters and not self.running:
                try:
                    suspension = self.machine.suspension([w.tree for w in self.waiters])
                except DurableError as exc:
                    return self._finish(self._terminal() or ErrorMessage(code=500, message=exc.message))
                return [*self.machine.take_messages(), suspension]
            await self.progress.wait()

    async def _settle(self) -> None:
        """Let the loop run until the handler stops moving (see the module docstring)."""
        mark = self._activity
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)  # asyncio's loop: the callbacks due this iteration
        for _ in range(SETTLE_ITERATIONS):
            await asyncio.sleep(0)
            if self._activity != mark or (ready is not None and not ready):
                break
        if self._activity == mark and not self._wake_resolved() and not self._closed:
            self._quiet_at = mark

    def _task_finished(self, _task: asyncio.Task[None]) -> None:
        self._activity += 1
        self.progress.set()

    def _finish(self, term: Message) -> list[Message]:
        if isinstance(term, ErrorMessage):
            log.warning(
                "%s/%s %s attempt %s failed (code %s): %s",
                self.spec.service_name, self.spec.name, self.machine.invocation_id, self.attempt_id,
                term.code, term.message,
            )
        out = [*self.machine.take_messages(), term]
        self.close()
        return out

    def resume(self, start: StartMessage, entries: list[Entry]) -> bool:
        """Warm resume with only the new notifications; False if our journal length differs."""
        if self._closed or not self.machine.resume(start, entries):
            return False
        self.attempt_id = start.attempt_id
        self.run_failure = None
        self._activity += 1
        for w in list(self.waiters):
            if not w.future.done():
                w.future.set_result(None)
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for t in list(self.running.values()):
            t.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # ------------------------------------------------------------------ context helpers

    def context_sleep(self, delta: Any) -> Any:
        from .context import sleep_future

        return sleep_future(self, delta, None)

    def context_cancel(self, invocation_id: str) -> None:
        from durable.protocol.messages import CANCEL_SIGNAL_ID

        self.guard(lambda: self.machine.send_signal(invocation_id, CANCEL_SIGNAL_ID))


__all__ = ["InvocationInfo", "Session", "current_invocation", "wall_clock_ms"]
