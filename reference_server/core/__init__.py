"""The sans-IO invocation state machine: events in, store operations and effects out."""

from .engine import Engine
from .model import HandlerInfo, Inv, RetryPolicy, ServiceInfo

__all__ = ["Engine", "HandlerInfo", "Inv", "RetryPolicy", "ServiceInfo"]
