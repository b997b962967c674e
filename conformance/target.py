"""What the kit tests: URLs of a running implementation plus what it declares about itself.

A target is just data. How it was started (embedded reference stack, real Restate, or an
operator's own deployment) is the business of :mod:`conformance.stack`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .model import CAPABILITIES


class ProcessControl(Protocol):
    """Crash injection for stacks the kit started itself (capability ``process.control``)."""

    async def kill_server(self) -> None: ...
    async def start_server(self) -> None: ...
    async def kill_services(self) -> None: ...
    async def start_services(self) -> None: ...
    async def add_deployment(self, tag: str) -> str: ...


@dataclass
class Target:
    name: str
    ingress: str
    admin: str
    services: str | None = None
    capabilities: frozenset[str] = field(default_factory=lambda: frozenset(CAPABILITIES))
    # Case id -> reason, for deliberate, documented differences (a profile).
    differences: dict[str, str] = field(default_factory=dict)
    control: ProcessControl | None = None
    # capability -> why the target lacks it (shown with UNIMPLEMENTED)
    lacks_reasons: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ingress = self.ingress.rstrip("/")
        self.admin = self.admin.rstrip("/")
        if self.services:
            self.services = self.services.rstrip("/")
        if self.control is not None:
            self.capabilities = self.capabilities | {"process.control"}
        else:
            self.capabilities = self.capabilities - {"process.control"}
