"""Sans-IO core of the SDK: the journal/replay state machine and its pure helpers.

Nothing here performs I/O, reads a clock or draws random numbers; the asyncio shell feeds
messages in and takes messages out, which keeps every replay rule testable synchronously.
"""

from .awaits import AwaitTree, Combine, Leaf
from .machine import CallHandles, Machine, PollOutcome
from .retry import GiveUp, RetryAgain, RunRetryPolicy, decide

__all__ = [
    "AwaitTree",
    "CallHandles",
    "Combine",
    "GiveUp",
    "Leaf",
    "Machine",
    "PollOutcome",
    "RetryAgain",
    "RunRetryPolicy",
    "decide",
]
