"""Identifiers: invocation, attempt, deployment and awakeable ids.

Ids for workflows and idempotent requests are derived (SHA-256) from what identifies the
request, so a duplicate finds the original without a lookup table and a crash between
"accepted" and "stored" cannot produce two ids for one request. Everything else is random;
the randomness is passed in so the core stays deterministic under test.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable

import orjson

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

RandomBytes = Callable[[int], bytes]


def base62(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(reversed(out)) or "0"


def random_invocation_id(rand: RandomBytes = os.urandom) -> str:
    return "inv_" + base62(rand(16))


def _derived(*parts: str) -> str:
    digest = hashlib.sha256(b",".join(p.encode() for p in parts)).digest()
    return "inv_" + base62(digest[:16])


def workflow_invocation_id(name: str, key: str) -> str:
    return _derived("wf", name, key)


def idempotent_invocation_id(service: str, key: str | None, handler: str, idem: str) -> str:
    return _derived("ik", service, key or "", handler, idem)


def attempt_id(rand: RandomBytes = os.urandom) -> str:
    return "att_" + base62(rand(8))


def deployment_id(uri: str) -> str:
    return "dp_" + base62(hashlib.sha256(uri.encode()).digest()[:12])


def awakeable_id(invocation_id: str, signal_id: int) -> str:
    raw = orjson.dumps([invocation_id, signal_id])
    return "awk_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_awakeable_id(value: str) -> tuple[str, int] | None:
    """Return ``(invocation_id, signal_id)`` or None if ``value`` is not an awakeable id."""
    if not value.startswith("awk_"):
        return None
    body = value[4:]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if (
        isinstance(decoded, list)
        and len(decoded) == 2
        and isinstance(decoded[0], str)
        and decoded[0].startswith("inv_")
        and isinstance(decoded[1], int)
        and not isinstance(decoded[1], bool)
        and decoded[1] >= 17
    ):
        return decoded[0], decoded[1]
    return None


def valid_invocation_id(value: str) -> bool:
    return value.startswith("inv_") and 4 < len(value) <= 40 and all(
        c in _ALPHABET for c in value[4:]
    )
