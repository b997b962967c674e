"""The test-services contract on our SDK (``reference_sdk``, whose API mirrors restate-sdk).

Serve: ``hypercorn conformance.services.reference:app --bind 127.0.0.1:9080``.
``DURABLE_CONFORMANCE_PRIVATE=0`` leaves out the optional ingress-private ``PrivateService``.
"""

from __future__ import annotations

import os

import reference_sdk as restate

from ..impl import build

app = restate.app(services=build(restate, private=os.environ.get("DURABLE_CONFORMANCE_PRIVATE", "1") not in ("0", "false")))
