"""The ``ctx.run`` retry policy, computed purely from what ``start`` tells us.

Run retries are SDK-side (architecture.md "Failures"): the server reports how many attempts
failed and how long ago the last entry was stored; the SDK decides whether to ask for another
attempt (and after how long) or to give up with a terminal failure for that run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunRetryPolicy:
    max_attempts: int | None = None
    max_duration_ms: int | None = None
    initial_interval_ms: int | None = None
    max_interval_ms: int | None = None
    factor: float | None = None

    def sets_interval(self) -> bool:
        """Whether the policy says how long to wait (else the server's backoff applies)."""
        return any(v is not None for v in (self.initial_interval_ms, self.max_interval_ms, self.factor))


@dataclass(frozen=True, slots=True)
class RetryAgain:
    """Fail this attempt; ``delay_ms`` None means "use the server's invocation retry policy"."""

    delay_ms: int | None


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The policy is exhausted: propose a terminal failure for the run."""

    attempts: int


DEFAULT_INITIAL_INTERVAL_MS = 50
DEFAULT_FACTOR = 2.0
DEFAULT_MAX_INTERVAL_MS = 10_000


def decide(
    policy: RunRetryPolicy, *, retry_count: int, retry_duration_ms: int, elapsed_ms: int
) -> RetryAgain | GiveUp:
    """What to do after the closure failed in attempt number ``retry_count + 1``."""
    attempts = retry_count + 1
    if policy.max_attempts is not None and attempts >= policy.max_attempts:
        return GiveUp(attempts)
    if policy.max_duration_ms is not None and retry_duration_ms + elapsed_ms >= policy.max_duration_ms:
        return GiveUp(attempts)
    if not policy.sets_interval():
        return RetryAgain(None)
    initial = policy.initial_interval_ms if policy.initial_interval_ms is not None else DEFAULT_INITIAL_INTERVAL_MS
    factor = policy.factor if policy.factor is not None else DEFAULT_FACTOR
    cap = policy.max_interval_ms if policy.max_interval_ms is not None else DEFAULT_MAX_INTERVAL_MS
    delay = min(float(cap), initial * factor ** min(retry_count, 64))
    return RetryAgain(max(0, int(delay)))
