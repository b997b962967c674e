"""Pure statistics helpers: percentiles, latency summaries, ratios, a least-squares slope.

Kept free of IO so they are unit-tested directly. Percentiles use the "nearest rank on a
linear interpolation" definition (numpy's default, ``method="linear"``) so numbers are
comparable with what people compute by hand; an empty sample gives ``None`` rather than 0, so a
stack that completed nothing never looks infinitely fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["linear_fit", "percentile", "ratio", "summarize"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation; ``None`` when empty."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return ordered[lo]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(latencies_s: Sequence[float], wall_s: float) -> dict[str, float | int | None]:
    """Throughput and latency percentiles (milliseconds) of one measured batch."""
    n = len(latencies_s)

    def ms(q: float) -> float | None:
        p = percentile(latencies_s, q)
        return None if p is None else p * 1000.0

    return {
        "completed": n,
        "wall_s": wall_s,
        "throughput": (n / wall_s) if wall_s > 0 and n else None,
        "p50_ms": ms(50),
        "p90_ms": ms(90),
        "p99_ms": ms(99),
        "max_ms": ms(100),
        "mean_ms": (sum(latencies_s) / n * 1000.0) if n else None,
    }


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs``, or ``None`` when either side is missing or ``theirs`` is zero."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares ``(slope, intercept)`` of ``ys`` on ``xs``; ``None`` with < 2 distinct xs."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    n = len(xs)
    if n < 2:
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return slope, my - slope * mx
