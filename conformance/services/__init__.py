"""Implementations of the test-services contract (spec/08-test-services.md).

``impl.build(sdk)`` defines every service against an SDK module with restate-sdk's API, so
the contract is written once: ``services.restate`` passes the real ``restate`` package and
``services.reference`` passes ``reference_sdk``. Serve either with hypercorn
(``hypercorn conformance.services.restate:app``).
"""
