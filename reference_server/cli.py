"""``durable server`` and the admin-API client commands (invocations, deployments, ...)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the server commands to the top-level app."""
