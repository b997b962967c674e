"""Reference Python SDK for the Durable Execution Protocol, API-compatible with restate-sdk 1.2.0.

Seed code written for ``restate`` runs with only its import changed
(``import reference_sdk as restate``). Layers, innermost first: ``_core`` (pure journal/replay
state machine), ``_shell`` (asyncio sessions, run closures), the user API (``context``,
``futures``, ``combinators``, ``service``, ``serde``) and the endpoint (ASGI, Lambda).
"""

from ._core.ids import decode_awakeable_id, encode_awakeable_id
from ._shell import InvocationInfo, current_invocation
from .aws_lambda import lambda_handler
from .combinators import (
    all_succeeded,
    as_completed,
    first_succeeded,
    gather,
    select,
    wait_completed,
)
from .context import (
    Context,
    DurablePromise,
    ObjectContext,
    ObjectSharedContext,
    Request,
    RunOptions,
    WorkflowContext,
    WorkflowSharedContext,
)
from .endpoint import App, LambdaEndpoint, app
from .exceptions import CancelledError, TerminalError, TimeoutError
from .futures import CallFuture, DurableFuture, SendHandle, SleepFuture
from .serde import DefaultSerde, Serde
from .service import InvocationRetryPolicy, Service, VirtualObject, Workflow

RestateDurableFuture = DurableFuture
RestateDurableCallFuture = CallFuture
RestateDurableSleepFuture = SleepFuture

__all__ = [
    "App",
    "CallFuture",
    "CancelledError",
    "Context",
    "DefaultSerde",
    "DurableFuture",
    "DurablePromise",
    "InvocationInfo",
    "InvocationRetryPolicy",
    "LambdaEndpoint",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RunOptions",
    "SendHandle",
    "Serde",
    "Service",
    "SleepFuture",
    "TerminalError",
    "TimeoutError",
    "VirtualObject",
    "Workflow",
    "WorkflowContext",
    "WorkflowSharedContext",
    "all_succeeded",
    "app",
    "as_completed",
    "current_invocation",
    "decode_awakeable_id",
    "encode_awakeable_id",
    "first_succeeded",
    "gather",
    "lambda_handler",
    "select",
    "wait_completed",
]
