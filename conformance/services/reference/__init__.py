"""The test-services contract on our SDK (``reference_sdk``, whose API mirrors restate-sdk).

Serve: ``hypercorn conformance.services.reference:app --bind 127.0.0.1:9080``.
"""

from __future__ import annotations

import reference_sdk as restate

from ..impl import build

app = restate.app(services=build(restate))
