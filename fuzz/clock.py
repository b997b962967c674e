"""One clock and sequence counter shared by the ledger and the fault proxy.

Both run in the fuzzer's own process, so one monotonic clock orders a step's executions (ledger)
against the requests that were in flight (proxy). That shared order is what makes the
"never re-run after acknowledgement" check exact rather than a heuristic on counts.
"""

from __future__ import annotations

import itertools
import time


class Clock:
    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._seq = itertools.count(1)

    def now(self) -> float:
        """Seconds since the clock was created."""
        return time.monotonic() - self._t0

    def tick(self) -> tuple[int, float]:
        """A fresh sequence number and the current time."""
        return next(self._seq), self.now()
