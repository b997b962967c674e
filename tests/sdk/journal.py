"""Helpers to write journals by hand for the core tests."""

from __future__ import annotations

from typing import Any

from durable.protocol.messages import Entry, InputCommand, StartMessage, Value


def start(length: int, *, key: str | None = "k", state: dict[str, Any] | None = None, **kw: Any) -> StartMessage:
    return StartMessage(
        invocation_id=kw.pop("invocation_id", "inv_1"),
        service=kw.pop("service", "S"),
        handler=kw.pop("handler", "h"),
        key=key,
        attempt_id=kw.pop("attempt_id", "a1"),
        journal_length=length,
        state=None if state is None else {k: {"value": v} for k, v in state.items()},
        **kw,
    )


def journal(*entries: Entry, parameter: Any = None) -> tuple[StartMessage, list[Entry]]:
    es: list[Entry] = [InputCommand(0, parameter=Value(parameter)), *entries]
    return start(len(es)), es


def fix_indices(entries: list[Entry]) -> list[Entry]:
    from dataclasses import replace

    return [replace(e, index=i) for i, e in enumerate(entries)]
