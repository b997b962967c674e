"""Awakeable ids (architecture.md): ``awk_`` + base64url-nopad(UTF-8 JSON ``[invocation_id, signal_id]``).

The JSON is compact (``["inv_x",17]``), so an id is a pure function of its two parts and the
server can route a completion to the right invocation and signal without any lookup.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from durable.protocol.errors import ProtocolViolation

AWAKEABLE_PREFIX = "awk_"


def encode_awakeable_id(invocation_id: str, signal_id: int) -> str:
    raw = orjson.dumps([invocation_id, signal_id])
    return AWAKEABLE_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_awakeable_id(awakeable_id: str) -> tuple[str, int]:
    if not awakeable_id.startswith(AWAKEABLE_PREFIX):
        raise ProtocolViolation(f"not an awakeable id: {awakeable_id!r}")
    body = awakeable_id[len(AWAKEABLE_PREFIX) :]
    try:
        parsed = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolViolation(f"malformed awakeable id: {awakeable_id!r}") from exc
    if (
        not isinstance(parsed, list)
        or len(parsed) != 2
        or not isinstance(parsed[0], str)
        or not isinstance(parsed[1], int)
        or isinstance(parsed[1], bool)
    ):
        raise ProtocolViolation(f"malformed awakeable id: {awakeable_id!r}")
    return parsed[0], parsed[1]
