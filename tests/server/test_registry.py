"""Manifest parsing: retention settings at handler and service level."""

from __future__ import annotations

from typing import Any

from reference_server.registry import parse_manifest


def manifest(service_extra: dict[str, Any], handler_extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 1,
        "maxProtocolVersion": 1,
        "services": [
            {
                "name": "Svc",
                "ty": "SERVICE",
                "handlers": [{"name": "h", "input": {"required": False}, "output": {}, **handler_extra}],
                **service_extra,
            }
        ],
    }


def retention(service_extra: dict[str, Any], handler_extra: dict[str, Any]) -> int | None:
    (svc,) = parse_manifest(manifest(service_extra, handler_extra), "dp_1")
    return svc.handlers["h"].retention_ms


def test_service_level_idempotency_retention_applies_to_its_handlers() -> None:
    assert retention({"idempotencyRetention": 5000}, {}) == 5000


def test_handler_level_retention_wins_even_when_zero() -> None:
    assert retention({"idempotencyRetention": 5000}, {"idempotencyRetention": 0}) == 0


def test_no_retention_setting_means_the_server_default() -> None:
    assert retention({}, {}) is None
