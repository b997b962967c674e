"""Parse the ``delay`` query parameter: ISO 8601 durations (``PT5M``) and short forms
(``10s``, ``5m``, ``1h``, ``500ms``, ``1h30m``, ``2d``), as Restate's ingress accepts.
Years, months and weeks are refused: their length in milliseconds is ambiguous."""

from __future__ import annotations

import re

_ISO = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SHORT = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
MAX_DELAY_MS = 100 * 365 * 86_400_000


def parse_duration_ms(text: str) -> int:
    """Return the duration in milliseconds; raise ValueError on anything else."""
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    iso = _ISO.match(value.upper())
    if iso and value.upper() not in ("P", "PT") and not value.upper().endswith("T"):
        parts = iso.groupdict()
        total = 0.0
        for key, unit in (("d", "d"), ("h", "h"), ("m", "m"), ("s", "s")):
            if parts[key] is not None:
                total += float(parts[key]) * _UNIT_MS[unit]
        return _check(total)
    pos = 0
    total = 0.0
    for match in _SHORT.finditer(value):
        if match.start() != pos:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_MS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(value):
        raise ValueError(f"invalid duration {text!r}")
    return _check(total)


def _check(total: float) -> int:
    if total > MAX_DELAY_MS:
        raise ValueError("duration too large")
    return int(total)
