"""The test-services contract on our SDK (``reference_sdk``, whose API mirrors restate-sdk).

Serve: ``hypercorn conformance.services.reference:app --bind 127.0.0.1:9080``.
``DURABLE_CONFORMANCE_PRIVATE=0`` leaves out the optional ingress-private ``PrivateService``;
``DURABLE_CONFORMANCE_STREAM_IDLE_S`` sets the SDK's bound on the wait for a next turn of a stream
(WIRE-STREAM-11, the SDK half passes it to SDK-109), ``DURABLE_CONFORMANCE_SESSION_IDLE_S`` its
bound on the age of a held session (WIRE-WARM-2, SDK-036); ``DURABLE_CONFORMANCE_PROTOCOL=request_response``
declares ``REQUEST_RESPONSE`` instead of ``BIDI_STREAM`` (DISC-MAN-2).
"""

from __future__ import annotations

import os

import reference_sdk as restate

from ..impl import build

_options: dict[str, object] = {}
if os.environ.get("DURABLE_CONFORMANCE_STREAM_IDLE_S"):  # WIRE-STREAM-11: a bound the SDK half knows
    _options["stream_idle_seconds"] = float(os.environ["DURABLE_CONFORMANCE_STREAM_IDLE_S"])
if os.environ.get("DURABLE_CONFORMANCE_SESSION_IDLE_S"):  # WIRE-WARM-2: an age bound the SDK half knows
    _options["session_idle_seconds"] = float(os.environ["DURABLE_CONFORMANCE_SESSION_IDLE_S"])
if os.environ.get("DURABLE_CONFORMANCE_PROTOCOL"):  # restate-sdk's option: bidi | request_response
    _options["protocol"] = os.environ["DURABLE_CONFORMANCE_PROTOCOL"]

app = restate.app(services=build(restate, private=os.environ.get("DURABLE_CONFORMANCE_PRIVATE", "1") not in ("0", "false")),
                  **_options)
