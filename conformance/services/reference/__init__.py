"""The test-services contract on our SDK (``reference_sdk``, whose API mirrors restate-sdk).

Serve: ``hypercorn conformance.services.reference:app --bind 127.0.0.1:9080``.
"""

from __future__ import annotations

import reference_sdk as restate

from ..impl import build, env_flag

# PRIVATE: set DURABLE_CONFORMANCE_PRIVATE=1 to deploy PrivateService (ingress-private). Off by
# default while reference_sdk's manifest carries ``ingressPrivate`` at service level, which the
# reference server's manifest schema refuses (the whole registration then fails).
app = restate.app(services=build(restate, private=env_flag("DURABLE_CONFORMANCE_PRIVATE")))
