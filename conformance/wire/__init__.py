"""Server wire conformance: the kit plays a scripted SDK deployment (``WIRE-S-*`` cases).

Each case starts its own :class:`~conformance.wire.sdk.ScriptedSdk` (an ASGI app served by
hypercorn on a loopback port bound at run time), registers it through the admin API
(``POST /deployments {"uri": ...}``), starts invocations through the ingress and scripts the
SDK's answer per attempt. It then asserts on what the server sent (request line, headers,
``start`` fields, the journal slice, retry counters and timing) and on how the server reacted
(stored journal, retries, terminal results, refused manifests). Every request body is also
checked against the framing rules and ``spec/schemas`` (``validate_frames``).

The cases need capability ``wire.durable_v1`` (a target that speaks another invocation protocol,
such as Restate, declares it in its profile's ``lacks`` and gets UNIMPLEMENTED), and a server
that can reach ``127.0.0.1`` of the machine running the kit. They register with the other
server cases (:func:`conformance.registry.all_cases`), so ``durable conformance run`` runs them in
both modes and ``--only 'WIRE-S-*'`` selects them.
"""

from . import cases, streaming  # noqa: F401
