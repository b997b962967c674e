"""The test-services contract on the real restate-sdk 1.2.0 (optional extra ``restate``).

Serve: ``hypercorn conformance.services.restate:app --bind 127.0.0.1:9080``.
"""

from __future__ import annotations

import restate

from ..impl import build

app = restate.app(services=build(restate))
