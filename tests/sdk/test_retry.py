"""The SDK-side ``ctx.run`` retry policy (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reference_sdk._core import GiveUp, RetryAgain, RunRetryPolicy, decide


def test_default_policy_defers_to_the_server() -> None:
    assert decide(RunRetryPolicy(), retry_count=50, retry_duration_ms=10**9, elapsed_ms=0) == RetryAgain(None)


def test_max_attempts_counts_this_attempt() -> None:
    p = RunRetryPolicy(max_attempts=3)
    assert decide(p, retry_count=0, retry_duration_ms=0, elapsed_ms=0) == RetryAgain(None)
    assert decide(p, retry_count=1, retry_duration_ms=0, elapsed_ms=0) == RetryAgain(None)
    assert decide(p, retry_count=2, retry_duration_ms=0, elapsed_ms=0) == GiveUp(3)


def test_any_interval_field_makes_the_sdk_choose_the_delay() -> None:
    p = RunRetryPolicy(max_attempts=3, factor=2.0)
    assert decide(p, retry_count=0, retry_duration_ms=0, elapsed_ms=0) == RetryAgain(50)
    assert decide(p, retry_count=1, retry_duration_ms=0, elapsed_ms=0) == RetryAgain(100)


def test_max_duration_includes_time_already_spent() -> None:
    p = RunRetryPolicy(max_duration_ms=1000)
    assert isinstance(decide(p, retry_count=1, retry_duration_ms=500, elapsed_ms=100), RetryAgain)
    assert decide(p, retry_count=1, retry_duration_ms=900, elapsed_ms=100) == GiveUp(2)


def test_interval_grows_by_the_factor_up_to_the_cap() -> None:
    p = RunRetryPolicy(initial_interval_ms=100, factor=3, max_interval_ms=1000)
    delays = [decide(p, retry_count=n, retry_duration_ms=0, elapsed_ms=0) for n in range(4)]
    assert delays == [RetryAgain(100), RetryAgain(300), RetryAgain(900), RetryAgain(1000)]


@given(st.integers(0, 10_000), st.integers(1, 10))
def test_delays_never_exceed_the_cap_and_attempts_are_bounded(n: int, max_attempts: int) -> None:
    p = RunRetryPolicy(max_attempts=max_attempts, max_interval_ms=2000)
    d = decide(p, retry_count=n, retry_duration_ms=0, elapsed_ms=0)
    if n + 1 >= max_attempts:
        assert d == GiveUp(n + 1)
    else:
        assert isinstance(d, RetryAgain) and d.delay_ms is not None and 0 <= d.delay_ms <= 2000
