"""Deliberately broken reference servers, for tests of the fuzzer itself.

``python -m tests.fuzz.broken_server BUG <durable server options>`` starts the reference server
with one bug patched in:

* ``ack-before-durable``: a store commit is acknowledged at once and written 0.3 s later, so
  a crash loses writes that were already acknowledged (to the SDK, to clients);
* ``lose-timers``: timers are not reloaded on restart (a sleeping invocation never wakes);
* ``stale-responses``: every request is sent twice and the run proposals of the duplicate's
  answer are appended as completions too, so a step runs and completes a second time.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def ack_before_durable() -> None:
    from reference_server.store.sqlite import SqliteStore

    original = SqliteStore.commit

    def commit(self: Any, ops: list[Any]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()
        acked.set_result(None)
        loop.call_later(0.3, lambda: original(self, ops))
        return acked

    SqliteStore.commit = commit  # type: ignore[method-assign]


def lose_timers() -> None:
    from reference_server.store.sqlite import SqliteStore

    async def load_timers(self: Any) -> list[Any]:
        return []

    SqliteStore.load_timers = load_timers  # type: ignore[method-assign]


def stale_responses() -> None:
    from durable.protocol.messages import ProposeRunCompletionMessage
    from reference_server import runtime as rt
    from reference_server.core.effects import NO_FACTS
    from reference_server.core.entries import completion, result_of

    original = rt.Runtime._attempt

    async def _attempt(self: Any, effect: Any, *args: Any) -> None:
        await original(self, effect, *args)
        # the bug: the request goes out a second time (a "retrying" HTTP client), and the run
        # proposals of the duplicate's answer are appended as completions once more
        try:
            msgs = await self._exchange(effect)
        except Exception:
            return
        inv = self.engine.active.get(effect.start.invocation_id)
        proposals = [m for m in msgs if isinstance(m, ProposeRunCompletionMessage)]
        if inv is None or not proposals or not {m.completion_id for m in proposals} <= set(inv.cids):
            return
        self.engine._begin(rt.now_ms(), NO_FACTS)
        for m in proposals:
            self.engine._append(inv, completion(m.completion_id, result_of(m)))
        self.engine._touch(inv)
        await self._settle(self.engine._end())

    rt.Runtime._attempt = _attempt  # type: ignore[method-assign]


BUGS = {"ack-before-durable": ack_before_durable, "lose-timers": lose_timers,
        "stale-responses": stale_responses}

if __name__ == "__main__":
    BUGS[sys.argv[1]]()
    from durable.cli import app

    app(["server", *sys.argv[2:]])
