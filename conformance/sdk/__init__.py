"""The SDK half of the kit: the kit plays the server and drives an SDK endpoint directly.

No server process is involved. Cases send hand-written journals (NDJSON over HTTP, spec/02)
to an endpoint serving the test-services contract (spec/08) and check the SDK's answers:
discovery, replay, new commands, journal mismatch (570), run proposals, suspension trees,
terminal vs retryable failures, and the schema validity of every frame the SDK writes.
"""
