"""One error hierarchy with machine-readable codes (spec/07-errors.md).

Numeric codes follow Restate's where a Restate code exists (570 journal mismatch, 571 protocol
violation) so that operators recognise them; the symbolic ``name`` is what tests and the
conformance kit match on. ``Local*`` errors are raised when *we* detect that our own side broke
the rules; ``Remote*`` errors when the peer did (as in h11). A decoder always raises
:class:`ProtocolViolation`; the receiving shell re-raises it as remote.
"""

from __future__ import annotations


class DurableError(Exception):
    """Base of every error this project raises on purpose."""

    code: int = 500
    name: str = "INTERNAL"

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "name": self.name, "message": self.message}


class ProtocolViolation(DurableError):
    """A message or a sequence of messages breaks the wire protocol (WIRE-*)."""

    code = 571
    name = "PROTOCOL_VIOLATION"


class LocalProtocolViolation(ProtocolViolation):
    """We were about to send something invalid."""


class RemoteProtocolViolation(ProtocolViolation):
    """The peer sent something invalid."""


class JournalMismatch(DurableError):
    """Replay produced a command that differs from the journal (non-determinism, JRN-REPLAY-*)."""

    code = 570
    name = "JOURNAL_MISMATCH"

    def __init__(
        self,
        message: str,
        *,
        command_index: int,
        expected: dict[str, object] | None,
        actual: dict[str, object] | None,
    ) -> None:
        super().__init__(message)
        self.command_index = command_index
        self.expected = expected
        self.actual = actual


class UnsupportedVersion(DurableError):
    code = 415
    name = "UNSUPPORTED_PROTOCOL_VERSION"


class Suspended(DurableError):
    """Internal: the handler is waiting and the attempt ends with a suspension."""

    code = 599
    name = "SUSPENDED"


# Failure codes carried in ``failure.code`` that the spec gives a meaning to.
CODE_CANCELLED = 409
CODE_KILLED = 409
CODE_PROMISE_ALREADY_COMPLETED = 409
CODE_INTERNAL = 500
# The fixed messages that tell the three 409 failures apart (spec/07-errors.md).
MESSAGE_CANCELLED = "cancelled"
MESSAGE_KILLED = "killed"
MESSAGE_PROMISE_ALREADY_COMPLETED = "promise already completed"
CODE_JOURNAL_MISMATCH = 570
CODE_PROTOCOL_VIOLATION = 571

__all__ = [
    "CODE_CANCELLED",
    "CODE_INTERNAL",
    "CODE_JOURNAL_MISMATCH",
    "CODE_KILLED",
    "CODE_PROMISE_ALREADY_COMPLETED",
    "CODE_PROTOCOL_VIOLATION",
    "MESSAGE_CANCELLED",
    "MESSAGE_KILLED",
    "MESSAGE_PROMISE_ALREADY_COMPLETED",
    "DurableError",
    "JournalMismatch",
    "LocalProtocolViolation",
    "ProtocolViolation",
    "RemoteProtocolViolation",
    "Suspended",
    "UnsupportedVersion",
]
