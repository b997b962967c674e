"""Server configuration (one frozen object handed to every part)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .core.model import RetryPolicy

DEFAULT_RETENTION_MS = 24 * 3600 * 1000
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path = Path(".durable")
    host: str = "127.0.0.1"
    ingress_port: int = 8080
    admin_port: int = 9070
    always_suspend: bool = False
    retention_ms: int = DEFAULT_RETENTION_MS
    #: how often expired results and idempotency entries are purged (an indexed query)
    retention_sweep_s: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_body_bytes: int = MAX_BODY_BYTES
    #: how long one attempt (one turn of an exchange with the SDK) may take (WIRE-HTTP-8)
    attempt_timeout_s: float = 600.0
    #: use the streaming mode with deployments that declare BIDI_STREAM (WIRE-STREAM-1);
    #: False: request/response mode with every deployment (WIRE-STREAM-2)
    streaming: bool = True
    db_file: str = "durable.sqlite3"
    #: a failed commit leaves memory ahead of the store: exit (the CLI) so that a restart
    #: recovers from the store, or (library use) refuse every request with 503
    exit_on_store_failure: bool = False
