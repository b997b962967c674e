"""Hypothesis strategies that generate valid wire messages (spec/02-wire-protocol.md).

Usable by any test: ``from tests.spec.strategies import messages, message_of_type``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from durable.protocol import messages as m

MAX_ID = 2**32 - 1

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

names = st.text(min_size=1, max_size=16)
idents = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True)
invocation_ids = st.from_regex(r"inv_[0-9A-Za-z]{1,22}", fullmatch=True)
completion_ids = st.integers(min_value=1, max_value=MAX_ID)
signal_ids = st.integers(min_value=1, max_value=MAX_ID)
indices = st.integers(min_value=0, max_value=10**6)
epoch_ms = st.integers(min_value=0, max_value=2**48)
str_maps = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3)

values = json_values.map(m.Value)
raw_values = st.binary(max_size=32).map(m.RawValue)
voids = st.just(m.VOID)
failures = st.builds(
    m.Failure,
    code=st.integers(min_value=0, max_value=65535),
    message=st.text(max_size=30),
    metadata=st.none() | st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), min_size=1, max_size=3),
)
invocation_id_results = invocation_ids.map(m.InvocationIdResult)
payloads = values | raw_values | voids
non_void_payloads = values | raw_values


def _futures(depth: int) -> st.SearchStrategy[m.Future]:
    nested: st.SearchStrategy[tuple[m.Future, ...]] = (
        st.lists(_futures(depth - 1), max_size=2).map(tuple) if depth > 0 else st.just(())
    )
    node = st.builds(
        m.Future,
        combinator=st.sampled_from(m.COMBINATORS),
        completion_ids=st.lists(completion_ids, max_size=3).map(tuple),
        signal_ids=st.lists(signal_ids, max_size=2).map(tuple),
        nested=nested,
    )
    # every node of an await tree waits on something (JRN-SUSP-*)
    return node.filter(lambda f: bool(f.completion_ids or f.signal_ids or f.nested))


futures = _futures(2)

attach_targets = (
    st.fixed_dictionaries({"invocation_id": invocation_ids})
    | st.fixed_dictionaries({"workflow_name": idents, "workflow_key": st.text(max_size=8)})
    | st.fixed_dictionaries(
        {"service": idents, "handler": idents, "idempotency_key": names},
        optional={"key": st.text(max_size=8)},
    )
)


def _awakeable_ids() -> st.SearchStrategy[str]:
    def make(inv: str, sig: int) -> str:
        raw = json.dumps([inv, sig], separators=(",", ":")).encode()
        return "awk_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return st.builds(make, invocation_ids, st.integers(min_value=m.FIRST_USER_SIGNAL_ID, max_value=MAX_ID))


awakeable_ids = _awakeable_ids()
opt = st.none

_call_common: dict[str, st.SearchStrategy[Any]] = {
    "index": indices,
    "service": idents,
    "handler": idents,
    "key": opt() | st.text(max_size=8),
    "parameter": payloads,
    "headers": opt() | str_maps,
    "idempotency_key": opt() | names,
    "name": opt() | names,
}


def _start(
    invocation_id: str, journal_length: int, resume_from_frac: float, resume_attempt_id: str, **kw: Any
) -> m.StartMessage:
    resume_from = int(journal_length * resume_from_frac)
    return m.StartMessage(
        invocation_id=invocation_id,
        journal_length=journal_length,
        resume_from=resume_from,
        resume_attempt_id=resume_attempt_id if resume_from > 0 else None,
        **kw,
    )


STRATEGIES: dict[str, st.SearchStrategy[m.Message]] = {
    "input": st.builds(m.InputCommand, index=indices, parameter=payloads, headers=str_maps),
    "output": st.builds(m.OutputCommand, index=indices, result=payloads | failures),
    "get_state": st.builds(m.GetStateCommand, index=indices, key=st.text(max_size=8), result=payloads),
    "get_state_keys": st.builds(
        m.GetStateKeysCommand, index=indices, keys=st.lists(st.text(max_size=8), unique=True, max_size=4).map(tuple)
    ),
    "set_state": st.builds(m.SetStateCommand, index=indices, key=st.text(max_size=8), parameter=non_void_payloads),
    "clear_state": st.builds(m.ClearStateCommand, index=indices, key=st.text(max_size=8)),
    "clear_all_state": st.builds(m.ClearAllStateCommand, index=indices),
    "sleep": st.builds(
        m.SleepCommand, index=indices, completion_id=completion_ids, wake_up_time_ms=epoch_ms, name=opt() | names
    ),
    "run": st.builds(m.RunCommand, index=indices, completion_id=completion_ids, name=opt() | names),
    "call": st.builds(
        m.CallCommand, completion_id=completion_ids, invocation_id_completion_id=completion_ids, **_call_common
    ),
    "send": st.builds(
        m.SendCommand,
        invocation_id_completion_id=completion_ids,
        invoke_time_ms=opt() | epoch_ms,
        **_call_common,
    ),
    "get_promise": st.builds(m.GetPromiseCommand, index=indices, completion_id=completion_ids, key=names),
    "peek_promise": st.builds(m.PeekPromiseCommand, index=indices, completion_id=completion_ids, key=names),
    "complete_promise": st.builds(
        m.CompletePromiseCommand,
        index=indices,
        completion_id=completion_ids,
        key=names,
        result=non_void_payloads | failures,
    ),
    "complete_awakeable": st.builds(
        m.CompleteAwakeableCommand, index=indices, awakeable_id=awakeable_ids, result=non_void_payloads | failures
    ),
    "send_signal": st.builds(
        m.SendSignalCommand,
        index=indices,
        target_invocation_id=invocation_ids,
        signal_id=signal_ids,
        result=payloads | failures,
    ),
    "attach_invocation": st.builds(
        m.AttachInvocationCommand, index=indices, completion_id=completion_ids, target=attach_targets
    ),
    "get_invocation_output": st.builds(
        m.GetInvocationOutputCommand, index=indices, completion_id=completion_ids, target=attach_targets
    ),
    "completion": st.builds(
        m.CompletionNotification,
        index=indices,
        completion_id=completion_ids,
        result=payloads | failures | invocation_id_results,
    ),
    "signal": st.builds(m.SignalNotification, index=indices, signal_id=signal_ids, result=payloads | failures),
    "start": st.builds(
        _start,
        invocation_id=invocation_ids,
        journal_length=st.integers(min_value=1, max_value=10**6),
        resume_from_frac=st.floats(min_value=0, max_value=1),
        resume_attempt_id=names,
        service=idents,
        handler=idents,
        key=opt() | st.text(max_size=8),
        attempt_id=names,
        state=opt()
        | st.dictionaries(
            st.text(max_size=8),
            json_values.map(lambda v: {"value": v})
            | st.binary(max_size=8).map(lambda b: {"value_bytes": base64.b64encode(b).decode()}),
            max_size=3,
        ),
        random_seed=st.integers(min_value=0, max_value=2**64 - 1),
        retry_count=st.integers(min_value=0, max_value=10**6),
        retry_duration_ms=st.integers(min_value=0, max_value=10**9),
    ),
    "propose_run_completion": st.builds(
        m.ProposeRunCompletionMessage, completion_id=completion_ids, result=payloads | failures
    ),
    "suspension": st.builds(m.SuspensionMessage, awaiting=futures),
    "error": st.builds(
        m.ErrorMessage,
        code=st.integers(min_value=0, max_value=65535),
        message=st.text(max_size=30),
        stacktrace=opt() | st.text(max_size=30),
        related_command_index=opt() | indices,
        related_command_type=opt() | st.sampled_from(sorted(m.COMMAND_TYPES)),
        related_command_name=opt() | names,
        next_retry_delay_ms=opt() | st.integers(min_value=0, max_value=10**7),
    ),
    "end": st.just(m.EndMessage()),
    "resume_miss": st.just(m.ResumeMissMessage()),
}


def message_of_type(type_name: str) -> st.SearchStrategy[m.Message]:
    return STRATEGIES[type_name]


messages: st.SearchStrategy[m.Message] = st.one_of(*STRATEGIES.values())
