"""What the kit tests: URLs of a running implementation plus what it declares about itself.

A target is just data. How it was started (embedded reference stack, real Restate, or an
operator's own deployment) is the business of :mod:`conformance.stack`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import CAPABILITIES


@dataclass
class Target:
    name: str
    ingress: str
    admin: str
    services: str | None = None
    capabilities: frozenset[str] = field(default_factory=lambda: frozenset(CAPABILITIES))
    # Case id -> reason, for deliberate, documented differences (a profile).
    differences: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ingress = self.ingress.rstrip("/")
        self.admin = self.admin.rstrip("/")
        if self.services:
            self.services = self.services.rstrip("/")
