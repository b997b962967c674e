"""User-facing errors (restate-sdk names), rooted in :mod:`durable.protocol.errors`.

``TerminalError`` ends an invocation (or a ``ctx.run``) for good: it becomes ``output{failure}``
and is never retried. Every other exception is a retryable attempt failure.
"""

from __future__ import annotations

from collections.abc import Mapping

from durable.protocol.errors import CODE_CANCELLED, DurableError


class TerminalError(DurableError):
    """A failure that must not be retried; ``status_code`` follows HTTP conventions."""

    name = "TERMINAL"

    def __init__(
        self, message: str, status_code: int = 500, metadata: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message, code=status_code)
        self.status_code = status_code
        self.metadata = dict(metadata) if metadata else None


class CancelledError(TerminalError):
    """Raised at the handler's next await after the invocation was cancelled (409)."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message, CODE_CANCELLED)


class TimeoutError(TerminalError):
    """A future did not complete within the time given to ``with_timeout`` / ``or_timeout``."""

    def __init__(self, message: str = "timeout") -> None:
        super().__init__(message, 408)


class AttemptEnded(BaseException):
    """Internal: the attempt cannot continue (journal mismatch, protocol violation, shutdown).

    A ``BaseException`` so that ``except Exception`` in handler code cannot swallow it."""


__all__ = ["AttemptEnded", "CancelledError", "TerminalError", "TimeoutError"]
