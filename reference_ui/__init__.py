"""The reference server's web UI: invocations, journals, state, deployments and services.

Why a separate package: the UI is a client of the admin HTTP API (spec/06-admin.md) and
nothing more, so it can be reviewed, tested and replaced apart from the server. It is a
static front end (``static/``: index.html, ES modules, one stylesheet) with no build step
and no network access beyond the origin that serves it, so it works offline and in CI.

Three ways to serve it, from the least to the most invasive:

- :func:`resolve` maps a request path to an :class:`Asset` (or ``None``), for a server that
  has its own request/response types (the admin app delegates unmatched ``GET`` requests);
- :func:`asgi_app` is an ASGI app serving only the UI;
- :func:`mount` wraps another ASGI app (the admin API): ``/`` and ``/ui/...`` go to the UI,
  everything else to the wrapped app.
"""

from __future__ import annotations

from .asgi import asgi_app, mount
from .assets import Asset, asset_names, resolve

__all__ = ["Asset", "asgi_app", "asset_names", "mount", "resolve"]
