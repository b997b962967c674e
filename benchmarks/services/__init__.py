"""The bench services, once per SDK.

``reference_app`` and ``restate_app`` are the same workflow code; only the SDK import differs
(a unit test checks that). The side effects live in ``steps`` (no SDK import) so both apps call
exactly the same functions. Serve with ``hypercorn benchmarks.services.reference_app:app``.
"""
