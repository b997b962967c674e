"""NDJSON framing (spec WIRE-FRAME-*): one UTF-8 JSON object per line, ``\\n`` terminated.

Why NDJSON: both sides can parse incrementally (a 10 MB journal is not one giant document),
a stream of frames can later be carried by a bidirectional transport unchanged, and every
line is a self-contained JSON document that the JSON Schemas validate directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from .audit import audit_dir, record
from .errors import ProtocolViolation
from .messages import Message, decode_message

MAX_LINE_BYTES = 32 * 1024 * 1024


_NL = orjson.OPT_APPEND_NEWLINE


def encode_frames(messages: Iterable[Message]) -> bytes:
    return b"".join([orjson.dumps(m.to_json(), option=_NL) for m in messages])


def encode_frame(message: Message) -> bytes:
    return orjson.dumps(message.to_json(), option=_NL)


def iter_json_lines(body: bytes) -> Iterator[object]:
    """Yield each decoded JSON line; raises ProtocolViolation on a bad or unterminated line."""
    if not body:
        return
    if not body.endswith(b"\n"):
        raise ProtocolViolation("the last frame is not newline-terminated (truncated body?)")
    start = 0
    end = len(body)
    while start < end:
        nl = body.index(b"\n", start)
        line = body[start:nl]
        start = nl + 1
        if not line.strip():
            raise ProtocolViolation("empty frame")
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolViolation("frame exceeds the maximum size")
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ProtocolViolation(f"frame is not valid JSON: {exc}") from exc


def decode_frames(body: bytes) -> list[Message]:
    objects = list(iter_json_lines(body))
    directory = audit_dir()
    if directory is not None:
        record(objects, directory)
    return [decode_message(obj) for obj in objects]


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, take complete messages out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > MAX_LINE_BYTES:
                    raise ProtocolViolation("frame exceeds the maximum size")
                return out
            if nl > MAX_LINE_BYTES:
                raise ProtocolViolation("frame exceeds the maximum size")
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ProtocolViolation(f"frame is not valid JSON: {exc}") from exc
            directory = audit_dir()
            if directory is not None:
                record([obj], directory)
            out.append(decode_message(obj))

    def close(self) -> None:
        if self._buf:
            raise ProtocolViolation("the stream ended inside a frame (truncated body)")
